"""The message log through real processes: the demo's three cases, a case bundle checked by the
standalone verifier, then tampering straight in the database, named by `hub log verify` and
failing the bundle (its own stack, since this module edits the database)."""
from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hub.messagelog import offline
from mock_departments.demo import SCENARIOS
from mock_departments.launcher import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def closed_cases(e2e_stack: Stack) -> list[str]:
    ids = [e2e_stack.submit(person=sc.person, variant=sc.variant)["case_id"] for sc in SCENARIOS]
    for cid in ids:
        e2e_stack.wait_closed(cid, timeout=45)
    return ids


def standalone(tmp: Path) -> Path:
    """The verifier as an auditor would have it: one file, somewhere else."""
    path = tmp / "auditor" / "verify_bundle.py"
    path.parent.mkdir(exist_ok=True)
    shutil.copy(offline.__file__, path)
    return path


def check_offline(verifier: Path, bundle: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-I", str(verifier), str(bundle)], capture_output=True,
                          text=True, timeout=60, cwd=verifier.parent)


def rows(db: Path, sql: str, *args: Any) -> list[Any]:
    con = sqlite3.connect(db, timeout=30)
    try:
        with con:
            return con.execute(sql, args).fetchall()
    finally:
        con.close()


def test_bundle_verifies_offline_and_tampering_is_named(e2e_stack: Stack, closed_cases: list[str],
                                                        tmp_path: Path) -> None:
    cid = closed_cases[0]
    db = e2e_stack.workdir / "hub.db"
    verifier = standalone(tmp_path)
    good = tmp_path / "good.json"
    out = e2e_stack.hub_cli("log", "export-case", cid, "-o", str(good)).stdout
    assert "checkpoint" in out
    bundle = json.loads(good.read_text("utf-8"))
    assert {e["envelope"]["subject"] for e in bundle["events"]} == {cid}
    assert any(d["attempts"] for d in bundle["deliveries"])  # HRSS gets status pushes
    run = check_offline(verifier, good)
    assert run.returncode == 0 and "OK" in run.stdout, run.stdout + run.stderr
    assert e2e_stack.hub_cli("log", "verify-bundle", str(good), check=False).returncode == 0
    clean = e2e_stack.hub_cli("log", "verify", "--json", check=False)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert json.loads(clean.stdout)["ok"] is True

    # edit one stored event, delete one attempt row, insert a fake delivery
    seq, data = rows(db, "SELECT seq, data FROM events WHERE subject = ? AND source = 'hrss' "
                         "ORDER BY seq LIMIT 1", cid)[0]
    changed = json.loads(data)
    changed["city_code"] = "320500"
    rows(db, "UPDATE events SET data = ? WHERE seq = ?", json.dumps(changed), seq)
    aid, did = rows(db, "SELECT a.id, a.delivery_id FROM delivery_attempts a JOIN deliveries d "
                        "ON d.id = a.delivery_id JOIN events e ON e.seq = d.event_seq "
                        "WHERE e.subject = ? ORDER BY a.id LIMIT 1", cid)[0]
    rows(db, "DELETE FROM delivery_attempts WHERE id = ?", aid)
    rows(db, "INSERT INTO deliveries (event_seq, member_id, state, attempts, receipt_pending, "
             "created_at, delivered_at, delivered_by) VALUES (?, 'medical', 'delivered', 1, 0, "
             "'2026-11-25 02:00:00', '2026-11-25 02:00:01', 'push')", seq)
    fake = rows(db, "SELECT max(id) FROM deliveries")[0][0]

    res = e2e_stack.hub_cli("log", "verify", check=False)
    assert res.returncode == 1, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert any(ln.startswith(f"changed: event {seq} ") and "checkpoint" in ln
               for ln in lines), lines
    assert any(ln.startswith(f"removed: attempt {aid} of delivery {did} leaf ")
               for ln in lines), lines
    assert any(ln.startswith(f"inserted: delivery {fake} ") for ln in lines), lines

    bad = tmp_path / "tampered.json"
    e2e_stack.hub_cli("log", "export-case", cid, "-o", str(bad))
    run = check_offline(verifier, bad)
    assert run.returncode == 1, run.stdout
    assert f"FAIL event {seq} " in run.stdout
    assert f"FAIL attempt {aid} of delivery {did} " in run.stdout
    assert f"FAIL delivery {fake} " in run.stdout
