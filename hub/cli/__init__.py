"""The ``hub`` command line, one module per command group; ``main`` is the entry point."""
from __future__ import annotations

from hub.cli import calendar, cases, contracts, deliveries, items, keys, members, server
from hub.cli.app import _hub, main
from hub.console import cli as console_cli
from hub.messagelog.cli import archive_group, log_group

main.add_command(log_group)
main.add_command(archive_group)
main.add_command(console_cli.users)

__all__ = ["_hub", "calendar", "cases", "contracts", "deliveries", "items", "keys", "main",
           "members", "server"]
