"""Chain analysis: tolerant parsing, order, roots sent, path building to an anchor."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.chains import abusive_chain, linear_chain, pem, private_pki
from tests.tools import require_program
from vedette.pki import CertificateAuthority
from vedette.x509 import chain as chain_module
from vedette.x509.chain import (
    MAX_CANDIDATES,
    MAX_DEPTH,
    MAX_SIGNATURE_CHECKS,
    ChainEnd,
    analyse_chain,
    is_self_signed,
    signed_by,
)

STARTCOM = Path(__file__).parents[1] / "data" / "startcom-chain.pem"


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


@pytest.fixture(scope="module")
def pki() -> tuple[CertificateAuthority, CertificateAuthority, bytes]:
    root = CertificateAuthority.create_root("Chain Root")
    inter = root.issue_intermediate("Chain Intermediate")
    leaf = inter.issue_server(["mail.example.test"])
    return root, inter, der(leaf.cert)


@pytest.fixture(scope="module")
def startcom() -> tuple[bytes, bytes, bytes]:
    certs = x509.load_pem_x509_certificates(STARTCOM.read_bytes())
    leaf, inter, root = (der(c) for c in certs)
    return leaf, inter, root


def test_good_chain_reaches_anchor(pki):
    root, inter, leaf = pki
    a = analyse_chain((leaf, der(inter.cert)), (der(root.cert),))
    assert a.trusted
    assert a.anchor_der == der(root.cert)
    assert a.path_indexes == (0, 1, None)
    assert a.order_problems == ()
    assert a.roots_sent == ()
    assert a.missing_issuer is None
    assert a.unused == ()
    assert not a.leaf_self_signed
    assert len(a.sent_path) == 2


def test_missing_intermediate_names_the_issuer(pki):
    root, inter, leaf = pki
    a = analyse_chain((leaf,), (der(root.cert),))
    assert not a.trusted
    assert a.missing_issuer == inter.cert.subject
    assert a.path_indexes == (0,)


def test_wrong_order_still_builds(pki):
    root = pki[0]
    i2 = root.issue_intermediate("Upper", path_length=1)
    i3 = i2.issue_intermediate("Lower")
    leaf2 = der(i3.issue_server(["x.example.test"]).cert)
    a = analyse_chain((leaf2, der(i2.cert), der(i3.cert)), (der(root.cert),))
    assert a.trusted
    assert a.path_indexes == (0, 2, 1, None)
    assert len(a.order_problems) == 2
    assert "Upper" in a.order_problems[0]


def test_leaf_not_first(pki):
    root, inter, leaf = pki
    a = analyse_chain((der(inter.cert), leaf), (der(root.cert),))
    assert any("the first certificate is a CA" in p for p in a.order_problems)


def test_root_sent_is_reported_and_path_still_found(pki):
    root, inter, leaf = pki
    a = analyse_chain((leaf, der(inter.cert), der(root.cert)), (der(root.cert),))
    assert a.roots_sent == (2,)
    assert a.trusted
    assert a.order_problems == ()


def test_untrusted_root_sent(startcom):
    leaf, inter, root = startcom
    a = analyse_chain((leaf, inter, root), ())
    assert not a.trusted
    assert a.missing_issuer is None  # the path ends at a self-signed root, not a gap
    assert a.path_indexes == (0, 1, 2)
    assert a.roots_sent == (2,)


def test_sha1_chain_signatures_verify(startcom):
    # cryptography 50 refuses SHA-1 in verify_directly_issued_by; the fallback must not.
    leaf, inter, root = (x509.load_der_x509_certificate(d) for d in startcom)
    assert signed_by(leaf, inter)
    assert signed_by(inter, root)
    assert is_self_signed(root)
    assert not signed_by(leaf, root)
    assert not is_self_signed(leaf)


def test_startcom_trusted_with_its_root_as_anchor(startcom):
    leaf, inter, root = startcom
    a = analyse_chain((leaf, inter), (root,))
    assert a.trusted
    assert a.path_indexes == (0, 1, None)


def test_same_name_other_key_is_not_the_issuer(pki):
    # An impostor CA with the same name: the AKI/SKI and the signature tell them apart.
    root, inter, leaf = pki
    fake_root = CertificateAuthority.create_root("Chain Root")
    a = analyse_chain((leaf, der(inter.cert)), (der(fake_root.cert),))
    assert not a.trusted
    assert a.missing_issuer == root.cert.subject
    fake_inter = fake_root.issue_intermediate("Chain Intermediate")
    a = analyse_chain((leaf, der(fake_inter.cert)), (der(root.cert),))
    assert not a.trusted
    assert a.unused == (1,)
    assert a.order_problems  # #2 did not issue #1


def test_self_signed_leaf(pki):
    from vedette.pki import self_signed_server

    ss = der(self_signed_server(["gw.example.test"]).cert)
    a = analyse_chain((ss,), ())
    assert a.leaf_self_signed
    assert a.missing_issuer is None
    assert not a.trusted
    pinned = analyse_chain((ss,), (ss,))
    assert pinned.trusted
    assert pinned.path_indexes == (0,)


def test_garbage_is_reported_not_raised(pki):
    root, inter, leaf = pki
    a = analyse_chain((leaf, b"\x30\x03\x02\x01\x01", der(inter.cert), b""), (der(root.cert),))
    assert [s.index for s in a.unparseable] == [1, 3]
    assert all(s.error for s in a.unparseable)
    assert a.trusted
    assert a.path_indexes == (0, 2, None)
    garbage_leaf = analyse_chain((b"not a certificate",), (der(root.cert),))
    assert garbage_leaf.leaf is None
    assert garbage_leaf.path == ()


def test_empty_chain():
    a = analyse_chain((), ())
    assert a.leaf is None
    assert a.sent == ()


def test_depth_is_bounded_and_the_cut_is_called_too_long():
    ca = CertificateAuthority.create_root("Deep Root")
    cas = []
    for i in range(MAX_DEPTH + 2):
        ca = ca.issue_intermediate(f"Deep {i}", path_length=None)
        cas.append(ca)
    leaf = der(ca.issue_server(["deep.example.test"]).cert)
    chain = (leaf, *(der(c.cert) for c in reversed(cas)))
    a = analyse_chain(chain, (der(ca.root.cert),))
    assert not a.trusted
    assert len(a.path) == MAX_DEPTH
    # The issuer of the 8th certificate was sent: the chain is too long, nothing is missing.
    assert a.end is ChainEnd.TOO_LONG
    assert a.too_long


def test_longest_accepted_chain_still_builds():
    # Leaf, 6 intermediates, root: 8 certificates, what mozilla::pkix accepts at most.
    built = linear_chain(MAX_DEPTH - 2)
    a = analyse_chain(built.sent_der, (built.root_der,))
    assert a.end is ChainEnd.ANCHOR and len(a.path) == MAX_DEPTH
    one_more = linear_chain(MAX_DEPTH - 1)
    assert analyse_chain(one_more.sent_der, (one_more.root_der,)).end is ChainEnd.TOO_LONG


def _openssl_verify(tmp_path: Path, leaf: bytes, untrusted: bytes = b"", root: bytes = b"") -> str:
    """``openssl verify`` of ``leaf`` (PEM) with the given untrusted and trusted PEM bundles;
    its output (stdout and stderr), for the error code and depth it reports."""
    openssl = require_program("openssl")
    (tmp_path / "leaf.pem").write_bytes(leaf)
    args = [openssl, "verify"]
    if untrusted:
        (tmp_path / "untrusted.pem").write_bytes(untrusted)
        args += ["-untrusted", str(tmp_path / "untrusted.pem")]
    if root:
        (tmp_path / "root.pem").write_bytes(root)
        args += ["-CAfile", str(tmp_path / "root.pem")]
    else:
        args += ["-no-CApath", "-no-CAfile", "-no-CAstore"]
    args.append(str(tmp_path / "leaf.pem"))
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    return f"rc={proc.returncode}\n{proc.stdout}{proc.stderr}"


def test_private_root_not_given_is_an_unknown_root_as_openssl_says(tmp_path):
    p = private_pki()
    sent = (der(p.leaf), der(p.inter))
    a = analyse_chain(sent, ())
    assert a.end is ChainEnd.UNKNOWN_ROOT
    assert a.path_indexes == (0, 1)
    assert a.missing_issuer == p.root.subject
    # OpenSSL finds no issuer for the certificate at depth 1, the intermediate: the chain sent
    # is whole, and what is unknown is the root above it.
    out = _openssl_verify(tmp_path, pem(p.leaf), pem(p.inter))
    assert "rc=2" in out and "error 20 at 1 depth lookup" in out, out
    # Given the root, both agree the chain is good.
    assert analyse_chain(sent, (der(p.root),)).end is ChainEnd.ANCHOR
    assert _openssl_verify(tmp_path, pem(p.leaf), pem(p.inter), pem(p.root)).startswith("rc=0")


def test_leaf_alone_is_a_probably_missing_intermediate_as_openssl_says(tmp_path):
    p = private_pki()
    a = analyse_chain((der(p.leaf),), (der(p.root),))
    assert a.end is ChainEnd.MISSING_INTERMEDIATE
    assert a.missing_issuer == p.inter.subject and a.supplied_missing == ()
    out = _openssl_verify(tmp_path, pem(p.leaf), root=pem(p.root))
    assert "rc=2" in out and "error 20 at 0 depth lookup" in out, out


def test_supplied_certificates_name_what_is_missing_and_never_complete_the_chain():
    p = private_pki()
    # The intermediate is known (--intermediates / --fetch): it is named, the chain stays
    # incomplete (clients only have what the server sends).
    a = analyse_chain((der(p.leaf),), (der(p.root),), (der(p.inter), der(p.root)))
    assert not a.trusted and a.anchor_der is None
    assert a.end is ChainEnd.MISSING_INTERMEDIATE
    assert a.supplied_missing == (p.inter,)
    assert a.supplied_path == (p.inter,) and a.supplied_anchor_der == der(p.root)
    # The root is known but not trusted: the chain sent is whole, its root is unknown.
    b = analyse_chain((der(p.leaf), der(p.inter)), (), (der(p.root),))
    assert b.end is ChainEnd.UNKNOWN_ROOT
    assert b.supplied_path == (p.root,) and b.supplied_missing == ()
    # Leaf alone, intermediate and root supplied, nothing trusted: the intermediate is named
    # missing, and the root above it is there to say it is unknown.
    c = analyse_chain((der(p.leaf),), (), (der(p.root), der(p.inter)))
    assert c.end is ChainEnd.MISSING_INTERMEDIATE
    assert c.supplied_path == (p.inter, p.root) and c.supplied_missing == (p.inter,)
    # Unrelated supplied certificates change nothing.
    other = private_pki(name="Other Root")
    d = analyse_chain((der(p.leaf), der(p.inter)), (), (der(other.inter), der(other.root)))
    assert d.end is ChainEnd.UNKNOWN_ROOT and d.supplied_path == ()


def test_150_certificates_is_too_long_not_a_missing_issuer(tmp_path):
    built = linear_chain(150)
    a = analyse_chain(built.sent_der, (built.root_der,))
    assert a.end is ChainEnd.TOO_LONG
    # OpenSSL (default depth 100) also calls it too long, not an unknown issuer.
    out = _openssl_verify(tmp_path, pem(built.sent[0]), pem(*built.sent[1:]), pem(built.root))
    assert "rc=2" in out and "error 22" in out and "too long" in out, out


class _Counted:
    """``signed_by`` with a call counter: the signature verifications path building makes."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, child: x509.Certificate, issuer: x509.Certificate) -> bool:
        self.calls += 1
        return signed_by(child, issuer)


