"""Fixtures for end-to-end tests: real processes over real HTTP (see mock_departments.launcher)."""
from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from datetime import date

import pytest

from mock_departments.launcher import Stack

_serial = itertools.count(os.getpid() % 1000 * 100 + 1)


@pytest.fixture(scope="module")
def e2e_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The hub, the HRSS stand-in and the four simple departments, shared by a test module.

    The medical department reports `not_eligible` for case ids ending in -9xxxxx, so a test can
    drive the standalone path with `unique_case_id(prefix="9")`.
    """
    workdir = tmp_path_factory.mktemp("e2e-stack")
    stack = Stack(workdir, dept_args={
        "medical": ["--not-eligible", "medical_transfer:medical_contribution_years_short",
                    "--not-eligible-cases", "RT*-9?????"],
    })
    with stack:
        yield stack


@pytest.fixture
def unique_case_id() -> "CaseIds":
    return CaseIds()


class CaseIds:
    """Case ids like RT320400-20261125-1xxxxx, unique within a test session."""

    def __call__(self, prefix: str = "1", city: str = "320400") -> str:
        return f"RT{city}-{date.today():%Y%m%d}-{prefix}{next(_serial) % 100000:05d}"
