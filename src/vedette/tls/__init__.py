"""Sans-I/O TLS: records, hand-built ClientHellos, server-flight parsers, registries, and the
enumeration planner. Nothing here opens a socket or reads a clock; ``vedette.probe.enumerate``
moves the bytes.

Layers, bottom up: ``_wire`` (bounded cursor, ``TlsParseError``) ← ``registry`` (data) ←
``hello`` (ClientHello builders) and ``server`` (flight parser) ← ``plan`` (which hello next)
→ ``result`` (``TlsScan``, the frozen value an ``Observation`` carries).
"""

from vedette.tls._wire import TlsParseError as TlsParseError
from vedette.tls.result import ClientCertRequest as ClientCertRequest
from vedette.tls.result import TlsScan as TlsScan
from vedette.tls.result import VersionSuites as VersionSuites
