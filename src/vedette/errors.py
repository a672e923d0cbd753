"""vedette's exception tree.

Exceptions are for the edges: bad input from the user, and malformed bytes from a peer inside
the pure protocol code. A probe that fails is *data* (``model.Failure``), never an exception that
escapes the scan.

    VedetteError
    ├── UsageError            a bad argument or target; the CLI prints one line and exits 2
    ├── ProtocolError         a peer's bytes break the protocol (raised by sans-I/O code)
    │   ├── NotProtocolError  the very first reply is not the protocol expected at all
    │   └── ServiceUnavailableError  the server refuses service (SMTP 421/554, IMAP BYE, -ERR)
    ├── ResolveError          a name has no usable address
    ├── StoreError            the database cannot be opened, migrated or read
    └── PkiError              a key, certificate, CSR, PKCS#12 or CA directory cannot be used
"""

from __future__ import annotations


class VedetteError(Exception):
    """Base of every error vedette raises on purpose."""


class UsageError(VedetteError):
    """A wrong argument, target or option value."""


class ProtocolError(VedetteError):
    """The peer sent bytes that break the protocol being spoken.

    Attributes:
        too_large: the violation is a line or reply above vedette's size bound.
    """

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


class NotProtocolError(ProtocolError):
    """The first reply does not belong to the expected protocol (wrong service on the port)."""


class ResolveError(VedetteError):
    """Name resolution gave no address."""


class StoreError(VedetteError):
    """The result store cannot be used."""


class ServiceUnavailableError(ProtocolError):
    """The server answered in its protocol but refused service (SMTP 421/554 greeting, IMAP
    ``* BYE`` greeting, POP3 ``-ERR`` greeting): often a rate limit or a block list."""


class PkiError(VedetteError):
    """A key, certificate, CSR, PKCS#12 file or CA directory that cannot be used as asked
    (wrong passphrase, truncated or garbage file, key not matching the certificate, a CA
    directory edited by hand). The CLI prints one line and exits 2."""
