"""Sans-I/O client dialogues for mail protocols.

Each dialogue is a small state machine over bytes, in the style of h11: the caller feeds what
it read with ``receive_data()`` and asks ``next_action()`` what to do next. No socket, no clock,
no ``await`` lives here; ``vedette.probe`` moves the bytes and enforces timeouts.
"""

from vedette.protocols._base import (
    Action as Action,
)
from vedette.protocols._base import (
    Close as Close,
)
from vedette.protocols._base import (
    Dialogue as Dialogue,
)
from vedette.protocols._base import (
    LineBuffer as LineBuffer,
)
from vedette.protocols._base import (
    MailDialogue as MailDialogue,
)
from vedette.protocols._base import (
    NeedData as NeedData,
)
from vedette.protocols._base import (
    Send as Send,
)
from vedette.protocols._base import (
    StartTls as StartTls,
)
