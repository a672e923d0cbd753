"""The asyncio layer: it moves bytes between sockets and the sans-I/O dialogues, and enforces
every limit (connect and read deadlines, size bounds, concurrency). Nothing here interprets a
protocol; ``vedette.protocols`` does."""

from vedette.probe.limits import Limits as Limits
from vedette.probe.runner import probe_endpoint as probe_endpoint
