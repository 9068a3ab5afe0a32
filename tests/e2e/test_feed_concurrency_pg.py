"""The pull feed under concurrent publishing on PostgreSQL: nothing skipped, nothing marked
delivered unseen.

Eight publishers, each its own HTTP connection (so its own API thread and database connection),
send application batches at the same time to ``hub serve --workers 2`` while the health unit
pulls ``GET /v1/feed`` and acknowledges every page at once, as fast as it can. Delivery ids come
from a sequence at insert, so batches commit out of id order all the time; a feed that paged by
bare id stepped over rows that committed late, and its ack marked them delivered.

Proven afterwards, from the database and from what crossed the wire:

* every delivery the hub calls delivered to health was served to health;
* every event owed to health (one only-child-certificate request per application) was served at
  least once, and health was served nothing it was not owed;
* after the puller ran dry, every delivery to health is delivered (the acks covered them all).
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.e2e.procs import (
    HubDB,
    HubSetup,
    Procs,
    Publisher,
    Puller,
    application_events,
    assert_ledger,
    case_ids,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

PUBLISHERS = 8
APPLICATIONS = 400
BATCH = 5


def test_concurrent_publishers_fast_puller_nothing_skipped(pg_url: str, tmp_path: Path) -> None:
    t0 = time.monotonic()
    setup = HubSetup(tmp_path / "hub", pg_url)
    setup.init()
    db = HubDB(pg_url)
    with Procs(tmp_path / "logs", setup.env) as procs:
        http = procs.hub("hub-http", "serve", "--workers", "2", "--threads", "4")
        procs.wait_http(http, setup.url + "/healthz", timeout=60)
        hrss = setup.add_member("hrss", publish=("application_submitted",))
        health = setup.add_member("health")
        setup.wait_members_known()

        cases = case_ids(APPLICATIONS, "8")
        events = application_events(cases)
        batches = [events[i:i + BATCH] for i in range(0, len(events), BATCH)]
        shares = [batches[i::PUBLISHERS] for i in range(PUBLISHERS)]
        errors: list[BaseException] = []

        def publish(share: list[list[dict[str, object]]]) -> None:
            publisher = Publisher(setup.url, hrss)
            try:
                for batch in share:
                    publisher.publish_batch(batch)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
                errors.append(exc)

        puller = Puller(setup.url, health, limit=10)
        puller.start()
        threads = [threading.Thread(target=publish, args=(share,), daemon=True)
                   for share in shares]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors and not any(t.is_alive() for t in threads), errors
        publish_s = time.monotonic() - t0
        puller.drain(60, done=lambda: not db.scalar(
            "SELECT count(*) FROM deliveries WHERE member_id = 'health' "
            "AND state <> 'delivered'"))
        procs.check_alive("hub-http")

    served = set(puller.stats.served)
    owed = {e["id"] for e in events}  # application ids; health is owed a request per case
    request_subjects = {r[0] for r in db.rows(
        "SELECT e.subject FROM deliveries d JOIN events e ON e.seq = d.event_seq "
        "WHERE d.member_id = 'health'")}
    counts = assert_ledger(db, "health", served)
    states = {s: int(n) for s, n in db.rows(
        "SELECT state, count(*) FROM deliveries WHERE member_id = 'health' GROUP BY state")}
    db.close()
    assert len(owed) == APPLICATIONS and request_subjects == set(cases)
    assert counts["owed"] == APPLICATIONS and counts["received"] == APPLICATIONS, counts
    assert states == {"delivered": APPLICATIONS}, states
    assert puller.stats.statuses == {}, puller.stats.statuses
    print(f"[feed/postgres] {PUBLISHERS} publishers x {len(shares[0])} batches of {BATCH}; "
          f"puller {puller.stats.pages} pages, {puller.stats.acks} acks, served "
          f"{sum(puller.stats.served.values())} ({len(served)} distinct); ledger {counts}; "
          f"publish {publish_s:.1f}s, total {time.monotonic() - t0:.1f}s")
