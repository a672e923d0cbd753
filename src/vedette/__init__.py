"""vedette — a lookout for mail and unified-communications servers.

Layers, inside out (the project's design notes, ``../shared/DESIGN.md`` beside the repository;
the contract is ``tests/unit/test_layers.py``):

* ``protocols/`` sans-I/O mail dialogues (bytes in, actions out); ``model`` the frozen values.
* ``probe/`` the asyncio transport that drives the dialogues and enforces every limit.
* ``checks/`` pure rules over observations → findings, one registry; ``x509/`` and ``trust``
  beside them.
* ``store/`` (SQLite/PostgreSQL), ``report/`` (terminal, JSON), ``cli`` at the top; ``pki/`` the
  CA code; ``lab/`` the demo servers.

The public surface is what this module re-exports; everything else may change.
"""

from typing import TYPE_CHECKING

from vedette._version import __version__ as __version__

if TYPE_CHECKING:
    from vedette.model import Endpoint as Endpoint
    from vedette.model import Finding as Finding
    from vedette.model import Observation as Observation
    from vedette.model import ScanReport as ScanReport
    from vedette.model import Service as Service
    from vedette.model import Severity as Severity

#: Re-exported from ``vedette.model``, imported on first use (PEP 562) so that ``import
#: vedette`` (every command, ``vedette --version``) does not pay for the data model.
_LAZY = frozenset({"Endpoint", "Finding", "Observation", "ScanReport", "Service", "Severity"})


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from vedette import model

        return getattr(model, name)
    raise AttributeError(f"module 'vedette' has no attribute {name!r}")
