"""The benchmark's processes (gunicorn servers, the push worker) on the one process harness,
plus their memory peaks."""
from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from mock_departments import procs as harness
from mock_departments.procs import Proc
from mock_departments.procs import child_pids as children  # gunicorn workers of a master
from mock_departments.procs import free_port as free_port

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["ROOT", "Proc", "Procs", "children", "free_port", "vm_hwm_kb"]


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
class Procs(harness.Procs):
    """The harness from the repository root, with gunicorn and memory high-water marks."""

    cwd: Path | None = ROOT
    peaks_kb: dict[str, int] = field(default_factory=dict)  # "name/pid" -> VmHWM KiB
    _stop_sampling: threading.Event = field(default_factory=threading.Event)
    _sampler: threading.Thread | None = None

    def gunicorn(self, name: str, app: str, port: int, *, workers: int = 2, threads: int = 8,
                 role: str = "other", extra_env: dict[str, str] | None = None) -> Proc:
        argv = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-k", "gthread",
                "--threads", str(threads), "-b", f"127.0.0.1:{port}",
                "--graceful-timeout", "5", "--timeout", "120", app]
        return self.spawn(name, argv, extra_env, role=role)

    # ----- memory --------------------------------------------------------------------------
    def sample(self) -> None:
        for p in list(self.procs):
            if p.role != "hub" or not p.alive():
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
    def stop_many(self, targets: list[Proc], timeout: float = 15.0) -> None:
        if any(p.role == "hub" for p in targets):
            self.sample()  # last look at the high-water marks before the processes go
        super().stop_many(targets, timeout)

    def stop_all(self, timeout: float = 15.0) -> None:
        self._stop_sampling.set()
        super().stop_all(timeout)
