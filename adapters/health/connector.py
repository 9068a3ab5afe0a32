"""The commission's file transport: a CSV batch into `inbox/`, result CSVs out of `outbox/`.

A request file is written as `<name>.csv.tmp`, flushed to disk and renamed, so the commission
never reads half a file. A result file is moved to the adapter's archive only after its rows are
durably applied (`collected`), so a crash in between re-reads it and the rows are duplicates.
"""
from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from adapters.base import CST, Answer, CityConnector, CityProblem, CityUnavailable, Forwarded
from adapters.health import convert
from adapters.issues import ConversionError, Issue
from adapters.routing import Route
from adapters.state import Request

log = logging.getLogger("adapter.health")
MAX_FILE_BYTES = 8 << 20  # a result row is ~120 bytes: far above any real batch


class HealthConnector(CityConnector):
    needs = ("inbox", "outbox")

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.archive_root = Path(options.get("data_dir", ".")) / "health-results"
        self._collected: dict[str, tuple[list[str], list[str]]] = {}

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
        """Every result file in the outbox, each on its own: a bad file never hides the others.

        Files are opened relative to the outbox, without following symlinks, and read only when
        they are regular files within the size cap; anything else is refused (an issue, kept
        locally) and moved aside. File names are data: never parsed as paths.
        """
        try:
            dir_fd = os.open(route.require("outbox"), os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return []
        answers: list[Answer] = []
        done: list[str] = []
        refused: list[str] = []
        cap = int(route.get("max_file_bytes") or self.options.get("max_file_bytes")
                  or MAX_FILE_BYTES)
        try:
            with os.scandir(dir_fd) as entries:
                names = sorted(e.name for e in entries if e.name.endswith(convert.RESULT_SUFFIX))
            for name in names:
                try:
                    data = _read_regular(dir_fd, name, cap)
                except _Refused as exc:
                    answers.append(CityProblem(Issue.of("batch_file_refused",
                                                        f"{name!r}: {exc}"),
                                               key=f"refused|{name}"))
                    refused.append(name)
                    continue
                except OSError as exc:  # being written or gone: read again next round
                    log.info("health: %s not read yet: %s", name, exc)
                    continue
                try:
                    answers.extend(convert.from_result_csv(data, name))
                except Exception as exc:  # noqa: BLE001 - one file's defect stays with it
                    answers.append(CityProblem(Issue.of("batch_file_invalid",
                                                        f"{name!r}: {type(exc).__name__}"),
                                               key=f"invalid|{name}"))
                done.append(name)
        finally:
            os.close(dir_fd)
        self._collected[route.city_code] = (done, refused)
        return answers

    def collected(self, route: Route) -> None:
        done, refused = self._collected.pop(route.city_code, ([], []))
        outbox = Path(route.require("outbox"))
        target = Path(route.get("archive") or self.archive_root / route.city_code)
        for names, folder in ((done, target), (refused, target / "refused")):
            if not names:
                continue
            folder.mkdir(parents=True, exist_ok=True)
            for name in names:
                try:  # a rename moves a symlink itself, never what it points to
                    os.replace(outbox / name, folder / name)
                except OSError:
                    pass  # read again next round; its rows are duplicates by then


class _Refused(Exception):
    """A result file that is not a regular file inside the outbox, or too large."""


def _read_regular(dir_fd: int, name: str, cap: int) -> bytes:
    if "/" in name or name in (".", ".."):
        raise _Refused("not a plain file name")
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _Refused("a symbolic link, not a regular file") from exc
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _Refused("not a regular file")
        if st.st_nlink > 1:
            raise _Refused("a hard link to a file elsewhere")
        if st.st_size > cap:
            raise _Refused(f"{st.st_size} bytes, above the cap of {cap}")
        chunks, size = [], 0
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            size += len(chunk)
            if size > cap:
                raise _Refused(f"grew above the cap of {cap} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
