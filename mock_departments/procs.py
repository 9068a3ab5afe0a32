"""The one process harness: the stand-in stack, the end-to-end tests and the benchmark start,
watch and stop their processes with it.

Each process runs in its own session (process group), so a stop or a kill reaches its
children too (gunicorn workers) and never anything this harness did not start. Output goes
to one appended log per name; `output()` is what this run of the name wrote.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Self

import requests


def free_port() -> int:
    """A port nobody listens on now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_pids(pid: int) -> list[int]:
    """The live children of ``pid`` (e.g. a gunicorn master's workers), from /proc."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry.name))
    return out


class ProcError(RuntimeError):
    """A process died or did not come up; the message carries the tail of its log."""


@dataclass
class Proc:
    name: str
    argv: list[str]
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]
    extra_env: dict[str, str] = field(default_factory=dict)
    log_offset: int = 0  # the log's size when this process started (logs are appended to)
    role: str = "other"  # a label for the caller (the benchmark samples "hub" processes)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        """What this process has written so far (not its predecessors under the same name)."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_offset)
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text("utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Procs:
    """Every process started through it, each in its own session."""

    log_dir: Path
    env: dict[str, str]
    cwd: Path | None = None
    procs: list[Proc] = field(default_factory=list)
    kills: list[tuple[float, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Self:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop_all()

    # ----- starting ------------------------------------------------------------------------
    def spawn(self, name: str, argv: list[str], extra_env: dict[str, str] | None = None, *,
              role: str = "other") -> Proc:
        env = dict(self.env, **(extra_env or {}))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        log_file = open(log_path, "ab")  # closed when the process is forgotten
        offset = log_file.tell()
        log_file.write(f"--- start {time.strftime('%H:%M:%S')} {' '.join(argv)}\n".encode())
        log_file.flush()
        popen = subprocess.Popen(argv, env=env, cwd=self.cwd, stdout=log_file,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
        p = Proc(name, argv, popen, log_path, log_file, dict(extra_env or {}), offset, role)
        with self.lock:
            self.procs.append(p)
        return p

    def restart(self, p: Proc) -> Proc:
        """The same command again (after a kill), under the same name and log."""
        self.stop(p)
        return self.spawn(p.name, p.argv, p.extra_env, role=p.role)

    # ----- watching ------------------------------------------------------------------------
    def proc(self, name: str) -> Proc:
        """The latest process started under ``name``."""
        return next(p for p in reversed(self.procs) if p.name == name)

    def check_alive(self, *names: str) -> None:
        for p in list(self.procs):
            if (not names or p.name in names) and not p.alive():
                raise ProcError(f"{p.name} exited with {p.popen.returncode}:\n{p.tail()}")

    def wait_http(self, p: Proc, url: str, timeout: float = 30.0, *,
                  all_alive: bool = False) -> None:
        """Until ``url`` answers 200; a death of ``p`` (or of any, with ``all_alive``) ends it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all_alive:
                self.check_alive()
            elif not p.alive():
                raise ProcError(f"{p.name} exited with {p.popen.returncode}:\n{p.tail()}")
            try:
                if requests.get(url, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise ProcError(f"{p.name} did not answer {url} within {timeout}s:\n{p.tail()}")

    def wait_log(self, p: Proc, *texts: str, timeout: float = 20.0) -> None:
        """Until ``p`` has logged one of ``texts`` (since it started)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if any(t in p.output() for t in texts):
                return
            time.sleep(0.05)
        raise ProcError(f"{p.name} did not log {texts[0]!r} within {timeout}s:\n{p.tail()}")

    # ----- stopping ------------------------------------------------------------------------
    @staticmethod
    def _signal(p: Proc, sig: signal.Signals) -> None:
        try:
            os.killpg(p.pid, sig)  # the group we created: this process and its children
        except ProcessLookupError:
            pass

    def kill9(self, p: Proc) -> None:
        """SIGKILL to the process group of ``p``, as a crash would."""
        if p.alive():
            self._signal(p, signal.SIGKILL)
        p.popen.wait(10)
        self.kills.append((time.monotonic(), p.name))
        self.forget(p)

    def forget(self, p: Proc) -> None:
        if not p.log_file.closed:
            p.log_file.close()
        with self.lock:
            if p in self.procs:
                self.procs.remove(p)

    def stop(self, p: Proc, timeout: float = 10.0) -> None:
        self.stop_many([p], timeout)

    def stop_many(self, targets: list[Proc], timeout: float = 10.0) -> None:
        """SIGTERM to all of them at once, SIGKILL to those still running after ``timeout``."""
        for p in targets:
            if p.alive():
                self._signal(p, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in targets:
            try:
                p.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._signal(p, signal.SIGKILL)
                p.popen.wait(10)
            self.forget(p)

    def stop_all(self, timeout: float = 10.0) -> None:
        self.stop_many(list(reversed(self.procs)), timeout)