@pytest.mark.parametrize("per_level", [6, 8, 12])
def test_look_alike_certificates_are_bounded_and_called_abusive(monkeypatch, per_level):
    # Issue 10: 7 levels of look-alike CA certificates. k=6 took 83.6 s, k=8 never finished.
    built = abusive_chain(7, per_level)
    counted = _Counted()
    monkeypatch.setattr(chain_module, "signed_by", counted)
    started = time.monotonic()
    for anchors in ((built.root_der,), ()):
        a = analyse_chain(built.sent_der, anchors)
        assert a.end is ChainEnd.ABUSIVE
        assert a.abusive is not None and f"{per_level} different certificates" in a.abusive
    elapsed = time.monotonic() - started
    # Deterministic bound: the order check and self-signed test (one per certificate sent)
    # plus the search's budget, per analysis.
    assert counted.calls <= 2 * (2 * len(built.sent) + MAX_SIGNATURE_CHECKS), counted.calls
    assert elapsed < 20, elapsed  # hang detector only: about 0.05 s when quiet


def test_few_look_alikes_still_find_the_path():
    # Within the bounds (4 per level, 5 levels: 7 certificates on the path) the search finds
    # the path without trying every combination, and the list is not called abusive.
    built = abusive_chain(5, MAX_CANDIDATES)
    a = analyse_chain(built.sent_der, (built.root_der,))
    assert a.end is ChainEnd.ANCHOR and a.abusive is None
    # Without the root the dead ends are remembered: an unknown root, found cheaply.
    counted = _Counted()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(chain_module, "signed_by", counted)
        b = analyse_chain(built.sent_der, ())
    assert b.end is ChainEnd.UNKNOWN_ROOT
    assert counted.calls <= 2 * len(built.sent) + 5 * MAX_CANDIDATES * MAX_CANDIDATES


