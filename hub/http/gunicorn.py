"""Run the API under gunicorn: several processes, each with its own engine built after fork."""
from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


class HubApplication(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        import logging

        from hub.bootstrap import bootstrap
        from hub.http.app import create_app
        from hub.logs import install

        install(logging.getLogger("gunicorn.error"))  # gunicorn's own handlers, too
        # No migrations and no database work in a worker's boot: a worker restarted while the
        # database is away must come up (and answer 503) rather than fail and take the API down.
        return create_app(hub=bootstrap(create=False))


def serve(host: str, port: int, workers: int, threads: int) -> None:
    HubApplication({
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "timeout": 60,
        "graceful_timeout": 10,
        "accesslog": None,
    }).run()
