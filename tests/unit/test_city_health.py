"""The city health commission stand-in: CSV batch files, inbox to outbox."""
from __future__ import annotations

import csv
import io
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

import contracts
from mock_departments.cities.health import REQUEST_HEADER, RESULT_HEADER, create_app

BOM = b"\xef\xbb\xbf"
SEX = {"male": "男", "female": "女"}


def health_row(payload: dict[str, Any], batch: str, event_id: str) -> list[str]:
    """One CSV row an adapter writes, from an `only-child-certificate-request/1` payload."""
    person = payload["person"]
    return [batch, event_id, person["name"], person["id_number"], SEX[person["sex"]],
            "是" if payload["holds_certificate"] else "否",
            payload["retirement_month"].replace("-", "")]


def drop(inbox: Path, rows: list[list[str]], *, batch: str | None = None, city: str = "320400",
         header: tuple[str, ...] = REQUEST_HEADER, raw: bytes | None = None) -> str:
    """Write a request file the way an adapter must: `.tmp` first, then rename."""
    batch = batch or f"B{uuid.uuid4().hex[:8]}"
    name = f"DSZN_{city}_20260922103005_{batch}.csv"
    if raw is None:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(header)
        w.writerows(rows)
        raw = BOM + buf.getvalue().encode("utf-8")
    tmp = inbox / (name + ".tmp")
    tmp.write_bytes(raw)
    tmp.rename(inbox / name)
    return name


def read_result(outbox: Path, name: str) -> list[dict[str, str]]:
    raw = (outbox / name.replace(".csv", "_RESULT.csv")).read_bytes()
    assert raw.startswith(BOM), "result file must be UTF-8 with BOM"
    text = raw[len(BOM):].decode("utf-8")
    assert text.split("\r\n", 1)[0] == ",".join(RESULT_HEADER)
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.fixture
def payload() -> dict[str, Any]:
    return contracts.example("only-child-certificate-request")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    a = create_app({"data_dir": str(tmp_path / "health"), "city": "320400", "schedule": False})
    yield a
    a.extensions["city"].close()


@pytest.fixture
def dirs(tmp_path: Path, app: Flask) -> dict[str, Path]:
    base = tmp_path / "health"
    return {n: base / n for n in ("inbox", "processed", "outbox")}


def run(app: Flask) -> list[Path]:
    return app.extensions["city"].process_inbox()  # type: ignore[no-any-return]


def test_registers_a_row_and_writes_a_bom_result_with_chinese_headers(
        app: Flask, dirs: dict[str, Path], payload: dict[str, Any]) -> None:
    ev = str(uuid.uuid4())
    name = drop(dirs["inbox"], [health_row(payload, "B1", ev)], batch="B1")
    assert len(run(app)) == 1
    [row] = read_result(dirs["outbox"], name)
    assert row["批次号"] == "B1" and row["事件编号"] == ev
    assert row["身份证号"] == payload["person"]["id_number"]
    assert (row["结果"], row["原因代码"]) == ("登记成功", "00")
    assert row["原因说明"] == "已登记：持有独生子女父母光荣证" and row["处理时间"]
    assert not (dirs["inbox"] / name).exists() and (dirs["processed"] / name).exists()


def test_the_schedule_picks_files_up_by_itself(tmp_path: Path, payload: dict[str, Any]) -> None:
    app = create_app({"data_dir": str(tmp_path), "interval_s": 0.05})
    try:
        (tmp_path / "inbox" / "DSZN_320400_20260922103005_B9.csv.tmp").write_text("half")
        name = drop(tmp_path / "inbox", [health_row(payload, "B2", "ev-2")], batch="B2")
        deadline = time.monotonic() + 5
        while not (tmp_path / "outbox" / name.replace(".csv", "_RESULT.csv")).exists():
            assert time.monotonic() < deadline, "no result file"
            time.sleep(0.02)
        assert read_result(tmp_path / "outbox", name)[0]["结果"] == "登记成功"
        assert (tmp_path / "inbox" / "DSZN_320400_20260922103005_B9.csv.tmp").exists()
    finally:
        app.extensions["city"].close()


def test_broken_rows_get_error_rows_and_the_batch_goes_on(app: Flask, dirs: dict[str, Path],
                                                          payload: dict[str, Any]) -> None:
    good = health_row(payload, "B3", "ev-ok")
    rows = [
        good[:5],                                          # wrong column count
        [*good[:1], "ev-id", good[2], "320402196605150034", *good[4:]],   # bad check digit
        [*good[:1], "ev-sex", *good[2:4], "M", *good[5:]],
        [*good[:1], "ev-held", *good[2:5], "Y", good[6]],
        [*good[:1], "ev-month", *good[2:6], "2026-10"],
        [*good[:1], "ev-name", "", *good[3:]],
        [*good[:1], "", *good[2:]],
        [*good[:1], "ev-mismatch", *good[2:4], "女", *good[5:]],
        good,
    ]
    name = drop(dirs["inbox"], rows, batch="B3")
    run(app)
    result = read_result(dirs["outbox"], name)
    assert [(r["结果"], r["原因代码"]) for r in result] == [
        ("不予登记", "E101"), ("不予登记", "E102"), ("不予登记", "E103"), ("不予登记", "E104"),
        ("不予登记", "E105"), ("不予登记", "E106"), ("不予登记", "E107"), ("不予登记", "E108"),
        ("登记成功", "00")]
    assert "实为5列" in result[0]["原因说明"]
    assert result[1]["事件编号"] == "ev-id" and result[1]["身份证号"] == "320402196605150034"
    assert app.extensions["city"].applied.keys() == {"ev-ok"}


