"""Turning freshly minted certificates into server ``ssl.SSLContext`` objects.

Python's ``ssl`` module loads certificates and keys only from files, so each pair goes through
a private directory made by :func:`tempfile.mkdtemp` (mode 0700, readable by this user only);
key files are created 0600 with ``O_EXCL`` (never through an existing file or symlink), and
both files are unlinked as soon as OpenSSL has read them. The directory itself is removed when
the lab stops.

The certificate file holds what the server will *send*: the leaf, then whatever chain the
scenario wants on the wire (the intermediate for a complete chain, nothing for the
"no intermediate" scenario). The server context has no trust store, so OpenSSL cannot quietly
complete a chain the scenario meant to leave incomplete.

SHA-1: OpenSSL 3's default security level (1, or 2 on Debian) refuses to *load* a certificate
signed with SHA-1 ("ca md too weak"), so the context of such a server is set to
``@SECLEVEL=0`` before loading. That widens the cipher list too, which is harmless here: the
finding the scenario demonstrates is the signature. Every lab context is pinned to TLS 1.2 and
1.3, so the lower security level cannot let older versions in.

TLS 1.0 only (the legacy-server scenario): minimum and maximum are TLS 1.0, and the ciphers
are ``DEFAULT:@SECLEVEL=0`` because OpenSSL 3 refuses TLS 1.0 at security level 1 and above
(its SHA-1 based handshake signatures are below that level).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import ssl
import tempfile
import warnings
from pathlib import Path


class TlsFiles:
    """A private directory for the lab's certificate and key files; remove with :meth:`cleanup`."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="vedette-lab-"))
        os.chmod(self.dir, 0o700)  # mkdtemp already does; be explicit about the requirement

    def write(self, name: str, data: bytes, *, secret: bool = False) -> Path:
        """Write ``data`` to a new file in the directory (0600 when ``secret``, else 0644)."""
        path = self.dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if secret else 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return path

    def server_context(
        self,
        name: str,
        chain_pem: bytes,
        key_pem: bytes,
        *,
        legacy: bool = False,
        tls10_only: bool = False,
    ) -> ssl.SSLContext:
        """A server context sending ``chain_pem`` (leaf first) with ``key_pem``; TLS 1.2 and
        1.3, or TLS 1.0 alone when ``tls10_only``."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if tls10_only:
            # Python deprecates TLS 1.0 (DeprecationWarning): serving it is the scenario's point.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = ssl.TLSVersion.TLSv1
                ctx.maximum_version = ssl.TLSVersion.TLSv1
            legacy = True
        else:
            # TLS 1.2 and 1.3 whatever the Python build's default: python.org builds raise the
            # floor to TLS 1.2 themselves, Debian's leave it to OpenSSL, and @SECLEVEL=0 below
            # would then let TLS 1.0/1.1 in (findings the scenario was not built with).
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if legacy:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        cert_path = self.write(f"{name}.crt", chain_pem)
        key_path = self.write(f"{name}.key", key_pem, secret=True)
        try:
            ctx.load_cert_chain(cert_path, key_path)
        finally:
            cert_path.unlink()
            key_path.unlink()
        return ctx

    def cleanup(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.dir)
