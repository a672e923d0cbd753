"""``vedette domain``: the mail domain as senders see it (issue 14).

The second-layer orchestration of ``vedette domain check``: MX discovery and the rules of
:mod:`vedette.mailauth`, the scan of every MX by the one engine (:mod:`vedette.scan`), and the
one view that ties the served chains to DANE and MTA-STS (:mod:`vedette.domain.view`).
Output: :mod:`vedette.domain.output` (terminal, and JSON with the schema ``vedette.domain/1``).
"""
