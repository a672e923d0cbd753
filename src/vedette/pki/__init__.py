"""Keys, certificates and CAs: what the demo lab mints and ``vedette key|cert|ca`` are made of.

Modules (pure unless noted):

    ca          the in-memory CA the lab uses (``CertificateAuthority``, ``Issued``, ``new_key``)
    keys        key generation, PKCS#8 (encrypted) serialisation, loading with clear errors
    passphrase  passphrase sources: file:, env:, fd:, prompt (never the command line)
    formats     read any file: PEM, DER, PKCS#7, PKCS#12 (RC2 too), base64, UTF-16
    convert     write PEM, DER, .p7b, PKCS#12 (modern or legacy SHA1-3DES)
    csr         requests from names or ``--like`` a certificate in service
    issue       certificates by profile (server, client, smime, ocsp) and CA certificates
    cadir       the on-disk CA: lock, index, crash-safe issuing, revocation, CRLs (I/O)
    bundle      ordering a leaf and candidate issuers into the chain a server sends
    lint        CA/B Forum, S/MIME and internal-CA rules (+ pkilint when installed)
    clients     key type and hash accepted by the client profiles in play
    fixes       the fix commands that certificate findings print
    fetch, aia  the network edges: a server's chain (the probe), caIssuers downloads (I/O)
"""

from vedette.pki._files import atomic_write as atomic_write
from vedette.pki._files import read_input as read_input
from vedette.pki.ca import CertificateAuthority as CertificateAuthority
from vedette.pki.ca import Issued as Issued
from vedette.pki.ca import PrivateKey as PrivateKey
from vedette.pki.ca import new_key as new_key
from vedette.pki.ca import self_signed_server as self_signed_server
