"""Start the hub, the HRSS stand-in and the four simple departments as real processes.

Shared by `python -m mock_departments.demo` and the end-to-end tests:

    with Stack(workdir) as stack:          # keys, `hub init`, members, processes on free ports
        stack.hrss("POST", "/applications", json={"person": "wang"})
        stack.wait_closed(case_id)

Every process is started by this object and stopped by it (also on failure); each writes its
output to `<workdir>/logs/<name>.log`.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import requests

import contracts
from hub.client import HubClient
from hub.security import keys

DEPARTMENTS = ("community", "hpf", "medical", "health")
HRSS = "hrss"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bin(name: str) -> str:
    """A console script of this virtualenv (next to the interpreter), else from PATH."""
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else (shutil.which(name) or name)


class StackError(RuntimeError):
    pass


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text("utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Stack:
    workdir: Path
    dept_args: dict[str, list[str]] = field(default_factory=dict)
    hrss_args: list[str] = field(default_factory=list)
    interval: float = 0.2
    verbose: bool = False
    procs: list[Proc] = field(default_factory=list)
    keyids: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.key_dir = self.workdir / "keys"
        self.hub_key_dir = self.workdir / "hub-keys"
        self.log_dir = self.workdir / "logs"
        self.hub_port = free_port()
        self.hrss_port = free_port()
        self.hub_url = f"http://127.0.0.1:{self.hub_port}"
        self.hrss_url = f"http://127.0.0.1:{self.hrss_port}"
        self.env = {
            **os.environ,
            "HUB_DATABASE_URL": f"sqlite:///{self.workdir / 'hub.db'}",
            "HUB_KEY_DIR": str(self.hub_key_dir),
            "HUB_HOST": "127.0.0.1",
            "HUB_PORT": str(self.hub_port),
            "HUB_WORKER_POLL_S": "0.5",
            "HUB_RETRY_SCHEDULE": "0,0.5,1,2,4,8",
            "HUB_PUSH_TIMEOUT_S": "5",
            "PYTHONUNBUFFERED": "1",
        }

    # ----- context manager -------------------------------------------------------------
    def __enter__(self) -> "Stack":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ----- set-up ----------------------------------------------------------------------
    def key_path(self, member: str) -> Path:
        return self.key_dir / f"{member}.private.pem"

    def client(self, member: str = HRSS) -> HubClient:
        """A signed client of the hub acting as one of the stack's members."""
        return HubClient(self.hub_url, member, keys.load_private_key(self.key_path(member)),
                         self.keyids[member])

    def hub_cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        res = subprocess.run([_bin("hub"), *args], env=self.env, capture_output=True,
                             text=True, timeout=60)
        if check and res.returncode != 0:
            raise StackError(f"hub {' '.join(args)} failed ({res.returncode}):\n"
                             f"{res.stdout}\n{res.stderr}")
        return res

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for member in (HRSS, *DEPARTMENTS):
            if not self.key_path(member).exists():
                keys.write_keypair(self.key_dir, member)
            pub = keys.load_public_key(self.key_dir / f"{member}.public.pem")
            self.keyids[member] = keys.key_id(pub)
        self._init_hub()
        self._register_members()
        self.spawn("hub", [_bin("hub"), *(["-v"] if self.verbose else []), "serve",
                           "--host", "127.0.0.1", "--port", str(self.hub_port)])
        self.wait_http(self.hub_url + "/healthz", "hub")
        self.spawn(HRSS, [sys.executable, "-m", "mock_departments.hrss",
                          "--port", str(self.hrss_port), "--hub", self.hub_url,
                          "--key", str(self.key_path(HRSS)), f"--keyid={self.keyids[HRSS]}",
                          "--data-dir", str(self.workdir / "hrss-data"), *self.hrss_args])
        self.wait_http(self.hrss_url + "/healthz", HRSS)
        for member in DEPARTMENTS:
            self.spawn(member, [sys.executable, "-m", "mock_departments.simple_department",
                                "--hub", self.hub_url, "--member", member,
                                "--key", str(self.key_path(member)),
                                f"--keyid={self.keyids[member]}",
                                "--interval", str(self.interval),
                                *self.dept_args.get(member, [])])
        time.sleep(0.2)
        self.check_alive()

    def _init_hub(self) -> None:
        res = self.hub_cli("init", check=False)
        if res.returncode != 0:
            raise StackError(f"hub init failed:\n{res.stdout}\n{res.stderr}")

    def _register_members(self) -> None:
        t = contracts.event_type
        pub = {m: str(self.key_dir / f"{m}.public.pem") for m in (HRSS, *DEPARTMENTS)}
        self.hub_cli("members", "add", HRSS, "--key-file", pub[HRSS],
                     f"--key-id={self.keyids[HRSS]}",
                     "--name", "省人社一体化平台（模拟）",
                     "--publish", t("application_submitted"), "--publish", t("approval_decided"),
                     "--subscribe", t("case_status_changed"),
                     "--push-url", self.hrss_url + "/hub/events")
        for member in DEPARTMENTS:
            args = ["members", "add", member, "--key-file", pub[member],
                    f"--key-id={self.keyids[member]}", "--publish", t("item_progressed"),
                    "--subscribe", t("item_cancelled")]
            for d in contracts.items():
                if d["member"] == member and d.get("request_type"):
                    args += ["--subscribe", d["request_type"]]
            self.hub_cli(*args)

    def spawn(self, name: str, argv: list[str]) -> Proc:
        log_path = self.log_dir / f"{name}.log"
        log_file = open(log_path, "ab")
        popen = subprocess.Popen(argv, env=self.env, stdout=log_file, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
        proc = Proc(name, popen, log_path, log_file)
        self.procs.append(proc)
        return proc

    def wait_http(self, url: str, name: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if requests.get(url, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise StackError(f"{name} did not answer {url} within {timeout}s:\n"
                         f"{self.proc(name).tail()}")

    def proc(self, name: str) -> Proc:
        return next(p for p in self.procs if p.name == name)

    def check_alive(self) -> None:
        dead = [p for p in self.procs if p.popen.poll() is not None]
        if dead:
            p = dead[0]
            raise StackError(f"{p.name} exited with {p.popen.returncode}:\n{p.tail()}")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every process this stack started: SIGTERM, then SIGKILL after `timeout`."""
        for p in self.procs:
            if p.popen.poll() is None:
                try:
                    p.popen.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.popen.kill()
                p.popen.wait(5)
            p.log_file.close()
        self.procs.clear()

    # ----- use -------------------------------------------------------------------------
    def hrss(self, method: str, path: str, **kw: Any) -> requests.Response:
        return requests.request(method, self.hrss_url + path, timeout=10, **kw)

    def submit(self, **body: Any) -> dict[str, Any]:
        resp = self.hrss("POST", "/applications", json=body)
        if resp.status_code != 201:
            raise StackError(f"submission failed: {resp.status_code} {resp.text}")
        return resp.json()  # type: ignore[no-any-return]

    def hub_case(self, case_id: str) -> dict[str, Any]:
        return self.client(HRSS).case(case_id)

    def wait_closed(self, case_id: str, timeout: float = 60.0) -> tuple[dict[str, Any],
                                                                         dict[str, Any]]:
        """Wait until the hub has closed the case and the HRSS stand-in received the closed status.

        Returns (the hub's case document with history, the applicant's view at the HRSS).
        """
        deadline = time.monotonic() + timeout
        hub_doc: dict[str, Any] = {}
        view: dict[str, Any] = {}
        while time.monotonic() < deadline:
            self.check_alive()
            hub_doc = self.hub_case(case_id)
            if hub_doc.get("state") == "closed":
                resp = self.hrss("GET", f"/cases/{case_id}")
                view = resp.json() if resp.status_code == 200 else {}
                if view.get("state") == "closed":
                    return hub_doc, view
            time.sleep(0.2)
        raise StackError(f"case {case_id} not closed within {timeout}s: hub says "
                         f"{hub_doc.get('state')} "
                         f"{[(i['code'], i['state']) for i in hub_doc.get('items', [])]}; "
                         f"HRSS says {view.get('state')}")
