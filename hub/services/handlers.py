"""The one table of commands and the handlers that carry them out; ``bootstrap()`` binds it."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hub.services.ack import Ack, handle_ack
from hub.services.publish import Publish, handle_publish
from hub.services.receipts import ApplyReceipts, handle_apply_receipts

Handler = Callable[..., Any]  # handle_x(command, uow, deps)

HANDLERS: dict[type[Any], Handler] = {
    Publish: handle_publish,
    Ack: handle_ack,
    ApplyReceipts: handle_apply_receipts,
}
