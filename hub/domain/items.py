"""A linked item's definition, typed: parsed and checked once when the catalog loads.

The definition itself is data (`contracts/items/*.json` or a registered version, validated
against the item-definition contract); this is its typed reading, so the aggregate never
guesses a field with a default the contract does not have.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import contracts

UNORDERED = 99  # where an item without an `order` sorts (the contract leaves `order` optional)


@dataclass(frozen=True)
class ItemDefinition:
    code: str
    name_zh: str
    member: str
    trigger: str            # item_trigger: the phase that dispatches or starts the item
    chosen: str             # item_chosen: always, or only when the applicant ticks it
    settled_by: str         # item_settled_by: the department, or the approval itself
    request_type: str | None
    payload_contract: str | None
    progress_contract: str | None
    projection: Mapping[str, str]
    statutory_working_days: int | None
    promised_working_days: int | None
    not_eligible: str       # item_not_eligible: standalone matter or failed
    cancel_on_refusal: bool
    order: int = UNORDERED
    name_en: str | None = None

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> ItemDefinition:
        """A definition already valid against the item-definition contract; a missing
        required field or a code outside the code lists is a ValueError, never a default."""
        try:
            deadlines = d["deadlines"]
            out = cls(
                code=d["code"], name_zh=d["name_zh"], member=d["member"],
                trigger=d["trigger"], chosen=d["chosen"], settled_by=d["settled_by"],
                request_type=d.get("request_type"),  # optional and nullable in the contract
                payload_contract=d["payload_contract"],
                progress_contract=d["progress_contract"],
                projection=MappingProxyType(dict(d["projection"])),
                statutory_working_days=deadlines.get("statutory_working_days"),
                promised_working_days=deadlines.get("promised_working_days"),
                not_eligible=d["not_eligible"], cancel_on_refusal=d["cancel_on_refusal"],
                order=d.get("order", UNORDERED), name_en=d.get("name_en"),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"item definition {d.get('code')!r} is incomplete: {exc}") from exc
        for field_name, code_list in (("trigger", "item_trigger"), ("chosen", "item_chosen"),
                                      ("settled_by", "item_settled_by"),
                                      ("not_eligible", "item_not_eligible")):
            if getattr(out, field_name) not in contracts.codes(code_list):
                raise ValueError(f"item definition {out.code!r}: {field_name} is not in "
                                 f"the {code_list} code list")
        return out

    @property
    def dispatched(self) -> bool:
        """Sent to its department (as opposed to settled by the approval itself)."""
        return self.settled_by == "department"

    @property
    def has_deadlines(self) -> bool:
        return bool(self.statutory_working_days or self.promised_working_days)
