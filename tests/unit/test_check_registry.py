"""One registry: every check module is listed, every check is documented, ids are stable."""

from __future__ import annotations

import pkgutil
import re
from pathlib import Path

import vedette.checks
from vedette.checks import CHECK_MODULES, load_checks
from vedette.model import Severity
from vedette.report.checks_doc import checks_markdown

# The ids the first release promised (issue 2); removing or renaming one breaks users' filters.
PROMISED = {
    "tls.plaintext-auth",
    "tls.none",
    "tls.handshake-failed",
    "tls.starttls-not-advertised",
    "tls.old-version",
    "cert.self-signed",
    "cert.expired",
    "cert.not-yet-valid",
    "cert.expiring-soon",
    "cert.name-mismatch",
    "cert.chain-incomplete",
    "cert.chain-order",
    "cert.chain-root-sent",
    "cert.weak-rsa-key",
    "cert.sha1-signature",
    "cert.missing-server-auth-eku",
    "cert.wrong-key-usage",
    "cert.validity-too-long",
    "cert.untrusted",
    "endpoint.unreachable",
    "endpoint.not-protocol",
    "endpoint.inconsistent",
    "endpoint.resolve-failed",
}


#: Modules of vedette.checks that register no check: the registry itself, and the client-matrix
#: adapter (a CheckContext and an observation in, trust.simulate's matrix out) that the checks
#: of vedette.checks.clients and the reports share.
SUPPORT_MODULES = {"registry", "matrix"}


def test_every_check_module_is_listed():
    package = Path(vedette.checks.__file__).parent
    modules = {
        f"vedette.checks.{m.name}"
        for m in pkgutil.iter_modules([str(package)])
        if m.name not in SUPPORT_MODULES
    }
    assert modules == set(CHECK_MODULES)


def test_every_listed_module_registers_a_check():
    checks = load_checks()
    by_module = {c.fn.__module__ if c.fn else c.group_fn.__module__ for c in checks}  # type: ignore[union-attr]
    assert by_module == set(CHECK_MODULES)


def test_ids_are_stable_and_documented():
    checks = load_checks()
    ids = {c.id for c in checks}
    assert ids >= PROMISED
    for c in checks:
        assert re.fullmatch(r"[a-z0-9]+\.[a-z0-9-]+", c.id), c.id
        assert c.title and c.explanation and c.remediation, c.id
        assert "\n" not in c.title
        assert isinstance(c.severity, Severity)


def test_docs_checks_md_is_current():
    doc = Path(__file__).parents[2] / "docs" / "checks.md"
    assert doc.read_text() == checks_markdown(load_checks()), (
        "docs/checks.md is stale: run `vedette checks --markdown > docs/checks.md`"
    )
