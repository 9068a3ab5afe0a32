"""Optional sampling profiles of the hub processes during chosen phases (``--profile DIR``).

Runs ``py-spy record --format raw`` (collapsed stacks) on each hub gunicorn worker and the push
worker while a phase runs, then summarises where the time went. py-spy is a profiling tool
only, not a dependency of the hub: ``pip install py-spy`` into the environment to use this.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench.procs import ROOT, children

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


class Profiler:
    def __init__(self, out_dir: Path | None) -> None:
        self.out_dir = out_dir
        self.exe = py_spy() if out_dir else None
        self.running: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        if out_dir:
            out_dir.mkdir(parents=True, exist_ok=True)

    @property
    def enabled(self) -> bool:
        return self.exe is not None

    @staticmethod
    def hub_targets(*procs: Any) -> dict[str, int]:
        """Gunicorn workers (children of each master) and single-process hub programs."""
        out: dict[str, int] = {}
        for p in procs:
            kids = children(p.pid)
            for i, pid in enumerate(kids or [p.pid]):
                out[f"{p.name}-{i}" if kids else p.name] = pid
        return out

    def start(self, phase: str, targets: dict[str, int]) -> None:
        if not self.enabled:
            return
        assert self.out_dir is not None and self.exe is not None
        for name, pid in targets.items():
            out = self.out_dir / f"{phase}-{name}-{pid}.txt"
            p = subprocess.Popen([self.exe, "record", "--pid", str(pid), "--format", "raw",
                                  "--rate", "200", "--nonblocking", "-o", str(out)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 stdin=subprocess.DEVNULL)
            self.running.append((f"{phase}/{name}", p, out))

    def stop(self) -> dict[str, Any]:
        """Stop every recorder (SIGINT makes py-spy write its file) and summarise them."""
        found: dict[str, Any] = {}
        for label, p, out in self.running:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGINT)  # only the recorder we started
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
            if out.exists():
                found[label] = summarise(out)
                found[label]["file"] = str(out)
        self.running = []
        return found


def summarise(path: Path, top: int = 12) -> dict[str, Any]:
    """Inclusive share of project functions and self share of every leaf, from collapsed stacks."""
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_name(f) for f in stack.split(";")]
        for f in set(frames):
            inclusive[f] += n
        leaf[frames[-1]] += n
    if not total:
        return {"samples": 0}

    def share(c: Counter[str], keep: Any) -> list[tuple[str, float]]:
        return [(f, round(100 * n / total, 1)) for f, n in c.most_common() if keep(f)][:top]

    ours = ("hub/", "contracts/")
    plumbing = ("threading.py", "concurrent/", "gunicorn/", "selectors.py", "flask/app.py",
                "werkzeug/", "socketserver.py", "apscheduler/", "<module>")

    def library(f: str) -> bool:
        return not any(o in f for o in ours) and not any(p in f for p in plumbing)

    return {"samples": total,
            "inclusive_pct_project": share(inclusive, lambda f: any(o in f for o in ours)),
            "inclusive_pct_libraries": share(inclusive, library),
            "self_pct": share(leaf, lambda f: True)}


def _name(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    file = m.group("file")
    for marker in ("site-packages/", str(ROOT) + "/", "lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
            if marker == "site-packages/":
                file = "site-packages/" + file
            break
    return f"{m.group('func')} ({file})"
