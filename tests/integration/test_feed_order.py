"""The feed's order on PostgreSQL: a row that commits late is never stepped over.

Two transactions are held open side by side on real connections, so the order in which rows
become visible differs from the order of their ids; the feed and the ack are called through
the service layer, exactly as the API calls them.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from hub.bootstrap import Hub
from hub.domain.errors import DomainError
from hub.services import deliveries, outbox
from hub.store.models import Delivery

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_hub(hub: Hub, make_member: Any) -> Hub:
    if hub.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite serialises writers, so id order is commit order")
    make_member("hrss", ["application_submitted"])
    make_member("health")
    return hub


@pytest.fixture
def held(pg_hub: Hub) -> Iterator[Session]:
    """A transaction the test holds open (rolled back if the test stops before committing)."""
    s = pg_hub.sessions()
    s.begin()
    try:
        yield s
    finally:
        s.close()


def _owe(hub: Hub, s: Any, label: str) -> str:
    """Store one event owed to health inside the caller's open transaction; its id."""
    env = {"specversion": "1.0", "id": f"{label}-{uuid.uuid4().hex[:8]}", "source": "hrss",
           "type": "test.order", "subject": f"case-{label}", "data": {"n": label}}
    ev = outbox.store_event(s, env, received_at=outbox.utcnow())
    outbox.add_deliveries(s, ev, ["health"], outbox.utcnow(), hub.snap().members)
    s.flush()
    return str(env["id"])


def _ids(page: dict[str, Any]) -> list[str]:
    return [i["event"]["id"] for i in page["items"]]


def _served(hub: Hub, after: int | None, limit: int) -> dict[str, Any]:
    """A feed page once it has something: a writing transaction of some other client of this
    PostgreSQL server may hold the horizon back for a moment (late, never skipped)."""
    deadline = time.monotonic() + 20
    while True:
        page = deliveries.feed(hub, "health", after, limit)
        if page["items"] or time.monotonic() > deadline:
            return page
        time.sleep(0.05)


def test_a_lower_id_committing_late_is_served_before_the_feed_moves_past_it(
        pg_hub: Hub, held: Session) -> None:
    hub, early = pg_hub, held
    first = _owe(hub, early, "early")               # the lower id, still in flight
    with hub.transaction() as s:
        second = _owe(hub, s, "late")               # a higher id, committed now
    # Nothing may be served while a lower row can still appear before it...
    page = deliveries.feed(hub, "health", None, 10)
    assert _ids(page) == [] and page["next_cursor"] == 0
    with hub.transaction() as s:
        top = max(s.scalars(select(Delivery.id)))
    with pytest.raises(DomainError) as err:        # ...nor acknowledged
        deliveries.ack(hub, "health", top)
    assert err.value.code == "cursor_ahead" and err.value.status == 409
    early.commit()
    page = _served(hub, None, 10)
    assert _ids(page) == [first, second]
    assert deliveries.ack(hub, "health", page["next_cursor"])["acknowledged"] == 2
    with hub.transaction() as s:
        assert set(s.scalars(select(Delivery.state))) == {"delivered"}


def test_order_follows_the_writing_transaction_and_a_cursor_resumes_after_its_row(
        pg_hub: Hub, held: Session) -> None:
    hub, older = pg_hub, held
    older.execute(text("SELECT pg_current_xact_id()"))  # this transaction writes first...
    with hub.transaction() as s:
        younger = _owe(hub, s, "younger")              # ...but this one inserts (lower id)
    elder = _owe(hub, older, "elder")                  # and commits before it
    assert deliveries.feed(hub, "health", None, 10)["items"] == []
    older.commit()
    page = _served(hub, None, 1)
    assert _ids(page) == [elder] and page["has_more"]
    # the cursor names the row served; the next page is what follows it in feed order
    rest = deliveries.feed(hub, "health", page["next_cursor"], 10)
    assert _ids(rest) == [younger]
    assert deliveries.ack(hub, "health", page["next_cursor"])["acknowledged"] == 1
    # without ``after`` the feed resumes from the acknowledged position
    assert _ids(deliveries.feed(hub, "health", None, 10)) == [younger]
    with hub.transaction() as s:
        states = dict(s.execute(select(Delivery.id, Delivery.state)).all())
    assert sorted(states.values()) == ["delivered", "pending"]
    assert states[max(states)] == "delivered"  # the higher id (elder) was served first


def test_an_old_numeric_cursor_keeps_its_meaning(pg_hub: Hub) -> None:
    """Rows stored before the feed had an order by transaction have feed_xid 0."""
    hub = pg_hub
    with hub.transaction() as s:
        old = [_owe(hub, s, f"old{i}") for i in range(3)]
    with hub.transaction() as s:
        s.execute(text("UPDATE deliveries SET feed_xid = 0"))
        old_ids = sorted(s.scalars(select(Delivery.id)))
    with hub.transaction() as s:
        new = _owe(hub, s, "new")
    assert _ids(_served(hub, old_ids[0], 10)) == old[1:] + [new]
    assert deliveries.ack(hub, "health", old_ids[1])["acknowledged"] == 2
    assert _ids(deliveries.feed(hub, "health", None, 10)) == [old[2], new]


def test_a_replay_serves_again_from_just_before_its_first_row(
        hub: Hub, make_member: Any) -> None:
    """Both engines: a pull member's replay moves its acknowledged position back in feed
    order, the feed serves the replayed rows again and their ack marks them once more."""
    from hub.services import operations

    make_member("hrss", ["application_submitted"])
    make_member("health")
    with hub.transaction() as s:
        ids = [_owe(hub, s, f"r{i}") for i in range(4)]
    page = _served(hub, None, 10)
    assert _ids(page) == ids
    assert deliveries.ack(hub, "health", page["next_cursor"])["acknowledged"] == 4
    assert _ids(deliveries.feed(hub, "health", None, 10)) == []
    with hub.transaction() as s:
        third = sorted(s.scalars(select(Delivery.id)))[2]
    assert operations.replay(hub, delivery_id=third)["replayed"] == 1
    again = deliveries.feed(hub, "health", None, 10)
    assert _ids(again) == ids[2:]  # from just before the replayed row
    assert deliveries.ack(hub, "health", again["next_cursor"])["acknowledged"] == 1
    with hub.transaction() as s:
        assert set(s.scalars(select(Delivery.state))) == {"delivered"}
