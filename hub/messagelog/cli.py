"""``hub log``: checkpoints, whole-log verification, case bundles and their offline check."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from hub.domain.errors import DomainError


def _hub() -> Any:
    from hub.cli import _hub as build

    return build()


@click.group("log")
def log_group() -> None:
    """The message log: signed checkpoints, proofs, verification and case bundles."""


@log_group.command("status")
def status_cmd() -> None:
    """Log size, the latest checkpoint and how long leaves have waited for one."""
    from hub.messagelog import checkpoints, verify

    hub = _hub()
    st = checkpoints.status(hub)
    last = verify.last_run(hub)
    st["last_verification"] = ({"at": last.at.isoformat(), "ok": last.ok, "size": last.size,
                                "findings": last.findings} if last else None)
    click.echo(json.dumps(st, ensure_ascii=False, indent=2))


@log_group.command("checkpoint")
def checkpoint_cmd() -> None:
    """Sign a checkpoint of the log now (if it grew since the last one)."""
    from hub.messagelog import checkpoints

    hub = _hub()
    cp = checkpoints.sign(hub, force=True)
    click.echo(json.dumps(checkpoints.to_dict(cp) if cp else None, ensure_ascii=False, indent=2))


@log_group.command("verify")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def verify_cmd(as_json: bool) -> None:
    """Recompute the log from the stored records and check it against every checkpoint.

    Exit status 1 when anything was changed, removed or inserted."""
    from hub.messagelog import verify

    hub = _hub()
    console = Console(stderr=True)
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console, transient=True,
                  disable=as_json or not console.is_terminal) as bar:
        task = bar.add_task("verifying leaves", total=None)
        report = verify.verify(hub, progress=lambda done, total: bar.update(
            task, completed=done, total=total))
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        for f in report.findings:
            click.echo(str(f))
        click.echo(f"{report.size} leaves, {report.checkpoints} checkpoints: "
                   + ("OK" if report.ok else f"{len(report.findings)} finding(s)"))
    if not report.ok:
        sys.exit(1)


@log_group.command("export-case")
@click.argument("case_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="bundle file (default: <CASE_ID>.log-bundle.json)")
def export_case_cmd(case_id: str, output: Path | None) -> None:
    """Write a self-contained, offline-verifiable bundle of one case (it holds personal data:
    the file is readable by its owner only)."""
    from hub.messagelog.bundle import export_case

    try:
        bundle = export_case(_hub(), case_id)
    except DomainError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message} / {exc.message_zh}") from exc
    path = output or Path(f"{case_id}.log-bundle.json")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(bundle, fh, ensure_ascii=False, indent=1)
    click.echo(f"{path}: {len(bundle['events'])} events, {len(bundle['deliveries'])} deliveries, "
               f"{len(bundle['leaves'])} leaves, checkpoint {bundle['checkpoint']['size']}")


@log_group.command("verify-bundle")
@click.argument("bundle_file", type=click.Path(exists=True, dir_okay=False))
def verify_bundle_cmd(bundle_file: str) -> None:
    """Check a case bundle offline (no database, no hub key files needed)."""
    from hub.messagelog import offline

    sys.exit(offline.main(["verify-bundle", bundle_file]))


@click.group("archive")
def archive_group() -> None:
    """Closed cases out of the hot tables into signed, chained, encrypted files (and back)."""


@archive_group.command("run")
@click.option("--older-than-days", type=float, default=None,
              help="closed for longer than this (default HUB_ARCHIVE_AFTER_DAYS)")
def archive_run_cmd(older_than_days: float | None) -> None:
    """Archive closed cases whose deliveries are all settled."""
    from datetime import timedelta

    from hub.messagelog import archive

    age = None if older_than_days is None else timedelta(days=older_than_days)
    out = archive.run(_hub(), age)
    click.echo(f"{out['archived']} case(s) archived into {len(out['files'])} file(s)"
               + "".join(f"\n  {f}" for f in out["files"]))


@archive_group.command("verify")
def archive_verify_cmd() -> None:
    """Check the archive chain, each file's signed digest, and that every case decrypts."""
    from hub.messagelog import archive

    problems = archive.verify(_hub())
    for p in problems:
        click.echo(f"FAIL {p}")
    click.echo("archive OK" if not problems else f"{len(problems)} problem(s)")
    if problems:
        sys.exit(1)


@archive_group.command("restore")
@click.argument("case_id")
def archive_restore_cmd(case_id: str) -> None:
    """Bring an archived case back into the hot tables for an investigation."""
    from hub.messagelog import archive

    try:
        counts = archive.restore(_hub(), case_id)
    except DomainError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message} / {exc.message_zh}") from exc
    click.echo(f"{case_id} restored: " + ", ".join(f"{n} {t}" for t, n in counts.items()))
