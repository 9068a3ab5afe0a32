"""Personal data in the console: masked by default, shown in clear only on an audited reveal."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

PERSONAL_KEYS = frozenset({"name", "id_number", "mobile", "phone", "household_address",
                           "residence_address", "address", "contact_phone", "personal_number"})
LABELS = {"name": ("姓名", "Name"), "id_number": ("身份证号码", "ID number"),
          "mobile": ("手机号码", "Mobile"), "phone": ("电话", "Phone"),
          "household_address": ("户籍地址", "Household address"),
          "residence_address": ("居住地址", "Residence address"), "address": ("地址", "Address"),
          "contact_phone": ("联系电话", "Contact phone"),
          "personal_number": ("个人编号", "Personal number")}


def mask(key: str, value: Any) -> str:
    text = str(value)
    if not text:
        return ""
    if key in ("id_number", "personal_number"):
        return text[:4] + "*" * max(0, len(text) - 8) + text[-4:] if len(text) > 8 else "****"
    if key in ("mobile", "phone", "contact_phone"):
        return text[:3] + "****" + text[-4:] if len(text) >= 8 else "****"
    if key == "name":
        return text[0] + "*" * max(1, len(text) - 1)
    return text[:6] + "****"  # addresses: the province and city are enough to place it


def personal_fields(doc: Any, path: str = "$") -> Iterator[tuple[str, str, Any]]:
    """(JSON path, key, value) of every personal value in a document."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            p = f"{path}.{k}"
            if k in PERSONAL_KEYS and isinstance(v, (str, int)):
                yield p, k, v
            else:
                yield from personal_fields(v, p)
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from personal_fields(v, f"{path}[{i}]")


def table(doc: Any, reveal: bool) -> list[dict[str, str]]:
    return [{"path": p, "key": k, "label_zh": LABELS.get(k, (k, k))[0],
             "label_en": LABELS.get(k, (k, k))[1],
             "value": str(v) if reveal else mask(k, v)} for p, k, v in personal_fields(doc)]
