"""``cert lint``'s profile choice from the chain (``choose_profile``)."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes

from vedette.pki import CertificateAuthority
from vedette.pki.lint import choose_profile, lint_certificate

from .trust_helpers import leaf


def test_profile_from_the_chain():
    root = CertificateAuthority.create_root("Choice Root")
    inter = root.issue_intermediate("Choice Issuing")
    public = frozenset({root.cert.subject.rfc4514_string()})
    fingerprint = frozenset({root.cert.fingerprint(hashes.SHA256()).hex()})
    assert choose_profile([root.cert]).profile == "ca"
    assert choose_profile([inter.cert]).profile == "ca"
    tls = leaf(inter, sct=False)
    # A private root in the file, or given as --ca: internal.
    assert choose_profile([tls, inter.cert, root.cert]).profile == "internal"
    got = choose_profile([tls, inter.cert], private_roots=[root.cert])
    assert got.profile == "internal" and "--ca" in got.reason
    # The same chain when its root is public: server.
    assert choose_profile([tls, inter.cert], public_subjects=public).profile == "server"
    got = choose_profile([tls, inter.cert, root.cert], public_fingerprints=fingerprint)
    assert got.profile == "server"
    # No issuer at all: the SCTs decide.
    assert choose_profile([tls]).profile == "internal"
    assert choose_profile([leaf(inter, sct=True)]).profile == "server"


def test_ca_profile_accepts_vedette_cas_and_leaf_rules_do_not_apply():
    root = CertificateAuthority.create_root("Lint Root")
    for cert in (root.cert, root.issue_intermediate("Lint Issuing").cert):
        assert not [r for r in lint_certificate(cert, "ca") if r.level == "error"]
        assert "leaf-is-ca" in {r.rule for r in lint_certificate(cert, "internal")}
