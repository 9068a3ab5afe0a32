"""Start the hub, the HRSS stand-in, the city stand-ins and the provincial unit adapters.

Shared by `python -m mock_departments.demo` and the end-to-end tests:

    with Stack(workdir) as stack:          # keys, `hub init`, members, processes on free ports
        stack.submit(person="wang")
        stack.wait_closed(case_id)

What runs, every process on a free loopback port, SQLite everywhere:

* `hub serve` (API plus push worker), database `<workdir>/hub.db`;
* the HRSS stand-in (`mock_departments.hrss`), pushed the merged status;
* per city (default Changzhou 320400 and Wuxi 320200) one process per city system:
  `mock_departments.cities.{hpf,medical,health,community}` (data in `<workdir>/cities/<code>/`);
* the routing file `<workdir>/routes.json` (see `adapters/routing.py`) naming those systems;
* the four provincial unit adapters `python -m adapters.<unit>` pulling their feeds (state in
  `<workdir>/adapters/<unit>/`); hpf also receives the centres' callbacks on its own port.

`Stack(..., departments="simple")` starts `mock_departments/simple_department.py` instead of the
adapters and no city stand-ins (the pre-adapter set-up, kept for quick experiments).

A city is added by configuration only: `stack.add_city("320500", "苏州")` starts that city's
stand-ins, rewrites `routes.json` with one more entry and restarts the adapters, which resume from
their last acknowledged cursor.

Every process is started by this object and stopped by it (also on failure); each writes its
output to `<workdir>/logs/<name>.log`.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

import contracts
from hub.client import HubClient
from hub.security import keys
from mock_departments.procs import Proc, ProcError, Procs
from mock_departments.procs import free_port as free_port  # used by the tests' stand-ins

DEPARTMENTS = ("community", "hpf", "medical", "health")
HRSS = "hrss"
CITY_SYSTEMS = ("hpf", "medical", "health", "community")
CITY_NAMES = {"320400": "常州", "320200": "无锡", "320500": "苏州", "320100": "南京"}
DEFAULT_CITIES = ("320400", "320200")
# Quick city systems for the demo and the tests (their defaults are a little slower).
CITY_SPEED = {
    "hpf": ["--callback-delay-s", "0.2"],
    "community": ["--process-delay-s", "0.2"],
    "health": ["--interval-s", "0.2"],
    "medical": [],
}


def _bin(name: str) -> str:
    """A console script of this virtualenv (next to the interpreter), else from PATH."""
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else (shutil.which(name) or name)


StackError = ProcError  # a stand-in died or did not come up


@dataclass
class CitySystem:
    """One city department stand-in process."""

    city: str
    system: str
    port: int
    data_dir: Path

    @property
    def name(self) -> str:
        return f"{self.system}-{self.city}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Stack:
    workdir: Path
    dept_args: dict[str, list[str]] = field(default_factory=dict)
    hrss_args: list[str] = field(default_factory=list)
    interval: float = 0.2
    verbose: bool = False
    departments: str = "adapters"  # or "simple"
    suite: str = "intl"  # the members' keys: "intl" (Ed25519) or "sm" (SM2, 国密)
    cities: tuple[str, ...] = DEFAULT_CITIES
    # extra options per city system: key "hpf" (every city) or "hpf@320400" (one city)
    city_args: dict[str, list[str]] = field(default_factory=dict)
    keyids: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    city_systems: dict[tuple[str, str], CitySystem] = field(default_factory=dict)
    city_names: dict[str, str] = field(default_factory=lambda: dict(CITY_NAMES))

    def __post_init__(self) -> None:
        if self.departments not in ("adapters", "simple"):
            raise ValueError("departments must be 'adapters' or 'simple'")
        self.workdir = Path(self.workdir)
        self.key_dir = self.workdir / "keys"
        self.hub_key_dir = self.workdir / "hub-keys"
        self.log_dir = self.workdir / "logs"
        self.routes_path = self.workdir / "routes.json"
        self.hub_port = free_port()
        self.hrss_port = free_port()
        self.hub_url = f"http://127.0.0.1:{self.hub_port}"
        self.hrss_url = f"http://127.0.0.1:{self.hrss_port}"
        self.cities = tuple(self.cities)
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
        self.processes = Procs(self.log_dir, self.env)

    # ----- context manager -------------------------------------------------------------
    def __enter__(self) -> Stack:
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

    def adapter_dir(self, unit: str) -> Path:
        return self.workdir / "adapters" / unit

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
                keys.write_keypair(self.key_dir, member, suite=self.suite)
            pub = keys.load_public_key(self.key_dir / f"{member}.public.pem")
            self.keyids[member] = keys.key_id(pub)
        self._init_hub()
        self.spawn("hub", [_bin("hub"), *(["-v"] if self.verbose else []), "serve",
                           "--host", "127.0.0.1", "--port", str(self.hub_port)])
        if self.departments == "adapters":
            # the city systems start while the hub gets ready
            for city in self.cities:
                self._spawn_city(city)
        self.wait_http(self.hub_url + "/healthz", "hub")
        self.spawn(HRSS, [sys.executable, "-m", "mock_departments.hrss",
                          "--port", str(self.hrss_port), "--hub", self.hub_url,
                          "--key", str(self.key_path(HRSS)), f"--keyid={self.keyids[HRSS]}",
                          "--data-dir", str(self.workdir / "hrss-data"), *self.hrss_args])
        if self.departments == "simple":
            self._start_simple_departments()
        else:
            for cs in self.city_systems.values():
                self.wait_http(cs.url + "/admin/behaviour", cs.name)
            self.write_routes()
            self.start_adapters()
        self.wait_http(self.hrss_url + "/healthz", HRSS)
        if self.departments == "adapters":
            self.wait_adapters()
        else:
            time.sleep(0.2)
        self.check_alive()

    def _init_hub(self) -> None:
        """`hub init` then every member, done in-process with the functions the `hub` command
        line calls (`hub init`, `hub members add ...`): same result, five interpreter starts less.
        """
        from hub.bootstrap import init as init_hub
        from hub.config import Config
        from hub.domain.errors import DomainError
        from hub.services.members import add_member

        try:
            _, hub = init_hub(Config.from_env(self.env))
        except Exception as exc:  # reported with its cause, the stack stops
            raise StackError(f"hub init failed: {type(exc).__name__}: {exc}") from exc
        try:
            for member, kw in self._members().items():
                pem = (self.key_dir / f"{member}.public.pem").read_text("utf-8")
                add_member(hub, member, pem, keyid=self.keyids[member], **kw)
        except DomainError as exc:
            raise StackError(f"registering members failed: {exc.code}: {exc.message}") from exc
        finally:
            hub.engine.dispose()

    def _members(self) -> dict[str, dict[str, Any]]:
        """What `hub members add` is given for each member: events it publishes and receives."""
        t = contracts.event_type
        out: dict[str, dict[str, Any]] = {HRSS: {
            "name": "省人社一体化平台（模拟）",
            "publish": [t("application_submitted"), t("approval_decided")],
            "subscribe": [t("case_status_changed")],
            "push_url": self.hrss_url + "/hub/events"}}
        for member in DEPARTMENTS:
            subscribe = [t("item_cancelled")] + [
                d["request_type"] for d in contracts.items()
                if d["member"] == member and d.get("request_type")]
            out[member] = {"publish": [t("item_progressed"), t("issue_reported")],
                           "subscribe": subscribe, "push_url": None}
        return out

    # ----- departments -----------------------------------------------------------------
    def _start_simple_departments(self) -> None:
        for member in DEPARTMENTS:
            self.spawn(member, [sys.executable, "-m", "mock_departments.simple_department",
                                "--hub", self.hub_url, "--member", member,
                                "--key", str(self.key_path(member)),
                                f"--keyid={self.keyids[member]}",
                                "--interval", str(self.interval),
                                *self.dept_args.get(member, [])])

    def _spawn_city(self, city: str) -> None:
        for system in CITY_SYSTEMS:
            if (city, system) in self.city_systems:
                continue
            cs = CitySystem(city, system, free_port(), self.workdir / "cities" / city / system)
            self.city_systems[(city, system)] = cs
            secret = (["--secret-file", str(self.hpf_secret_file(city))] if system == "hpf"
                      else [])
            self.spawn(cs.name, [sys.executable, "-m", f"mock_departments.cities.{system}",
                                 "--port", str(cs.port), "--data-dir", str(cs.data_dir),
                                 "--city", city, *secret, *(["-v"] if self.verbose else []),
                                 *CITY_SPEED[system], *self.city_args.get(system, []),
                                 *self.city_args.get(f"{system}@{city}", [])])

    def hpf_secret_file(self, city: str) -> Path:
        """The file holding this city's hpf signing secret (created once, owner-only)."""
        path = self.workdir / "secrets" / f"hpf-{city}.secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(secrets.token_urlsafe(32))
        return path

    def city(self, system: str, city: str = "320400") -> CitySystem:
        return self.city_systems[(city, system)]

    def routes(self) -> dict[str, Any]:
        """The routing table (adapters/routing.py): one entry per city, one key per unit."""
        doc: dict[str, Any] = {}
        for city in self.cities:
            s = {system: self.city_systems[(city, system)] for system in CITY_SYSTEMS}
            doc[city] = {
                "name": self.city_names.get(city, city),
                "hpf": {"url": s["hpf"].url, "secret_file": str(self.hpf_secret_file(city))},
                "medical": {"url": s["medical"].url},
                "community": {"url": s["community"].url},
                "health": {"inbox": str(s["health"].data_dir / "inbox"),
                           "outbox": str(s["health"].data_dir / "outbox")},
            }
        return doc

    def write_routes(self) -> Path:
        tmp = self.routes_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.routes(), ensure_ascii=False, indent=2) + "\n", "utf-8")
        os.replace(tmp, self.routes_path)
        return self.routes_path

    def _adapter_argv(self, unit: str) -> list[str]:
        argv = [sys.executable, "-m", f"adapters.{unit}", "--hub", self.hub_url,
                "--member", unit, "--key", str(self.key_path(unit)),
                f"--keyid={self.keyids[unit]}", "--routes", str(self.routes_path),
                "--data-dir", str(self.adapter_dir(unit)), "--interval", str(self.interval)]
        if unit == "hpf":
            argv += ["--callback-port", str(free_port())]
        if self.verbose:
            argv.append("-v")
        return argv + self.dept_args.get(unit, [])

    def start_adapters(self) -> None:
        for unit in DEPARTMENTS:
            self.spawn(unit, self._adapter_argv(unit))

    def wait_adapters(self, timeout: float = 20.0) -> None:
        """Until each adapter has logged that its loop runs (it reads routes, state, keys first)."""
        for unit in DEPARTMENTS:
            self.wait_log(unit, ": pulling every", ": receiving pushes every", timeout=timeout)

    def stop_adapters(self) -> None:
        self.stop([p for p in self.procs if p.name in DEPARTMENTS])

    def restart_adapters(self) -> None:
        """Stop the four adapters and start them again (they re-read routes.json)."""
        self.stop_adapters()
        self.start_adapters()
        self.wait_adapters()

    def add_city(self, city: str, name: str | None = None) -> None:
        """A city added by configuration only: its stand-ins, a routes entry, adapters restarted."""
        if name:
            self.city_names[city] = name
        self._spawn_city(city)
        for system in CITY_SYSTEMS:
            cs = self.city(system, city)
            self.wait_http(cs.url + "/admin/behaviour", cs.name)
        if city not in self.cities:
            self.cities = (*self.cities, city)
        self.write_routes()
        self.restart_adapters()

    # ----- processes -------------------------------------------------------------------
    @property
    def procs(self) -> list[Proc]:
        return self.processes.procs

    def spawn(self, name: str, argv: list[str]) -> Proc:
        return self.processes.spawn(name, argv)

    def wait_http(self, url: str, name: str, timeout: float = 20.0) -> None:
        self.processes.wait_http(self.proc(name), url, timeout, all_alive=True)

    def wait_log(self, name: str, *texts: str, timeout: float = 20.0) -> None:
        """Until the named process has logged one of `texts` (since it started)."""
        self.processes.wait_log(self.proc(name), *texts, timeout=timeout)

    def proc(self, name: str) -> Proc:
        return self.processes.proc(name)

    def check_alive(self) -> None:
        self.processes.check_alive()

    def stop(self, procs: list[Proc] | None = None, timeout: float = 5.0) -> None:
        """Stop processes this stack started (all by default): SIGTERM, SIGKILL after `timeout`."""
        self.processes.stop_many(list(self.procs if procs is None else procs), timeout)

    # ----- use -------------------------------------------------------------------------
    def hrss(self, method: str, path: str, **kw: Any) -> requests.Response:
        return requests.request(method, self.hrss_url + path, timeout=10, **kw)

    def submit(self, **body: Any) -> dict[str, Any]:
        resp = self.hrss("POST", "/applications", json=body)
        if resp.status_code != 201:
            raise StackError(f"submission failed: {resp.status_code} {resp.text}")
        return resp.json()  # type: ignore[no-any-return]

    def received(self, system: str, city: str = "320400") -> list[dict[str, Any]]:
        """Every request body that reached one city system (its GET /admin/received journal)."""
        resp = requests.get(self.city(system, city).url + "/admin/received", timeout=10)
        resp.raise_for_status()
        return resp.json()["received"]  # type: ignore[no-any-return]

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
