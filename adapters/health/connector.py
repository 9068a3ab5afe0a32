"""The commission's file transport: a CSV batch into `inbox/`, result CSVs out of `outbox/`.

A request file is written as `<name>.csv.tmp`, flushed to disk and renamed, so the commission
never reads half a file. A result file is moved to the adapter's archive only after its rows are
durably applied (`collected`), so a crash in between re-reads it and the rows are duplicates.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from adapters.base import CST, Answer, CityConnector, CityUnavailable, Forwarded
from adapters.health import convert
from adapters.issues import ConversionError
from adapters.routing import Route
from adapters.state import Request


class HealthConnector(CityConnector):
    needs = ("inbox", "outbox")

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.archive_root = Path(options.get("data_dir", ".")) / "health-results"
        self._collected: dict[str, list[Path]] = {}

    def forward(self, route: Route, request: Request) -> Forwarded:
        outcome = self.forward_many(route, [request])[request.event_id]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def forward_many(self, route: Route,
                     requests: Sequence[Request]) -> dict[str, Forwarded | Exception]:
        inbox = Path(route.require("inbox"))
        if not inbox.is_dir():
            err = CityUnavailable(f"inbox {inbox} does not exist")
            return {r.event_id: err for r in requests}
        batch = "B" + hashlib.sha256("|".join(sorted(r.event_id for r in requests))
                                     .encode()).hexdigest()[:12].upper()
        out: dict[str, Forwarded | Exception] = {}
        rows = []
        for r in requests:
            try:
                rows.append(convert.to_row(r.payload or {}, r.event_id, batch))
            except ConversionError as exc:
                out[r.event_id] = exc
        if not rows:
            return out
        name = convert.file_name(route.city_code, batch, datetime.now(CST))
        tmp = inbox / (name + ".tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(convert.to_csv(rows))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, inbox / name)
        except OSError as exc:
            err = CityUnavailable(f"cannot write {name}: {exc}")
            return {**out, **{r.event_id: err for r in requests if r.event_id not in out}}
        stem = name[: -len(".csv")]
        for r in requests:
            out.setdefault(r.event_id, Forwarded(stem))
        return out

    def collect(self, route: Route, open_requests: Sequence[Request]) -> list[Answer]:
        outbox = Path(route.require("outbox"))
        if not outbox.is_dir():
            return []
        answers: list[Answer] = []
        files = sorted(p for p in outbox.iterdir()
                       if p.is_file() and p.name.endswith(convert.RESULT_SUFFIX))
        for p in files:
            try:
                data = p.read_bytes()
            except OSError:
                continue
            answers.extend(convert.from_result_csv(data, p.name))
        self._collected[route.city_code] = files
        return answers

    def collected(self, route: Route) -> None:
        target = Path(route.get("archive") or self.archive_root / route.city_code)
        target.mkdir(parents=True, exist_ok=True)
        for p in self._collected.pop(route.city_code, []):
            try:
                shutil.move(str(p), str(target / p.name))
            except OSError:
                pass  # read again next round; its rows are duplicates by then
