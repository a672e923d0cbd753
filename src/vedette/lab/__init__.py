"""vedette's built-in lab: real IMAP, POP3 and SMTP servers on loopback, each built with one
TLS or authentication problem (or none), for ``vedette demo`` and the integration tests.

Layers, bottom up (``_`` modules are machinery, this module is the public surface):

* ``_channel`` — one asyncio protocol per connection: bounded, time-limited line reads, and a
  STARTTLS upgrade that drops buffered plaintext;
* ``_imap``, ``_pop3``, ``_smtp`` — the servers, with per-scenario policies for what is
  offered before TLS;
* ``_mailbox`` — the ``demo`` account and its three sample messages;
* ``_tls`` — certificates minted by :mod:`vedette.pki.ca` loaded into ``ssl`` contexts;
* ``scenarios`` — the table of scenarios and :class:`Lab`, which runs them all;
* ``_thread`` — :class:`LabThread`, the lab on a background event loop.

Run ``python -m vedette.lab`` to start it and try it with curl or a mail client.
"""

from vedette.lab._channel import LabLimits as LabLimits
from vedette.lab._mailbox import DEMO_PASSWORD as DEMO_PASSWORD
from vedette.lab._mailbox import DEMO_USER as DEMO_USER
from vedette.lab._smtp import ReceivedMessage as ReceivedMessage
from vedette.lab._thread import LabThread as LabThread
from vedette.lab.scenarios import LAB_HOST as LAB_HOST
from vedette.lab.scenarios import SCENARIOS as SCENARIOS
from vedette.lab.scenarios import Lab as Lab
from vedette.lab.scenarios import LabServer as LabServer
from vedette.lab.scenarios import Scenario as Scenario

__all__ = [
    "DEMO_PASSWORD",
    "DEMO_USER",
    "LAB_HOST",
    "SCENARIOS",
    "Lab",
    "LabLimits",
    "LabServer",
    "LabThread",
    "ReceivedMessage",
    "Scenario",
]
