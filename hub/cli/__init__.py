"""The ``hub`` command line, one module per command group; ``main`` is the entry point."""
from __future__ import annotations

from hub.cli import calendar, cases, contracts, deliveries, items, keys, members, server
from hub.cli.app import _hub, main

__all__ = ["_hub", "calendar", "cases", "contracts", "deliveries", "items", "keys", "main",
           "members", "server"]
