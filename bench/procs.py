"""Processes the benchmark starts (gunicorn servers, the push worker) and their memory peaks."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (gunicorn workers of a master)."""
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                text = Path(f"/proc/{pid}/task/{tid}/children").read_text()
            except OSError:
                continue
            out += [int(x) for x in text.split()]
    except OSError:
        pass
    if out:
        return out
    for entry in os.listdir("/proc"):  # kernels without /proc/<pid>/task/*/children
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def vm_hwm_kb(pid: int) -> int | None:
    """Peak resident set size (VmHWM) of a live process, in KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]
    role: str = "other"  # "hub" processes count towards peak_rss_mb

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


@dataclass
class Procs:
    """Starts processes in their own session and stops exactly those (by process group id)."""

    log_dir: Path
    env: dict[str, str]
    procs: list[Proc] = field(default_factory=list)
    peaks_kb: dict[str, int] = field(default_factory=dict)  # "name/pid" -> VmHWM KiB
    _stop_sampling: threading.Event = field(default_factory=threading.Event)
    _sampler: threading.Thread | None = None

    def spawn(self, name: str, argv: list[str], *, role: str = "other",
              extra_env: dict[str, str] | None = None) -> Proc:
        log_path = self.log_dir / f"{name}.log"
        log_file = open(log_path, "ab")
        env = dict(self.env, **(extra_env or {}))
        popen = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log_file,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
        p = Proc(name, popen, log_path, log_file, role)
        self.procs.append(p)
        return p

    def gunicorn(self, name: str, app: str, port: int, *, workers: int = 2, threads: int = 8,
                 role: str = "other", extra_env: dict[str, str] | None = None) -> Proc:
        argv = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-k", "gthread",
                "--threads", str(threads), "-b", f"127.0.0.1:{port}",
                "--graceful-timeout", "5", "--timeout", "120", app]
        return self.spawn(name, argv, role=role, extra_env=extra_env)

    def wait_http(self, proc: Proc, url: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.tail()}")
            try:
                if requests.get(url, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{proc.name} did not answer {url} within {timeout}s:\n{proc.tail()}")

    # ----- memory --------------------------------------------------------------------------
    def sample(self) -> None:
        for p in list(self.procs):
            if p.role != "hub" or p.popen.poll() is not None:
                continue
            for pid in [p.pid, *children(p.pid)]:
                kb = vm_hwm_kb(pid)
                if kb is not None:
                    key = f"{p.name}/{pid}" if pid != p.pid else f"{p.name}/{pid} (main)"
                    self.peaks_kb[key] = max(self.peaks_kb.get(key, 0), kb)

    def start_sampling(self, every_s: float = 0.5) -> None:
        def loop() -> None:
            while not self._stop_sampling.wait(every_s):
                self.sample()

        self._sampler = threading.Thread(target=loop, daemon=True, name="rss-sampler")
        self._sampler.start()

    # ----- stopping ------------------------------------------------------------------------
    def stop(self, proc: Proc, timeout: float = 15.0) -> None:
        if proc.role == "hub":
            self.sample()  # last look at the high-water marks before the processes go
        if proc.popen.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # the group we created: this process tree
            except ProcessLookupError:
                pass
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.popen.wait(5)
        proc.log_file.close()
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        self._stop_sampling.set()
        for p in reversed(list(self.procs)):
            self.stop(p)
