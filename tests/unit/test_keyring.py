"""The hub's key ring: both suites' keys, rotation with an overlap window, retirement."""
import os

import pytest

from hub.security import keys
from hub.security.keyring import HubKeyRing


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ring(tmp_path, clock) -> HubKeyRing:
    r = HubKeyRing(tmp_path / "keys", clock=clock, reload_s=0)
    assert r.ensure() == ["intl", "sm"]
    return r


def test_both_suites_have_a_current_key_and_are_published(ring):
    intl, sm = ring.current("intl"), ring.current("sm")
    assert keys.suite_of(intl.private) == "intl" and keys.suite_of(sm.private) == "sm"
    assert list(ring.published()) == [intl.keyid, sm.keyid]
    assert [k["kty"] for k in ring.jwks()["keys"]] == ["OKP", "EC"]
    assert ring.ensure() == []  # idempotent


def test_rotation_publishes_both_signs_with_the_new_and_retires_the_old(ring, clock, tmp_path):
    old = ring.current("sm")
    old_kid, new_kid = ring.rotate("sm", overlap_s=600, sign_lead_s=5)
    assert old_kid == old.keyid and new_kid != old_kid
    assert ring.current("sm").keyid == new_kid
    assert set(ring.published()) == {ring.current("intl").keyid, old_kid, new_kid}

    # for a few seconds the old key still signs, so every process and receiver can see the new
    assert ring.signer("sm").keyid == old_kid
    clock.t += 5
    assert ring.signer("sm").keyid == new_kid
    assert ring.signer("intl").keyid == ring.current("intl").keyid  # the other suite untouched

    states = {r["keyid"]: r["state"] for r in ring.status()}
    assert states[old_kid] == "retiring" and states[new_kid] == "current"

    clock.t += 600  # the overlap window is over
    assert set(ring.published()) == {ring.current("intl").keyid, new_kid}
    assert not any((tmp_path / "keys" / "retiring").glob(f"{old_kid}*"))  # private key gone


def test_another_process_sees_a_rotation(ring, clock, tmp_path):
    other = HubKeyRing(tmp_path / "keys", clock=clock, reload_s=0)
    before = other.current("intl").keyid
    _, new_kid = ring.rotate("intl", overlap_s=60, sign_lead_s=1)
    assert other.current("intl").keyid == new_kid
    assert other.signer("intl").keyid == before
    clock.t += 1
    assert other.signer("intl").keyid == new_kid
    assert before in other.published()


def test_key_age_is_reported(ring, clock, tmp_path):
    path = tmp_path / "keys" / "hub.private.pem"
    os.utime(path, (clock.t - 86400 * 10, clock.t - 86400 * 10))
    ring.refresh(force=True)
    ages = {r["suite"]: r["age_s"] for r in ring.status() if r["state"] == "current"}
    assert ages["intl"] == pytest.approx(86400 * 10, abs=1)


def test_overlap_must_outlast_the_signing_lead(ring):
    with pytest.raises(ValueError):
        ring.rotate("intl", overlap_s=1, sign_lead_s=5)
