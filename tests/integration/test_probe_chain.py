"""The probe returns the whole chain exactly as sent, for TLS 1.2 and TLS 1.3.

Python 3.11's public ssl API gives only the leaf; vedette reads OpenSSL's peer chain (see
probe/transport.py). These tests pin that choice against a real TLS server on loopback.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from vedette.model import Endpoint, Service
from vedette.pki.ca import CertificateAuthority
from vedette.probe import probe_endpoint


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    root = CertificateAuthority.create_root("chain test root")
    inter = root.issue_intermediate("chain test intermediate")
    leaf = inter.issue_server(["chain.vedette.test"])
    d: Path = tmp_path_factory.mktemp("chain")
    (d / "full.pem").write_bytes(leaf.cert_pem() + inter.chain_pem())
    (d / "key.pem").write_bytes(leaf.key_pem())
    der = (leaf.cert.public_bytes(Encoding.DER), inter.cert.public_bytes(Encoding.DER))
    return d, der


async def _probe_against(ctx: ssl.SSLContext, sni_seen: list[str | None]) -> object:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.close()

    def on_sni(sslobj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        sni_seen.append(name)

    ctx.sni_callback = on_sni
    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        return await probe_endpoint(
            Endpoint(host="chain.vedette.test", ip="127.0.0.1", port=port, service=Service.HTTPS)
        )
    finally:
        server.close()


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_full_chain_in_order(pki, version):
    d, der = pki
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "full.pem", d / "key.pem")
    ctx.minimum_version = ctx.maximum_version = version
    sni: list[str | None] = []
    obs = asyncio.run(_probe_against(ctx, sni))
    assert obs.failure is None
    assert obs.tls.version == {"TLSv1_2": "TLSv1.2", "TLSv1_3": "TLSv1.3"}[version.name]
    assert obs.tls.chain_der == der  # leaf then intermediate, byte for byte
    assert obs.tls.sni == "chain.vedette.test"
    assert sni == ["chain.vedette.test"]


def test_bare_ip_sends_no_sni(pki):
    d, der = pki
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "full.pem", d / "key.pem")
    sni: list[str | None] = []

    async def run() -> object:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        ctx.sni_callback = lambda obj, name, c: sni.append(name)  # type: ignore[assignment,misc,return-value]
        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
        port = server.sockets[0].getsockname()[1]
        try:
            return await probe_endpoint(
                Endpoint(host=None, ip="127.0.0.1", port=port, service=Service.HTTPS)
            )
        finally:
            server.close()

    obs = asyncio.run(run())
    assert obs.tls.sni is None
    assert sni == [None]
    assert obs.tls.chain_der == der
