"""Health commission stand-in: CSV batch files in an inbox, result CSVs in an outbox.

    python -m mock_departments.cities.health --port P --data-dir D [--city 320400]
        [--interval-s 0.5] [--mode ...]

A background thread scans `inbox/` every `interval_s`; each file gets one result row per data row
(a broken row gets an error row, never a crash), is then moved to `processed/`. The result is
written under a temporary name and renamed, so the adapter never reads half a file.
"""
from __future__ import annotations

import csv
import io
import os
import re
import sys
import threading
from pathlib import Path
from typing import Any

from flask import Flask

from hub.domain.idnumber import is_valid, mask, sex
from mock_departments.cities import serve
from mock_departments.cities.base import CityStandIn, json_response, local_now, make_app

REQUEST_HEADER = ("批次号", "事件编号", "姓名", "身份证号", "性别", "是否持证", "退休年月")
RESULT_HEADER = ("批次号", "事件编号", "身份证号", "结果", "原因代码", "原因说明", "处理时间")
OK, REFUSED, FAILED = "登记成功", "不予登记", "处理失败"
FILE_NAME = re.compile(r"^DSZN_(\d{6})_(\d{14})_([A-Za-z0-9-]{1,32})\.csv$")
SEXES = {"男": "male", "女": "female"}
HOLDS = {"是": True, "否": False}
_YYYYMM = re.compile(r"^\d{4}(0[1-9]|1[0-2])$")


class RowError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_row(row: list[str]) -> None:
    """RowError with the first problem of a data row."""
    if len(row) != len(REQUEST_HEADER):
        raise RowError("E101", f"列数不符（应为{len(REQUEST_HEADER)}列，实为{len(row)}列）")
    _, event_id, name, id_number, sex_zh, holds, month = (c.strip() for c in row)
    if not event_id:
        raise RowError("E107", "事件编号为空")
    if not name:
        raise RowError("E106", "姓名为空")
    if len(id_number) != 18 or not is_valid(id_number):
        raise RowError("E102", "身份证号无效")
    if sex_zh not in SEXES:
        raise RowError("E103", "性别无效（应为男/女）")
    if holds not in HOLDS:
        raise RowError("E104", "是否持证无效（应为是/否）")
    if not _YYYYMM.match(month):
        raise RowError("E105", "退休年月无效（应为YYYYMM）")
    if sex(id_number) != SEXES[sex_zh]:
        raise RowError("E108", "身份证号与性别不符")


def write_csv(path: Path, header: tuple[str, ...], rows: list[list[str]]) -> None:
    """UTF-8 with BOM, CRLF, written to a temporary name then renamed into place."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8-sig", newline="")
    os.replace(tmp, path)


class Commission(CityStandIn):
    system = "health"
    default_reason = ("E201", "系统维护，暂停登记")

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.inbox = self.data_dir / "inbox"
        self.processed = self.data_dir / "processed"
        self.outbox = self.data_dir / "outbox"
        for d in (self.inbox, self.processed, self.outbox):
            d.mkdir(parents=True, exist_ok=True)
        self.interval_s = float(config.get("interval_s", 0.5))
        self.files_done = 0
        self._batch_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if config.get("schedule", True):
            self._thread = threading.Thread(target=self._run, name="health-inbox", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.process_inbox()
            except Exception:  # the schedule must outlive any one bad scan
                self.log.exception("health: inbox scan failed")

    def process_inbox(self) -> list[Path]:
        """Process every complete file in the inbox now; the result files written."""
        done: list[Path] = []
        with self._batch_lock:
            if self.mode == "down":
                return done
            for path in sorted(self.inbox.glob("*.csv")):
                if self._stop.is_set() or self.mode == "down":
                    break
                self.pause_if_slow()
                done.append(self.process_file(path))
        return done

    def process_file(self, path: Path) -> Path:
        raw = path.read_bytes()
        self.journal(path=f"inbox/{path.name}", fmt="csv", content_type="text/csv",
                     event_id=None, body=raw.decode("utf-8", errors="replace"), file=path.name)
        rows = self._results(path.name, raw)
        out = self.outbox / f"{path.stem}_RESULT.csv"
        write_csv(out, RESULT_HEADER, rows)
        os.replace(path, self.processed / path.name)
        self.files_done += 1
        self.log.info("health: %s: %d rows, %d registered -> %s", path.name, len(rows),
                      sum(r[3] == OK for r in rows), out.name)
        return out

    def _results(self, name: str, raw: bytes) -> list[list[str]]:
        now = local_now()
        match = FILE_NAME.match(name)
        if match is None:
            return [["", "", "", REFUSED, "E100", "文件格式错误：文件名不符合规范", now]]
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            return [[match.group(3), "", "", REFUSED, "E100", "文件格式错误：无法按UTF-8解码", now]]
        lines = [r for r in csv.reader(io.StringIO(text, newline="")) if any(c.strip() for c in r)]
        if not lines or tuple(c.strip() for c in lines[0]) != REQUEST_HEADER:
            return [[match.group(3), "", "", REFUSED, "E100", "文件格式错误：表头不符", now]]
        return [self._row(match.group(1), row, now) for row in lines[1:]]

    def _row(self, file_city: str, row: list[str], now: str) -> list[str]:
        cells = [c.strip() for c in row] + [""] * len(REQUEST_HEADER)
        batch, event_id, id_number = cells[0], cells[1], cells[3]
        echo = [batch, event_id, id_number]
        if self.mode == "error":
            return echo + [FAILED, "E900", "系统内部错误，请重新报送", now]
        try:
            check_row(row)
        except RowError as exc:
            self.log.info("health: row %s (%s) refused: %s", event_id or "-", mask(id_number),
                          exc.code)
            return echo + [REFUSED, exc.code, str(exc), now]
        before = self.seen(event_id)
        if before is not None:
            return echo + list(before.answer) + [now]
        if file_city != self.city:
            return echo + [REFUSED, "E109", "文件名中的行政区划与本市不符", now]
        if self.mode == "refuse":
            code, message = self.refusal()
            return echo + [REFUSED, code, message, now]
        held = HOLDS[cells[5]]
        note = "已登记：持有独生子女父母光荣证" if held else "已登记：未持有独生子女父母光荣证"
        outcome = [OK, "00", note]
        self.remember(event_id, f"WJ{self.city}-{len(self.applied) + 1:06d}", "completed", outcome)
        self.log.info("health: row %s (%s) registered, holds %s", event_id, mask(id_number), held)
        return echo + outcome + [now]

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    commission = Commission(dict(config or {}))
    return make_app(
        "mock_departments.cities.health",
        commission,
        lambda: json_response({"error": "系统暂停服务"}, 503),
    )


def main(argv: list[str] | None = None) -> int:
    p = serve.parser("health", "Stand-in health commission (city level), CSV batch files")
    p.add_argument("--interval-s", type=float, default=None, help="inbox scan period")
    a = p.parse_args(argv)
    return serve.serve("health", a, serve.config_from(a, {"interval_s": a.interval_s}), create_app)


if __name__ == "__main__":
    sys.exit(main())
