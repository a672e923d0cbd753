"""Chain analysis: tolerant parsing, order, roots sent, path building to an anchor."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given, settings
from hypothesis import strategies as st

from vedette.pki import CertificateAuthority
from vedette.x509.chain import MAX_DEPTH, analyse_chain, is_self_signed, signed_by

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


def test_depth_is_bounded():
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
    assert a.missing_issuer is not None


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
