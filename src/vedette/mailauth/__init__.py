"""The mail domain: SPF, DKIM, DMARC, MTA-STS, TLS-RPT, DANE, BIMI, CAA (issue 14).

Every module here reads DNS through one interface, :class:`vedette.mailauth.answers.Lookup`,
so that the same rules run over vedette's own resolver in a scan and over a fake in unit tests;
nothing here calls the system resolver. Findings are registered once in
:mod:`vedette.mailauth.registry` (stable ids ``domain.*``, a severity, a remediation).
"""
