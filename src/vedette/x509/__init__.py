"""Pure X.509 analysis: the chain as sent, path building, host name matching, validity limits.

No I/O here: the checks (``vedette.checks.certificate``) feed these functions the DER a server
sent and the trust anchors loaded by ``vedette.trust``.
"""

from vedette.x509.chain import ChainAnalysis as ChainAnalysis
from vedette.x509.chain import SentCert as SentCert
from vedette.x509.chain import analyse_chain as analyse_chain
from vedette.x509.chain import describe as describe
from vedette.x509.chain import is_ca as is_ca
from vedette.x509.chain import is_self_signed as is_self_signed
from vedette.x509.chain import load_der as load_der
from vedette.x509.chain import signed_by as signed_by
from vedette.x509.names import NameMatch as NameMatch
from vedette.x509.names import dns_name_matches as dns_name_matches
from vedette.x509.names import match_certificate as match_certificate
from vedette.x509.names import normalize_host as normalize_host
from vedette.x509.validity import ValidityLimit as ValidityLimit
from vedette.x509.validity import limit_at as limit_at
from vedette.x509.validity import max_validity_days as max_validity_days
from vedette.x509.validity import validity_period as validity_period