@pytest.mark.parametrize("raw,reason", [
    (BOM + "姓名,身份证号\r\n王示例,320402196605150033\r\n".encode(), "表头不符"),
    (BOM + b"\xff\xfe broken", "UTF-8"),
    (b"", "表头不符"),
])
def test_a_broken_file_gets_one_file_level_error(app: Flask, dirs: dict[str, Path],
                                                 raw: bytes, reason: str) -> None:
    name = drop(dirs["inbox"], [], raw=raw, batch="B4")
    run(app)
    [row] = read_result(dirs["outbox"], name)
    assert (row["结果"], row["原因代码"], row["事件编号"]) == ("不予登记", "E100", "")
    assert reason in row["原因说明"]
    assert (dirs["processed"] / name).exists()


def test_a_badly_named_file_and_another_city(app: Flask, dirs: dict[str, Path],
                                             payload: dict[str, Any]) -> None:
    (dirs["inbox"] / "results.csv").write_bytes(BOM + ",".join(REQUEST_HEADER).encode())
    other = drop(dirs["inbox"], [health_row(payload, "B5", "ev-5")], city="320200", batch="B5")
    run(app)
    assert read_result(dirs["outbox"], "results.csv")[0]["原因代码"] == "E100"
    assert read_result(dirs["outbox"], other)[0]["原因代码"] == "E109"


def test_a_file_without_bom_is_read_too(app: Flask, dirs: dict[str, Path],
                                        payload: dict[str, Any]) -> None:
    text = ",".join(REQUEST_HEADER) + "\n" + ",".join(health_row(payload, "B6", "ev-6")) + "\n"
    name = drop(dirs["inbox"], [], raw=text.encode(), batch="B6")
    run(app)
    assert read_result(dirs["outbox"], name)[0]["结果"] == "登记成功"


def test_dedupes_by_event_id_within_and_across_files(app: Flask, dirs: dict[str, Path],
                                                     payload: dict[str, Any]) -> None:
    row = health_row({**payload, "holds_certificate": False}, "B7", "ev-7")
    first = drop(dirs["inbox"], [row, row], batch="B7")
    run(app)
    again = drop(dirs["inbox"], [row], batch="B8")
    run(app)
    rows = read_result(dirs["outbox"], first) + read_result(dirs["outbox"], again)
    outcomes = {(r["结果"], r["原因说明"]) for r in rows}
    assert outcomes == {("登记成功", "已登记：未持有独生子女父母光荣证")}
    applied = app.test_client().get("/admin/applied").get_json()
    assert applied["count"] == 1 and applied["duplicates"] == 2


def test_refuse_mode_refuses_every_row_with_the_reason(app: Flask, dirs: dict[str, Path],
                                                       payload: dict[str, Any]) -> None:
    c = app.test_client()
    c.post("/admin/behaviour", json={"mode": "refuse",
                                     "reason": {"code": "E201", "message": "年度核查，暂停登记"}})
    name = drop(dirs["inbox"], [health_row(payload, "B9", "ev-9")], batch="B9")
    run(app)
    [row] = read_result(dirs["outbox"], name)
    outcome = (row["结果"], row["原因代码"], row["原因说明"])
    assert outcome == ("不予登记", "E201", "年度核查，暂停登记")


def test_error_mode_fails_rows_transiently_and_a_resend_registers(
        app: Flask, dirs: dict[str, Path], payload: dict[str, Any]) -> None:
    c = app.test_client()
    c.post("/admin/behaviour", json={"mode": "error"})
    row = health_row(payload, "B10", "ev-10")
    first = drop(dirs["inbox"], [row], batch="B10")
    run(app)
    assert read_result(dirs["outbox"], first)[0]["结果"] == "处理失败"
    assert read_result(dirs["outbox"], first)[0]["原因代码"] == "E900"
    c.post("/admin/behaviour", json={"mode": "accept"})
    again = drop(dirs["inbox"], [row], batch="B11")
    run(app)
    assert read_result(dirs["outbox"], again)[0]["结果"] == "登记成功"


def test_down_mode_leaves_the_inbox_alone_and_http_is_503(app: Flask, dirs: dict[str, Path],
                                                          payload: dict[str, Any]) -> None:
    c = app.test_client()
    c.post("/admin/behaviour", json={"mode": "down"})
    name = drop(dirs["inbox"], [health_row(payload, "B12", "ev-12")], batch="B12")
    assert run(app) == []
    assert (dirs["inbox"] / name).exists() and list(dirs["outbox"].iterdir()) == []
    assert c.get("/healthz").status_code == 503
    assert c.get("/admin/behaviour").get_json()["mode"] == "down"
    c.post("/admin/behaviour", json={"mode": "accept"})
    assert len(run(app)) == 1


def test_slow_mode_delays_each_file(app: Flask, dirs: dict[str, Path],
                                    payload: dict[str, Any]) -> None:
    app.test_client().post("/admin/behaviour", json={"mode": "slow", "delay_s": 0.2})
    drop(dirs["inbox"], [health_row(payload, "B13", "ev-13")], batch="B13")
    started = time.monotonic()
    run(app)
    assert time.monotonic() - started >= 0.2


def test_journal_keeps_the_file_as_received_and_logs_are_masked(
        app: Flask, dirs: dict[str, Path], payload: dict[str, Any],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    name = drop(dirs["inbox"], [health_row(payload, "B14", "ev-14")], batch="B14")
    raw = (dirs["inbox"] / name).read_bytes()
    run(app)
    [entry] = app.test_client().get("/admin/received").get_json()["received"]
    assert entry["body"] == raw.decode("utf-8") and entry["body"].startswith("\ufeff")
    assert entry["file"] == name and entry["format"] == "csv"
    assert payload["person"]["id_number"] not in caplog.text
