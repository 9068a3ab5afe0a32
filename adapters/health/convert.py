"""Health commission: hub payload <-> batch CSV rows (UTF-8 with BOM, Chinese headers). Pure.

Request rows from `only-child-certificate-request/1`; result rows -> progress data, a broken row
-> a problem, a transient row failure -> a resend. See mock_departments/cities/INTERFACES.md §3.
"""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from typing import Any

from adapters.base import (
    Answer,
    CityProblem,
    CityProgress,
    Resend,
    dt_from_city,
    need,
    reason_code,
    ym_to_city,
)
from adapters.issues import ConversionError, Issue

REQUEST_HEADER = ["批次号", "事件编号", "姓名", "身份证号", "性别", "是否持证", "退休年月"]
RESULT_HEADER = ["批次号", "事件编号", "身份证号", "结果", "原因代码", "原因说明", "处理时间"]
SEX = {"male": "男", "female": "女"}
RESULT_SUFFIX = "_RESULT.csv"
_BATCH = re.compile(r"^[A-Za-z0-9-]{1,32}$")


def file_name(city_code: str, batch: str, when: datetime) -> str:
    """`DSZN_<city>_<YYYYMMDDHHMMSS>_<batch>.csv`."""
    if not _BATCH.match(batch):
        raise ValueError(f"bad batch number {batch!r}")
    return f"DSZN_{city_code}_{when.strftime('%Y%m%d%H%M%S')}_{batch}.csv"


def to_row(payload: dict[str, Any], event_id: str, batch: str) -> list[str]:
    """One request row, in `REQUEST_HEADER` order."""
    sex = need(payload, "person", "sex")
    held = need(payload, "holds_certificate")
    if sex not in SEX or not isinstance(held, bool):
        raise ConversionError(f"bad sex {sex!r} or holds_certificate {held!r}",
                              "payload_unconvertible")
    return [batch, event_id, str(need(payload, "person", "name")),
            str(need(payload, "person", "id_number")).upper(), SEX[sex], "是" if held else "否",
            ym_to_city(need(payload, "retirement_month"))]


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """A cell a spreadsheet would run as a formula, made text (OWASP CSV injection rule)."""
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def to_csv(rows: list[list[str]]) -> bytes:
    """A request file: UTF-8 with BOM, CRLF, the Chinese header row first; no formula cells."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(REQUEST_HEADER)
    w.writerows([neutralise(c) for c in row] for row in rows)
    return buf.getvalue().encode("utf-8-sig")


def stem_of_result(name: str) -> str:
    """`<stem>_RESULT.csv` -> `<stem>`: the request file (our city reference for the batch)."""
    return name[: -len(RESULT_SUFFIX)] if name.endswith(RESULT_SUFFIX) else name.rsplit(".", 1)[0]


def _problem(code: str, detail: str, *, event_id: str | None = None,
             reference: str | None = None, key: str = "") -> CityProblem:
    return CityProblem(Issue.of(code, detail), request_event_id=event_id or None,
                       city_reference=reference, key=key or detail)


def from_result_csv(data: bytes, name: str) -> list[Answer]:
    """Every row of a result file as an answer; a broken row never hides the others."""
    ref = stem_of_result(name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [_problem("batch_file_invalid", f"{name}: not UTF-8 ({exc.reason})",
                         reference=ref)]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        return [_problem("batch_file_invalid", f"{name}: {exc}", reference=ref)]
    if header is None or [h.strip() for h in header] != RESULT_HEADER:
        return [_problem("batch_file_invalid", f"{name}: unexpected header {header!r}",
                         reference=ref)]
    out: list[Answer] = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            out.append(_problem("batch_row_invalid", f"{name} line {reader.line_num}: {exc}",
                                key=f"{name}|{reader.line_num}"))
            continue
        if not any(cell.strip() for cell in row):
            continue
        out.append(from_result_row(row, name, reader.line_num))
    return out


def from_result_row(row: list[str], name: str, line: int) -> Answer:
    key = f"{name}|{line}"
    ref = stem_of_result(name)
    if len(row) != len(RESULT_HEADER):
        event_id = row[1].strip() if len(row) > 1 and _looks_like_id(row[1]) else None
        return _problem("batch_row_invalid", f"{name} line {line}: {len(row)} columns, "
                        f"expected {len(RESULT_HEADER)}", event_id=event_id, key=key,
                        reference=ref if event_id else None)
    _batch, event_id, _id_number, result, code, message, at = (c.strip() for c in row)
    if result == "不予登记" and code == "E100":  # the whole file was refused
        return _problem("batch_file_invalid", f"{name}: {code} {message}", reference=ref,
                        key=key)
    if not event_id:
        return _problem("batch_row_invalid", f"{name} line {line}: no 事件编号 ({code} "
                        f"{message})", key=key)
    try:
        when = dt_from_city(at)
    except ConversionError as exc:
        return _problem("batch_row_invalid", f"{name} line {line}: {exc.detail}",
                        event_id=event_id, key=key, reference=ref)
    if result == "登记成功" and code == "00":
        return CityProgress({"status": "completed", "occurred_at": when, "result": {
            "note_zh": (message or "已登记")[:500],
            "note_en": _note_en(message),
            "reference": ref[:64]}}, request_event_id=event_id, city_reference=ref)
    if result == "不予登记" and code:
        prefix = "health_refused" if code.startswith("E2") else "health_row_rejected"
        return CityProgress({"status": "failed", "occurred_at": when, "reason": {
            "code": reason_code(code, {}, prefix),
            "message_zh": (message or "卫健委不予登记")[:500],
            "message_en": f"The health commission did not record the row ({code})"}},
            request_event_id=event_id, city_reference=ref)
    if result == "处理失败":
        return Resend(event_id, f"{name} line {line}: {code} {message}", city_reference=ref)
    return _problem("batch_row_invalid", f"{name} line {line}: unknown result {result!r} "
                    f"code {code!r}", event_id=event_id, key=key, reference=ref)


def _note_en(message: str) -> str:
    if "未持有" in message:
        return "Recorded: certificate not held"
    return "Recorded: certificate held" if "持有" in message else "Recorded"


def _looks_like_id(value: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-fA-F-]{8,64}", value.strip()))
