"""Item definitions are read once, typed, from the contracts; nothing is guessed."""

import pytest

import contracts
from hub.domain.items import UNORDERED, ItemDefinition


@pytest.mark.parametrize("code", [d["code"] for d in contracts.items()])
def test_every_shipped_definition_parses_to_what_it_says(code: str) -> None:
    raw = contracts.item(code)
    d = ItemDefinition.parse(raw)
    assert (d.code, d.member, d.trigger, d.settled_by) == (
        raw["code"], raw["member"], raw["trigger"], raw["settled_by"])
    assert d.cancel_on_refusal is raw["cancel_on_refusal"]
    assert d.request_type == raw["request_type"]
    assert dict(d.projection) == raw["projection"]
    assert d.statutory_working_days == raw["deadlines"].get("statutory_working_days")
    assert d.dispatched == (raw["settled_by"] == "department")


def test_a_definition_is_frozen() -> None:
    d = ItemDefinition.parse(contracts.item("hpf_withdrawal"))
    with pytest.raises(AttributeError):
        d.cancel_on_refusal = False  # type: ignore[misc]
    with pytest.raises(TypeError):
        d.projection["/x"] = "/y"  # type: ignore[index]


@pytest.mark.parametrize("field", ["cancel_on_refusal", "not_eligible", "deadlines", "trigger"])
def test_a_required_field_is_never_defaulted(field: str) -> None:
    raw = dict(contracts.item("hpf_withdrawal"))
    del raw[field]
    with pytest.raises(ValueError, match="hpf_withdrawal"):
        ItemDefinition.parse(raw)


def test_a_code_outside_its_code_list_is_refused() -> None:
    raw = {**contracts.item("hpf_withdrawal"), "trigger": "whenever"}
    with pytest.raises(ValueError, match="item_trigger"):
        ItemDefinition.parse(raw)


def test_order_is_optional_in_the_contract() -> None:
    raw = dict(contracts.item("hpf_withdrawal"))
    del raw["order"]
    assert ItemDefinition.parse(raw).order == UNORDERED


def test_request_types_come_from_the_contracts() -> None:
    for d in contracts.items():
        if d["request_type"]:
            assert contracts.request_type(d["code"]) == d["request_type"]
    # an eighth item registered later gets the same form
    assert contracts.request_type("social_security_card_mailing") == (
        contracts.request_type("hpf_withdrawal").replace(
            "hpf-withdrawal", "social-security-card-mailing"))


def test_a_code_outside_the_contracts_fails_where_it_is_named() -> None:
    assert contracts.code("item_state", "waiting") == "waiting"
    with pytest.raises(KeyError, match="progress_status"):
        contracts.code("progress_status", "half_done")
