"""Keys, certificates and a small CA: what the demo lab mints and ``vedette ca`` builds on."""

from vedette.pki.ca import CertificateAuthority as CertificateAuthority
from vedette.pki.ca import Issued as Issued
from vedette.pki.ca import PrivateKey as PrivateKey
from vedette.pki.ca import new_key as new_key
from vedette.pki.ca import self_signed_server as self_signed_server
