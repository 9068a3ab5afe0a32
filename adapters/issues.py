"""Problems an adapter finds: a stable code, Chinese and English messages, masked detail.

Each is reported to the hub against its case (`issue_reported`, contract `issue-report/1`) and
kept in the adapter's local error table; without a case id it stays local (and in the log).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import contracts
from hub.domain.idnumber import mask, mask_phone
from hub.logs import redact

ISSUE_EVENT_KEY = "issue_reported"
ISSUE_TYPE = contracts.event_type(ISSUE_EVENT_KEY)
ISSUE_CONTRACT = contracts.event_schema(ISSUE_EVENT_KEY)

# code -> (message_zh, message_en); `{city}` and `{unit}` are filled in where known.
CATALOGUE: dict[str, tuple[str, str]] = {
    "unknown_city": ("路由表中没有城市 {city} 的对接系统，事项无法转送",
                     "No city system is configured for city {city}; the item cannot be forwarded"),
    "payload_unconvertible": ("推送数据无法转换为城市系统的接口格式",
                              "The hub payload cannot be converted to the city system's interface"),
    "city_answer_invalid": ("城市系统的答复不符合其接口约定",
                            "The city system's answer does not fit its interface"),
    "city_rejected": ("城市系统拒收了转送的事项",
                      "The city system refused the forwarded item"),
    "city_unreachable": ("多次尝试后仍无法连接城市系统，将继续重试",
                         "The city system is unreachable after several attempts; still retrying"),
    "batch_row_invalid": ("城市系统结果文件中有无法识别的记录行",
                          "A row of the city system's result file cannot be read"),
    "batch_file_invalid": ("城市系统结果文件无法读取",
                           "The city system's result file cannot be read"),
    "progress_for_unknown_item": ("城市系统报告了未经本单位转送的事项进度",
                                  "The city system reported progress on an item this unit never "
                                  "forwarded"),
    "progress_conflict": ("城市系统报告的进度与已报告的结果矛盾",
                          "The city system's progress contradicts a result already reported"),
    "progress_invalid": ("城市系统的进度转换后不符合进度数据合同",
                         "The city system's progress does not satisfy the progress contract"),
    "answer_not_ours": ("城市系统的答复所指不是本单位向该市发出的事项，已拒收",
                        "A city answer does not name a request this unit sent to that city for "
                        "that case; refused"),
    "batch_file_refused": ("城市系统结果文件不是结果目录中的普通文件或超出大小限制，已拒收",
                           "A city result file is not a regular file inside the outbox or is too "
                           "large; refused"),
    "cancel_not_passed_on": ("事项取消通知无法转告城市系统，已在本单位记录",
                             "The cancellation could not be passed on to the city system; "
                             "recorded by the unit"),
}

_ID = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])|(?<![0-9])[0-9]{15}(?![0-9])")
_MOBILE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")


def mask_personal(text: str) -> str:
    """ID numbers, phones, addresses and bank cards in free text masked, for issue details."""
    text = _ID.sub(lambda m: mask(m.group(0)), text)
    return redact(_MOBILE.sub(lambda m: mask_phone(m.group(0)), text))


@dataclass(frozen=True)
class Issue:
    code: str
    message_zh: str
    message_en: str
    detail: str = ""

    @classmethod
    def of(cls, code: str, detail: str = "", **fill: str) -> Issue:
        zh, en = CATALOGUE[code]
        return cls(code, zh.format(**fill)[:500], en.format(**fill)[:500],
                   mask_personal(detail)[:2000])


class ConversionError(Exception):
    """A document that does not fit the interface it claims: a hub payload or a city answer."""

    def __init__(self, detail: str, code: str = "city_answer_invalid") -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail

    def issue(self, **fill: str) -> Issue:
        return Issue.of(self.code, self.detail, **fill)
