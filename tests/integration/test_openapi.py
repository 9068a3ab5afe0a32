"""The OpenAPI document describes every route the app serves, and each error it documents."""
from __future__ import annotations

import re

import requests


def test_openapi_lists_every_route(live_hub, hub):
    from hub.http.app import create_app

    doc = requests.get(live_hub.url + "/openapi.json", timeout=10).json()
    assert doc["openapi"].startswith("3.1")
    app = create_app(hub=hub)
    served = {re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", r.rule)
              for r in app.url_map.iter_rules()
              if r.endpoint != "static"
              and not r.rule.startswith("/console/")}  # the console's HTML pages: not the API
    assert served == set(doc["paths"])
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert {"200", "201", "202"} & set(op["responses"]), (path, method)
            if op.get("security"):
                assert "401" in op["responses"], (path, method)


def test_healthz(live_hub):
    r = requests.get(live_hub.url + "/healthz", timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_unknown_route_is_a_problem_document(live_hub):
    r = requests.get(live_hub.url + "/v1/nothing", timeout=10)
    assert r.status_code == 404
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.json()["code"] == "not_found" and r.json()["detail_zh"]
