"""A member as the tests hold it: its id, private key and key id; and fresh case ids."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from hub.client import HubClient


@dataclass
class Member:
    id: str
    key: Any  # Ed25519 or SM2 private key
    keyid: str

    def client(self, base_url: str) -> HubClient:
        return HubClient(base_url, self.id, self.key, self.keyid)


def case_id() -> str:
    """A case id unique to the test that asks (nothing needs cleaning between tests)."""
    return f"RT320400-20261125-{uuid.uuid4().hex[:8]}"
