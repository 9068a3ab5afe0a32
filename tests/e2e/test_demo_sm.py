"""`make demo SUITE=sm`: the three scenarios with every member, the adapters included, on SM2."""
from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_demo_on_the_national_algorithms_completes_every_scenario() -> None:
    res = subprocess.run([sys.executable, "-m", "mock_departments.demo", "--suite", "sm"],
                         capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "OK: all three cases ended as expected" in res.stdout
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("signatures:"))
    assert "5 members sign with sm2-sm3;" in line and "signed with sm2-sm3" in line
    assert "ed25519" not in line
