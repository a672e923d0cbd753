"""DigiCert's ``pkilint`` as an optional second linter for ``vedette cert lint``.

pkilint (MIT, PyPI ``pkilint``; ``pip install 'vedette[pkilint]'``) decodes the certificate
with a strict DER parser (pyasn1-fasder) and checks it field by field against RFC 5280 and
the CA/Browser Forum TLS and S/MIME Baseline Requirements — far more rules than vedette's own,
which stay focused on what breaks mail clients. It is optional because it pins old versions
of some dependencies (``validators==0.22``) and is slow to import; when it is not installed,
``cert lint`` runs vedette's rules alone and says so.

Type selection follows pkilint's own ``--detect`` logic: ``determine_certificate_type`` for
TLS (by policy OIDs, EKUs, constraints), ``determine_validation_level_and_generation`` for
S/MIME, falling back to ``guess_validation_level_and_generation`` for an S/MIME certificate
without the CA/B policy OIDs (every private-CA one).
"""

from __future__ import annotations

import importlib.util
from typing import Any

__all__ = ["available", "run"]

_LEVELS = {"FATAL": "error", "ERROR": "error", "WARNING": "warning", "NOTICE": "notice"}


def available() -> bool:
    return importlib.util.find_spec("pkilint") is not None


def run(der: bytes, profile: str) -> list[tuple[str, str, str]]:
    """``(level, code, message)`` for each pkilint finding; INFO/DEBUG findings are dropped."""
    from pkilint import finding_filter, loader  # type: ignore[import-untyped,unused-ignore]
    from pkilint.cabf import serverauth, smime  # type: ignore[import-untyped,unused-ignore]
    from pkilint.pkix import certificate  # type: ignore[import-untyped,unused-ignore]

    doc: Any = loader.RFC5280CertificateDocumentLoader().load_der_document(der, "certificate")
    if profile == "server":
        ctype = serverauth.determine_certificate_type(doc)
        validator = certificate.create_pkix_certificate_validator_container(
            serverauth.create_decoding_validators(), serverauth.create_validators(ctype)
        )
        results = validator.validate(doc.root)
        results, _ = finding_filter.filter_results(
            serverauth.create_serverauth_finding_filters(ctype), results
        )
    elif profile == "smime":
        level_generation = smime.determine_validation_level_and_generation(doc)
        if level_generation is None:
            level_generation = smime.guess_validation_level_and_generation(doc)
        level, generation = level_generation
        validator = certificate.create_pkix_certificate_validator_container(
            smime.create_decoding_validators(),
            smime.create_subscriber_validators(level, generation),
        )
        results = validator.validate(doc.root)
    else:
        return []
    out: list[tuple[str, str, str]] = []
    for result in results:
        for description in result.finding_descriptions:
            severity = description.finding.severity.name
            if severity not in _LEVELS:
                continue
            message = description.message or ""
            where = str(result.node.path) if hasattr(result.node, "path") else ""
            text = f"{message} ({where})" if message and where else message or where
            out.append((_LEVELS[severity], str(description.finding.code), text))
    return out
