"""What a leaf says: canonical JSON bytes for an accepted event or a delivery outcome.

Leaves carry digests and identifiers, never the personal data of an event: the event's own
canonical bytes are committed to by their SHA-256, so a case can leave the hot tables (or be
archived encrypted) and its proofs still hold.
"""
from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

LEAF_VERSION = 1


def canonical(obj: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: the same JSON always gives the same bytes."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_leaf(*, seq: int, event_id: str, member: str, keyid: str | None,
               received_at: datetime, envelope: dict[str, Any]) -> dict[str, Any]:
    return {"v": LEAF_VERSION, "kind": "event", "seq": seq, "id": event_id, "member": member,
            "keyid": keyid, "received_at": iso(received_at),
            "event_sha256": sha256_hex(canonical(envelope))}


def attempt_entry(attempt_id: int, at: datetime, status: int | None) -> dict[str, Any]:
    return {"id": attempt_id, "at": iso(at), "status": status}


def delivery_leaf(*, delivery_id: int, event_seq: int, member: str, outcome: str, via: str,
                  at: datetime, attempts: list[dict[str, Any]], sent: dict[str, Any]
                  ) -> dict[str, Any]:
    """``outcome``: delivered, dead or replayed; ``sent``: the CloudEvent the member got."""
    return {"v": LEAF_VERSION, "kind": "delivery", "delivery": delivery_id,
            "event_seq": event_seq, "member": member, "outcome": outcome, "via": via,
            "at": iso(at), "attempts": attempts, "sent_sha256": sha256_hex(canonical(sent))}
