"""Fixtures for end-to-end tests: real processes over real HTTP (see mock_departments.launcher)."""
from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from hub.domain.clock import beijing_today
from mock_departments.demo import demo_stack
from mock_departments.launcher import Stack
from tests.e2e.procs import pg_schema, pg_unavailable

_serial = itertools.count(os.getpid() % 1000 * 100 + 1)


@pytest.fixture(scope="module")
def e2e_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """What `make demo` runs, shared by a test module: the hub, the HRSS stand-in, the four
    provincial unit adapters and the city systems of Changzhou (320400) and Wuxi (320200).

    The Changzhou housing fund centre finds arrears on fixture person "sun" (demo scenario b);
    the medical bureaux require 30 years (men) / 25 years (women) of contributions, so fixture
    person "zhao" (300 months) is short (scenario c).
    """
    workdir = tmp_path_factory.mktemp("e2e-stack")
    with demo_stack(workdir) as stack:
        yield stack


@pytest.fixture
def unique_case_id() -> CaseIds:
    return CaseIds()


class CaseIds:
    """Case ids like RT320400-20261125-1xxxxx, unique within a test session."""

    def __call__(self, prefix: str = "1", city: str = "320400") -> str:
        return f"RT{city}-{beijing_today():%Y%m%d}-{prefix}{next(_serial) % 100000:05d}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test's processes (skipped when no server answers)."""
    reason = pg_unavailable()
    if reason:
        pytest.skip(reason)
    with pg_schema() as url:
        yield url