@pytest.fixture(scope="module")
def long_chain() -> tuple[bytes, tuple[bytes, ...], bytes]:
    root = CertificateAuthority.create_root("Shuffle Root")
    i1 = root.issue_intermediate("Shuffle 1", path_length=2)
    i2 = i1.issue_intermediate("Shuffle 2", path_length=1)
    i3 = i2.issue_intermediate("Shuffle 3")
    leaf = der(i3.issue_server(["s.example.test"]).cert)
    return leaf, (der(i3.cert), der(i2.cert), der(i1.cert)), der(root.cert)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_shuffled_intermediates_still_build(long_chain, data):
    leaf, inters, root = long_chain
    shuffled = data.draw(st.permutations(inters))
    with_root = data.draw(st.booleans())
    chain = (leaf, *shuffled, *((root,) if with_root else ()))
    a = analyse_chain(chain, (root,))
    assert a.trusted
    assert len(a.path) == 5
    assert (a.order_problems == ()) == (tuple(shuffled) == inters)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=4))
def test_random_bytes_never_raise(blobs):
    a = analyse_chain(tuple(blobs), ())
    assert len(a.sent) == len(blobs)


def test_ecdsa_sha1_signature_verifies():
    # cryptography gives no signature parameters for ecdsa-with-SHA1; the chain builder must
    # still see who signed it, or a SHA-1 leaf of an EC CA looks like a broken chain.
    root = CertificateAuthority.create_root("EC Root", key_spec="ec:p256")
    inter = root.issue_intermediate("EC Intermediate", key_spec="ec:p256")
    leaf = inter.issue_server(["mail.example.test"], hash_alg="sha1")
    assert leaf.cert.signature_hash_algorithm.name == "sha1"
    assert signed_by(leaf.cert, inter.cert)
    assert not signed_by(leaf.cert, root.cert)
    a = analyse_chain((der(leaf.cert), der(inter.cert)), (der(root.cert),))
    assert a.trusted
    assert a.order_problems == ()


@pytest.fixture(scope="module")
def look_alikes():
    built = abusive_chain(4, 6)
    return built.sent_der, built.root_der


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_any_list_of_look_alikes_stays_within_the_budget(look_alikes, data):
    # Whatever a server picks from a pool of look-alikes, in any order and with repeats, the
    # search ends within its budget and says what it found.
    sent, root = look_alikes
    picked = data.draw(st.lists(st.sampled_from(sent[1:]), max_size=30))
    chain = (sent[0], *picked)
    counted = _Counted()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(chain_module, "signed_by", counted)
        a = analyse_chain(chain, (root,) if data.draw(st.booleans()) else ())
    assert counted.calls <= 2 * len(chain) + MAX_SIGNATURE_CHECKS
    assert a.end in set(ChainEnd)
    assert a.path_indexes[0] == 0
