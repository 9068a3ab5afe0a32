"""Contract tests: the schemas, item definitions, events and examples in contracts/ agree."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

import contracts
from hub.domain.projection import unescape

CONTRACTS_DIR = Path(contracts.__file__).parent
SCHEMA_FILES = sorted((CONTRACTS_DIR / "schemas").glob("*/*.json"))
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"

SUBJECTS = {
    "codes",
    "socialized-management-info",
    "application",
    "approval-result",
    "progress",
    "case-status",
    "item-cancelled",
    "supervision-notice",
    "socialized-management-request",
    "hpf-withdrawal-request",
    "medical-transfer-request",
    "only-child-certificate-request",
    "issue-report",
    "item-definition",
}
ITEM_CODES = [
    "retirement_approval",
    "pension_verification",
    "retirement_certificate",
    "socialized_management",
    "hpf_withdrawal",
    "medical_transfer",
    "only_child_certificate",
]
MEMBERS = {"hrss", "community", "hpf", "medical", "health"}
CONDITIONAL_KEYWORDS = {"if", "then", "else", "not", "contains", "dependentSchemas"}


# ---------------------------------------------------------------- helpers


def subject_of_example(name: str) -> str:
    """`application-annex4` -> `application`: the longest subject the example name starts with."""
    candidates = [s for s in SUBJECTS if name == s or name.startswith(s + "-")]
    assert candidates, f"example {name} names no subject"
    return max(candidates, key=len)


def walk(node: Any, pointer: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every structural subschema (skipping conditional branches, which only constrain)."""
    if isinstance(node, dict):
        yield pointer, node
        for key, value in node.items():
            if key in CONDITIONAL_KEYWORDS or key in ("x-labels", "enum", "const", "default"):
                continue
            if key in ("properties", "$defs"):
                for name, sub in value.items():
                    yield from walk(sub, f"{pointer}/{key}/{name}")
            elif key in ("items", "additionalProperties") and isinstance(value, dict):
                yield from walk(value, f"{pointer}/{key}")
            elif key in ("allOf", "anyOf", "oneOf", "prefixItems"):
                for i, sub in enumerate(value):
                    yield from walk(sub, f"{pointer}/{key}/{i}")


def all_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from all_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from all_refs(value)


def pointer_get(doc: Any, pointer: str) -> Any:
    node = doc
    for token in pointer.split("/")[1:]:
        token = unescape(token)
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


def pointer_set(doc: dict[str, Any], pointer: str, value: Any) -> None:
    tokens = [unescape(t) for t in pointer.split("/")[1:]]
    node: Any = doc
    for token in tokens[:-1]:
        node = node[int(token)] if isinstance(node, list) else node.setdefault(token, {})
    if isinstance(node, list):
        node[int(tokens[-1])] = value
    else:
        node[tokens[-1]] = value


def case_document() -> dict[str, Any]:
    """The case document items project from, built from the Changzhou examples."""
    return {
        "case_id": contracts.example("case-status")["case_id"],
        "city_code": contracts.example("application")["city_code"],
        "application": contracts.example("application"),
        "approval": contracts.example("approval-result"),
    }


def project(projection: dict[str, str], case: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for target, source in projection.items():
        pointer_set(payload, target, copy.deepcopy(pointer_get(case, source)))
    return payload


# ---------------------------------------------------------------- schema files


def test_every_design_subject_has_a_contract() -> None:
    subjects = {f.parent.name for f in SCHEMA_FILES}
    assert SUBJECTS <= subjects
    assert {contracts.schema_id(s) for s in SUBJECTS} <= set(contracts.schemas())


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_schema_is_valid_2020_12_with_id_matching_its_path(path: Path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == DRAFT_2020_12
    version = int(path.stem)
    assert doc["$id"] == f"https://contracts.retirement.js.gov.cn/{path.parent.name}/{version}.json"
    assert doc["$id"] == contracts.schema_id(path.parent.name, version)
    assert doc.get("title") and re.search(r"[\u4e00-\u9fff]", doc["title"])


@pytest.mark.parametrize("sid", sorted(contracts.schemas()))
def test_objects_are_closed_and_every_property_has_a_chinese_title(sid: str) -> None:
    open_objects = {("https://contracts.retirement.js.gov.cn/case-status/1.json",
                     "/properties/items/items/properties/result")}
    for pointer, sub in walk(contracts.schemas()[sid]):
        if "propertyNames" in sub and "properties" not in sub:
            continue  # a map with constrained keys (the item projection), not a record
        if sub.get("type") == "object" or "properties" in sub:
            closed = (sid, pointer) not in open_objects
            assert sub.get("additionalProperties") is (not closed), (
                f"{sid}#{pointer} must set additionalProperties: {not closed}")
            for req in sub.get("required", []):
                assert req in sub.get("properties", {}), f"{sid}#{pointer} requires unknown {req}"
        for name, prop in sub.get("properties", {}).items():
            title = prop.get("title", "")
            assert re.search(r"[\u4e00-\u9fff]", title), f"{sid}#{pointer}/properties/{name} title"


@pytest.mark.parametrize("sid", sorted(contracts.schemas()))
def test_code_lists_live_only_in_codes(sid: str) -> None:
    if sid == contracts.schema_id("codes"):
        return
    for pointer, sub in walk(contracts.schemas()[sid]):
        assert "enum" not in sub, f"{sid}#{pointer} has an inline enum; put it in codes"


@pytest.mark.parametrize("sid", sorted(contracts.schemas()))
def test_every_ref_resolves(sid: str) -> None:
    resolver = contracts.registry().resolver(base_uri=sid)
    for ref in all_refs(contracts.schemas()[sid]):
        if ref.startswith("#"):
            assert sid != contracts.schema_id("codes")
        else:
            assert ref.startswith(contracts.BASE), f"{ref} is not an absolute contracts ref"
        resolved = resolver.lookup(ref).contents
        assert isinstance(resolved, dict) and resolved
        if "/codes/1.json#" in ref:
            assert resolved["type"] == "string" and "enum" in resolved


# ---------------------------------------------------------------- codes


def test_code_lists_have_the_expected_shape_and_labels() -> None:
    defs = contracts.schemas()[contracts.schema_id("codes")]["$defs"]
    for name, d in defs.items():
        assert d["type"] == "string", name
        assert len(d["enum"]) == len(set(d["enum"])), name
        assert set(d["x-labels"]) == set(d["enum"]), name
        for code, label in d["x-labels"].items():
            assert re.fullmatch(r"[a-z0-9_]+", code), (name, code)
            assert set(label) == {"zh", "en"} and label["zh"] and label["en"], (name, code)
        assert contracts.codes(name) == d["enum"]
        assert contracts.labels(name) == d["x-labels"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("item_code", ITEM_CODES),
        ("item_state", ["waiting", "dispatched", "delivered", "received", "in_progress",
                        "completed", "standalone", "cancelled", "failed"]),
        ("progress_status", ["received", "in_progress", "completed", "not_eligible", "failed"]),
        ("case_state", ["open", "closed"]),
        ("retirement_category", ["normal", "illness_retirement", "illness_resignation",
                                 "special_job_type_early"]),
        ("flexible", ["none", "early", "late"]),
        ("identity", ["cadre", "worker"]),
        ("post_type", ["management_technical", "other"]),
        ("sex", ["male", "female"]),
        ("decision", ["approved", "refused"]),
        ("special_job_kind", ["high_altitude", "heavy_labour", "underground", "high_temperature",
                              "harmful"]),
        ("health", ["normal", "seriously_ill"]),
        ("hobby", ["sports", "performing_arts", "chess_cards", "calligraphy_painting",
                   "photography", "fishing", "collecting", "writing", "handicrafts", "travel",
                   "public_welfare", "other"]),
        ("special_status", ["model_worker", "widowed_or_childless", "extreme_poverty",
                            "seriously_ill"]),
        ("residence_area", ["this_pooling_area", "elsewhere_in_city", "elsewhere_in_province",
                            "other_province", "hk_macao_taiwan", "abroad"]),
        ("spouse_status", ["employed", "no_occupation", "retired"]),
        ("contact_relation", ["child", "parent", "other"]),
    ],
)
def test_code_list_values(name: str, expected: list[str]) -> None:
    assert contracts.codes(name) == expected


def test_item_state_chinese_labels() -> None:
    zh = {c: label["zh"] for c, label in contracts.labels("item_state").items()}
    assert zh == {
        "waiting": "待触发", "dispatched": "已推送", "delivered": "已送达", "received": "已接件",
        "in_progress": "办理中", "completed": "办结", "standalone": "转单独事项办理",
        "cancelled": "已取消", "failed": "失败",
    }


# ---------------------------------------------------------------- fixed key names


def _props(subject: str, *path: str) -> set[str]:
    node = contracts.schemas()[contracts.schema_id(subject)]
    for key in path:
        node = node["properties"][key]
        node = node.get("items", node)
    return set(node["properties"])


def test_application_key_names_are_the_agreed_ones() -> None:
    assert _props("application") == {
        "form", "city_code", "employer", "applicant", "retirement", "contribution_gaps",
        "work_history", "military_transfer_cadre", "senior_title", "special_job", "linked_items",
        "paper_certificate", "only_child_certificate", "socialized_management",
    }
    assert _props("application", "employer") == {"name", "number"}
    assert _props("application", "applicant") == {
        "personal_number", "name", "id_number", "sex", "ethnicity", "identity", "post_type",
        "household_address", "mobile", "birth_month", "work_start_month",
    }
    assert _props("application", "retirement") == {"category", "month", "legal_age", "flexible"}
    assert _props("application", "contribution_gaps") == {"from_month", "to_month", "reason"}
    assert _props("application", "work_history") == {"from_month", "to_month", "employer",
                                                     "position"}
    assert _props("application", "special_job") == {
        "kind", "special_work_years", "converted_years_before_1992", "mail_social_security_card"}


def test_annex5_carries_every_form_field_and_its_required_marks() -> None:
    info = contracts.schemas()[contracts.schema_id("socialized-management-info")]
    assert set(info["properties"]) == {
        "service_agency", "name", "sex", "birth_month", "id_number", "political_status",
        "education", "health", "employer", "file_location", "hobbies", "special_status",
        "residence", "spouse", "contact_1", "contact_2", "filler",
    }
    assert set(info["required"]) == {"name", "id_number", "political_status", "health",
                                     "residence", "contact_1"}
    assert _props("socialized-management-info", "service_agency") == {
        "city", "county", "street", "community"}
    assert _props("socialized-management-info", "residence") == {"area", "address", "phone",
                                                                 "postcode"}
    assert _props("socialized-management-info", "spouse") == {
        "name", "birth_month", "phone", "health", "employer", "status"}
    assert set(info["$defs"]["contact"]["properties"]) == {"name", "relation", "address", "phone",
                                                           "postcode"}


def test_result_contracts_key_names() -> None:
    assert _props("approval-result") == {"decision", "decided_at", "refusal_reason", "legal_age",
                                         "retirement_month", "pension", "certificate"}
    assert _props("approval-result", "pension") == {
        "start_month", "contribution_months", "base_wage", "average_index", "basic_pension",
        "account_balance", "payout_months", "account_pension", "monthly_total"}
    assert _props("progress") == {"item", "status", "occurred_at", "reason", "handler",
                                  "promised_date", "department_reference", "result"}
    assert _props("progress", "result") == {"note_zh", "note_en", "amount", "reference"}
    assert _props("case-status") == {"case_id", "city_code", "state", "updated_at", "items"}
    assert _props("case-status", "items") == {"code", "name_zh", "state", "state_zh", "reason",
                                              "updated_at", "deadlines", "result"}
    assert _props("item-cancelled") == {"item", "reason", "cancelled_at"}


# ---------------------------------------------------------------- examples


@pytest.mark.parametrize("name", contracts.example_names())
def test_example_validates_against_its_contract(name: str) -> None:
    v = contracts.validator(contracts.schema_id(subject_of_example(name)))
    errors = [f"{e.json_path}: {e.message}" for e in v.iter_errors(contracts.example(name))]
    assert errors == []


def test_every_data_subject_has_an_example() -> None:
    covered = {subject_of_example(n) for n in contracts.example_names()}
    assert covered == SUBJECTS - {"codes"}
    assert {"application-annex4", "approval-result-refused"} <= set(contracts.example_names())


Mutation = Callable[[dict[str, Any]], None]


def _drop(pointer: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        parent, _, last = pointer.rpartition("/")
        container = pointer_get(doc, parent)
        del container[int(last) if isinstance(container, list) else unescape(last)]
    return mutate


def _set(pointer: str, value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        pointer_set(doc, pointer, copy.deepcopy(value))
    return mutate


def _append(pointer: str, value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        pointer_get(doc, pointer).append(value)
    return mutate


MUTATIONS: list[tuple[str, str, Mutation, str, str]] = [
    # example, label, mutation, expected json_path, expected failing keyword
    ("application", "id removed", _drop("/applicant/id_number"), "$.applicant", "required"),
    ("application", "wrong sex", _set("/applicant/sex", "man"), "$.applicant.sex", "enum"),
    ("application", "extra applicant field", _set("/applicant/nickname", "x"), "$.applicant",
     "additionalProperties"),
    ("application", "extra top-level field", _set("/case_id", "RT1"), "$", "additionalProperties"),
    ("application", "short id", _set("/applicant/id_number", "3204021966"),
     "$.applicant.id_number", "pattern"),
    ("application", "bad mobile", _set("/applicant/mobile", "23800000001"), "$.applicant.mobile",
     "pattern"),
    ("application", "month 13", _set("/applicant/birth_month", "1966-13"),
     "$.applicant.birth_month", "pattern"),
    ("application", "city code", _set("/city_code", "3204"), "$.city_code", "pattern"),
    ("application", "legal age months 12", _set("/retirement/legal_age/months", 12),
     "$.retirement.legal_age.months", "maximum"),
    ("application", "legal age years float", _set("/retirement/legal_age/years", 60.5),
     "$.retirement.legal_age.years", "type"),
    ("application", "flexible", _set("/retirement/flexible", "sometimes"),
     "$.retirement.flexible", "enum"),
    ("application", "duplicate linked item", _append("/linked_items", "hpf_withdrawal"),
     "$.linked_items", "uniqueItems"),
    ("application", "unknown linked item", _append("/linked_items", "lottery"),
     "$.linked_items[4]", "enum"),
    ("application", "annex 5 missing", _drop("/socialized_management"), "$", "required"),
    ("application", "special job on annex 3",
     _set("/special_job", {"kind": "underground", "special_work_years": 9,
                           "converted_years_before_1992": 0, "mail_social_security_card": False}),
     "$", "not"),
    ("application", "annex4 form for normal", _set("/form", "annex4"), "$.form", "const"),
    ("application", "gap without reason", _drop("/contribution_gaps/0/reason"),
     "$.contribution_gaps[0]", "required"),
    ("application", "annex 5 residence area", _drop("/socialized_management/residence/area"),
     "$.socialized_management.residence", "required"),
    ("application", "annex 5 hobby", _set("/socialized_management/hobbies", ["knitting"]),
     "$.socialized_management.hobbies[0]", "enum"),
    ("application", "annex 5 contact relation",
     _set("/socialized_management/contact_1/relation", "friend"),
     "$.socialized_management.contact_1.relation", "enum"),
    ("application-annex4", "special job missing", _drop("/special_job"), "$", "required"),
    ("application-annex4", "annex3 form", _set("/form", "annex3"), "$.form", "const"),
    ("application-annex4", "special job kind", _set("/special_job/kind", "mining"),
     "$.special_job.kind", "enum"),
    ("application-annex4", "special job extra", _set("/special_job/bonus", 1), "$.special_job",
     "additionalProperties"),
    ("socialized-management-info", "contact 1 missing", _drop("/contact_1"), "$", "required"),
    ("socialized-management-info", "political status", _set("/political_status", "member"),
     "$.political_status", "enum"),
    ("socialized-management-info", "health", _drop("/health"), "$", "required"),
    ("socialized-management-info", "postcode", _set("/residence/postcode", "21300"),
     "$.residence.postcode", "pattern"),
    ("approval-result", "pension missing", _drop("/pension"), "$", "required"),
    ("approval-result", "certificate missing", _drop("/certificate"), "$", "required"),
    ("approval-result", "refusal reason on approval",
     _set("/refusal_reason", {"message_zh": "无"}), "$", "not"),
    ("approval-result", "money precision", _set("/pension/basic_pension", 3052.505),
     "$.pension.basic_pension", "multipleOf"),
    ("approval-result", "negative money", _set("/pension/account_pension", -1),
     "$.pension.account_pension", "minimum"),
    ("approval-result", "months not integer", _set("/pension/contribution_months", 495.5),
     "$.pension.contribution_months", "type"),
    ("approval-result", "decided_at not date-time", _set("/decided_at", "2026-09-22 10:30"),
     "$.decided_at", "format"),
    ("approval-result", "decision", _set("/decision", "maybe"), "$.decision", "enum"),
    ("approval-result-refused", "refusal reason missing", _drop("/refusal_reason"), "$",
     "required"),
    ("approval-result-refused", "certificate on refusal",
     _set("/certificate", {"number": "X1", "paper_copy": False}), "$", "not"),
    ("approval-result-refused", "reason message_zh missing",
     _drop("/refusal_reason/message_zh"), "$.refusal_reason", "required"),
    ("progress", "status", _set("/status", "done"), "$.status", "enum"),
    ("progress", "not eligible without reason", _set("/status", "not_eligible"), "$",
     "required"),
    ("progress", "failed without reason", _set("/status", "failed"), "$", "required"),
    ("progress", "result extra", _set("/result/bank_card", "6222"), "$.result",
     "additionalProperties"),
    ("progress", "promised date", _set("/promised_date", "2026-02-30"), "$.promised_date",
     "format"),
    ("progress", "occurred_at", _set("/occurred_at", "yesterday"), "$.occurred_at", "format"),
    ("progress", "item", _set("/item", "lottery"), "$.item", "enum"),
    ("progress-not-eligible", "reason removed", _drop("/reason"), "$", "required"),
    ("case-status", "item state", _set("/items/0/state", "finished"), "$.items[0].state", "enum"),
    ("case-status", "deadline extra", _set("/items/0/deadlines/grace", "2026-10-01"),
     "$.items[0].deadlines", "additionalProperties"),
    ("case-status", "case state missing", _drop("/state"), "$", "required"),
    ("case-status", "case state", _set("/state", "half_open"), "$.state", "enum"),
    ("item-cancelled", "item", _set("/item", "lottery"), "$.item", "enum"),
    ("item-cancelled", "reason missing", _drop("/reason"), "$", "required"),
    ("hpf-withdrawal-request", "no mobile for hpf (minimisation)",
     _set("/person/mobile", "13800000001"), "$.person", "additionalProperties"),
    ("hpf-withdrawal-request", "no pension for hpf", _set("/contribution_months", 495), "$",
     "additionalProperties"),
    ("hpf-withdrawal-request", "decided_at", _drop("/approval_decided_at"), "$", "required"),
    ("medical-transfer-request", "no employer name for medical",
     _set("/employer/name", "常州示例机械有限公司"), "$.employer", "additionalProperties"),
    ("medical-transfer-request", "contribution months", _drop("/contribution_months"), "$",
     "required"),
    ("only-child-certificate-request", "holds certificate type",
     _set("/holds_certificate", "yes"), "$.holds_certificate", "type"),
    ("only-child-certificate-request", "no birth month for health",
     _set("/person/birth_month", "1966-05"), "$.person", "additionalProperties"),
    ("socialized-management-request", "info name", _drop("/info/name"), "$.info", "required"),
]


@pytest.mark.parametrize(
    ("name", "mutate", "json_path", "keyword"),
    [(n, m, p, k) for n, _, m, p, k in MUTATIONS],
    ids=[f"{n}:{label}" for n, label, *_ in MUTATIONS],
)
def test_mutated_example_fails_where_expected(
    name: str, mutate: Mutation, json_path: str, keyword: str
) -> None:
    doc = contracts.example(name)
    mutate(doc)
    v = contracts.validator(contracts.schema_id(subject_of_example(name)))
    errors = {(e.json_path, e.validator) for e in v.iter_errors(doc)}
    assert (json_path, keyword) in errors, errors


def test_money_with_two_decimals_is_valid_even_where_floats_are_inexact() -> None:
    doc = contracts.example("approval-result")
    for value in (1079.14, 0.07, 0.29, 4347.46, 3052.5, 8000):
        doc["pension"]["account_pension"] = value
        assert contracts.validator("approval-result").is_valid(doc), value


def test_lower_case_check_character_is_accepted() -> None:
    doc = contracts.example("hpf-withdrawal-request")
    doc["person"]["id_number"] = "11010519491231002x"
    assert contracts.validator("hpf-withdrawal-request").is_valid(doc)


# ---------------------------------------------------------------- domain rules in the examples

WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def id_check_char(first17: str) -> str:
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def add_months(year_month: str, months: int) -> str:
    y, m = map(int, year_month.split("-"))
    total = y * 12 + (m - 1) + months
    return f"{total // 12:04d}-{total % 12 + 1:02d}"


def statutory_age_months(sex: str, identity: str, post_type: str, birth_month: str) -> int:
    """DOMAIN.md section 2 (normal retirement)."""
    y, m = map(int, birth_month.split("-"))
    if sex == "male":
        original, first, step, max_delay = 60, 1965, 4, 36
    elif identity == "cadre" or post_type == "management_technical":
        original, first, step, max_delay = 55, 1970, 4, 36
    else:
        original, first, step, max_delay = 50, 1975, 2, 60
    i = (y - first) * 12 + (m - 1)
    delay = 0 if i < 0 else min(i // step + 1, max_delay)
    return original * 12 + delay


@pytest.mark.parametrize(
    ("sex", "identity", "post", "birth", "age", "retires"),
    [
        ("male", "worker", "other", "1964-12", (60, 0), "2024-12"),
        ("male", "worker", "other", "1965-01", (60, 1), "2025-02"),
        ("male", "worker", "other", "1966-05", (60, 5), "2026-10"),
        ("female", "cadre", "other", "1970-01", (55, 1), "2025-02"),
        ("female", "worker", "other", "1975-01", (50, 1), "2025-02"),
        ("female", "worker", "other", "1976-06", (50, 9), "2027-03"),
    ],
)
def test_domain_formula_reproduces_domain_md_examples(
    sex: str, identity: str, post: str, birth: str, age: tuple[int, int], retires: str
) -> None:
    months = statutory_age_months(sex, identity, post, birth)
    assert divmod(months, 12) == age
    assert add_months(birth, months) == retires


@pytest.mark.parametrize("name", ["application", "application-annex4"])
def test_application_examples_pass_the_domain_rules(name: str) -> None:
    app = contracts.example(name)
    a, r = app["applicant"], app["retirement"]
    idn = a["id_number"].upper()
    assert id_check_char(idn[:17]) == idn[17]
    assert f"{idn[6:10]}-{idn[10:12]}" == a["birth_month"]
    assert (int(idn[16]) % 2 == 1) == (a["sex"] == "male")
    assert idn[:4] == app["city_code"][:4]
    legal = r["legal_age"]["years"] * 12 + r["legal_age"]["months"]
    if r["category"] == "normal":
        assert legal == statutory_age_months(a["sex"], a["identity"], a["post_type"],
                                             a["birth_month"])
    elif r["category"] == "special_job_type_early":
        assert legal == (55 if a["sex"] == "male" else 45) * 12
        assert app["form"] == "annex4"
        minimum = {"high_altitude": 10, "heavy_labour": 10, "underground": 9,
                   "high_temperature": 9, "harmful": 8}[app["special_job"]["kind"]]
        assert app["special_job"]["special_work_years"] >= minimum
    assert r["month"] == add_months(a["birth_month"], legal)


def test_changzhou_example_chooses_every_optional_item_and_agrees_with_its_annex5() -> None:
    app = contracts.example("application")
    optional = {i["code"] for i in contracts.items() if i["chosen"] == "optional"}
    assert optional <= set(app["linked_items"])
    info = app["socialized_management"]
    assert info == contracts.example("socialized-management-info")
    for key in ("name", "id_number", "sex", "birth_month"):
        assert info[key] == app["applicant"][key]
    approval = contracts.example("approval-result")
    assert approval["retirement_month"] == app["retirement"]["month"]
    assert approval["legal_age"] == app["retirement"]["legal_age"]


def test_pension_example_follows_domain_formula() -> None:
    p = contracts.example("approval-result")["pension"]
    basic = round(p["base_wage"] * (1 + p["average_index"]) / 2
                  * p["contribution_months"] / 12 / 100, 2)
    assert basic == p["basic_pension"]
    assert round(p["account_balance"] / p["payout_months"], 2) == p["account_pension"]
    assert round(p["basic_pension"] + p["account_pension"], 2) == p["monthly_total"]


# ---------------------------------------------------------------- linked items

ITEM_DEFINITION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["code", "order", "name_zh", "name_en", "member", "trigger", "chosen",
                 "settled_by", "request_type", "payload_contract", "progress_contract",
                 "projection", "deadlines", "not_eligible", "cancel_on_refusal"],
    "properties": {
        "code": {"type": "string"},
        "order": {"type": "integer", "minimum": 1},
        "name_zh": {"type": "string", "minLength": 1},
        "name_en": {"type": "string", "minLength": 1},
        "member": {"enum": sorted(MEMBERS)},
        "trigger": {"enum": ["accepted", "approved"]},
        "chosen": {"enum": ["always", "optional"]},
        "settled_by": {"enum": ["department", "approval"]},
        "request_type": {"type": ["string", "null"]},
        "payload_contract": {"type": ["string", "null"]},
        "progress_contract": {"type": ["string", "null"]},
        "projection": {"type": "object", "additionalProperties": {"type": "string",
                                                                    "pattern": "^(/[^/]+)+$"},
                       "propertyNames": {"pattern": "^(/[^/]+)+$"}},
        "deadlines": {
            "type": "object", "additionalProperties": False,
            "required": ["statutory_working_days", "promised_working_days"],
            "properties": {"statutory_working_days": {"type": "integer", "minimum": 1},
                           "promised_working_days": {"type": "integer", "minimum": 1}},
        },
        "not_eligible": {"enum": ["standalone", "failed"]},
        "cancel_on_refusal": {"type": "boolean"},
    },
}


def test_item_files_are_well_formed_and_match_item_codes() -> None:
    files = sorted((CONTRACTS_DIR / "items").glob("*.json"))
    assert [f.stem for f in files] == sorted(ITEM_CODES)
    for f in files:
        d = json.loads(f.read_text(encoding="utf-8"))
        Draft202012Validator(ITEM_DEFINITION).validate(d)
        assert d["code"] == f.stem
        assert d["deadlines"]["promised_working_days"] <= d["deadlines"]["statutory_working_days"]
    assert [i["code"] for i in contracts.items()] == ITEM_CODES
    assert [i["order"] for i in contracts.items()] == list(range(1, 8))
    assert contracts.codes("item_code") == ITEM_CODES
    for i in contracts.items():
        assert contracts.labels("item_code")[i["code"]] == {"zh": i["name_zh"], "en": i["name_en"]}


@pytest.mark.parametrize(
    ("code", "member", "trigger", "chosen", "settled_by", "not_eligible"),
    [
        ("retirement_approval", "hrss", "accepted", "always", "approval", None),
        ("pension_verification", "hrss", "approved", "always", "approval", None),
        ("retirement_certificate", "hrss", "approved", "always", "approval", None),
        ("socialized_management", "community", "accepted", "optional", "department", None),
        ("hpf_withdrawal", "hpf", "approved", "optional", "department", "standalone"),
        ("medical_transfer", "medical", "approved", "optional", "department", "standalone"),
        ("only_child_certificate", "health", "accepted", "always", "department", "failed"),
    ],
)
def test_item_routing_facts(code: str, member: str, trigger: str, chosen: str, settled_by: str,
                            not_eligible: str | None) -> None:
    d = contracts.item(code)
    assert (d["member"], d["trigger"], d["chosen"], d["settled_by"]) == (
        member, trigger, chosen, settled_by)
    if not_eligible:
        assert d["not_eligible"] == not_eligible
    assert d["cancel_on_refusal"] is (code != "retirement_approval")


@pytest.mark.parametrize("code", ITEM_CODES)
def test_item_contracts_resolve_and_projection_yields_a_valid_payload(code: str) -> None:
    d = contracts.item(code)
    known = contracts.schemas()
    assert d["progress_contract"] is None or d["progress_contract"] in known
    if d["settled_by"] == "approval":
        assert d["request_type"] is None and d["payload_contract"] is None
        # the projection shapes the item's result from HRSS's approval; every source exists
        case = case_document()
        for source in d["projection"].values():
            assert source.startswith("/approval/"), source
            pointer_get(case, source)
        return
    dashed = code.replace("_", "-")
    assert d["request_type"] == f"cn.gov.js.retirement.item.{dashed}.requested.v1"
    assert d["payload_contract"] == contracts.schema_id(f"{dashed}-request")
    assert d["payload_contract"] in known
    case = case_document()
    for _target, source in d["projection"].items():
        pointer_get(case, source)  # raises if the source is missing from a full case
        if d["trigger"] == "accepted":
            assert not source.startswith("/approval"), f"{code} runs before approval: {source}"
    payload = project(d["projection"], case)
    errors = [f"{e.json_path}: {e.message}"
              for e in contracts.validator(d["payload_contract"]).iter_errors(payload)]
    assert errors == []
    assert payload == contracts.example(f"{dashed}-request")


@pytest.mark.parametrize("code", [c for c in ITEM_CODES
                                  if contracts.item(c)["settled_by"] == "department"])
def test_projection_fills_every_field_of_the_payload_contract(code: str) -> None:
    """Data minimisation both ways: the department gets all it needs and nothing else."""
    d = contracts.item(code)
    contract = contracts.schemas()[d["payload_contract"]]
    top = {t.split("/")[1] for t in d["projection"]}
    assert top == set(contract["properties"])


# ---------------------------------------------------------------- events


def test_events_name_existing_contracts() -> None:
    evs = contracts.events()
    keys = [e["key"] for e in evs]
    types = [e["type"] for e in evs]
    assert len(keys) == len(set(keys)) and len(types) == len(set(types))
    for e in evs:
        assert set(e) == {"key", "type", "dataschema", "published_by", "description_zh",
                          "description_en"}
        assert e["dataschema"] in contracts.schemas(), e
        assert re.fullmatch(r"cn\.gov\.js\.retirement\.[a-z0-9.-]+\.v\d+", e["type"]), e
        assert e["published_by"] in {"hrss", "department", "hub"}
        assert contracts.event_type(e["key"]) == e["type"]
        assert contracts.event_by_type(e["type"]) == e
    assert contracts.event_by_type("cn.gov.js.retirement.unknown.v1") is None


def test_design_event_types_are_present() -> None:
    expected = {
        "application_submitted": ("cn.gov.js.retirement.application.submitted.v1", "application"),
        "approval_decided": ("cn.gov.js.retirement.approval.decided.v1", "approval-result"),
        "item_progressed": ("cn.gov.js.retirement.item.progressed.v1", "progress"),
        "item_cancelled": ("cn.gov.js.retirement.item.cancelled.v1", "item-cancelled"),
        "case_status_changed": ("cn.gov.js.retirement.case.status-changed.v1", "case-status"),
        "issue_reported": ("cn.gov.js.retirement.case.issue-reported.v1", "issue-report"),
        "supervision_warned": ("cn.gov.js.retirement.item.supervision-warned.v1",
                               "supervision-notice"),
    }
    for i in contracts.items():
        if i["settled_by"] == "department":
            expected[f"{i['code']}_requested"] = (
                i["request_type"], i["payload_contract"].split("/")[-2])
    actual = {e["key"]: (e["type"], e["dataschema"].split("/")[-2]) for e in contracts.events()}
    assert actual == expected


# ---------------------------------------------------------------- loader API


def test_loader_api() -> None:
    assert contracts.schema_id("codes") == "https://contracts.retirement.js.gov.cn/codes/1.json"
    assert contracts.schema_id("progress", 2).endswith("/progress/2.json")
    with pytest.raises(KeyError):
        contracts.item("lottery")
    with pytest.raises(KeyError):
        contracts.event_type("nothing_happened")
    first = contracts.example("application")
    first["applicant"]["name"] = "changed"
    assert contracts.example("application")["applicant"]["name"] != "changed"
    assert contracts.validator("progress") is contracts.validator(contracts.schema_id("progress"))
    ref = {"$ref": "https://contracts.retirement.js.gov.cn/codes/1.json#/$defs/sex"}
    assert contracts.registry().resolver().lookup(ref["$ref"]).contents["enum"] == ["male",
                                                                                    "female"]


# ---------------------------------------------------------------- fast validator parity


@pytest.mark.parametrize(
    ("name", "mutate"),
    [(n, m) for n, _, m, _, _ in MUTATIONS],
    ids=[f"{n}:{label}" for n, label, *_ in MUTATIONS],
)
def test_the_fast_validator_refuses_what_the_reference_refuses(name: str, mutate: Mutation) -> None:
    """The hub takes its verdict from jsonschema-rs and its explanation from jsonschema: both
    must agree on every example and every mutation of it."""
    from hub.registry.catalog import Catalog

    snap = _fast_snapshot(Catalog)
    sid = contracts.schema_id(subject_of_example(name))
    good = contracts.example(name)
    assert snap.is_valid(sid, good) and contracts.validator(sid).is_valid(good)
    bad = contracts.example(name)
    mutate(bad)
    assert not snap.is_valid(sid, bad)
    assert not contracts.validator(sid).is_valid(bad)


def test_the_fast_validator_accepts_exact_money_and_lower_case_x() -> None:
    from hub.registry.catalog import Catalog

    snap = _fast_snapshot(Catalog)
    doc = contracts.example("approval-result")
    for value in (1079.14, 0.07, 0.29, 4347.46, 3052.5, 8000):
        doc["pension"]["account_pension"] = value
        assert snap.is_valid(contracts.schema_id("approval-result"), doc), value
    doc["pension"]["account_pension"] = 10.001
    assert not snap.is_valid(contracts.schema_id("approval-result"), doc)
    assert not contracts.validator("approval-result").is_valid(doc)
    doc = contracts.example("progress")
    doc["occurred_at"] = "25 Nov 2026"
    assert not snap.is_valid(contracts.schema_id("progress"), doc)


def _fast_snapshot(catalog_cls: Any) -> Any:
    from referencing import Registry

    from hub.registry.catalog import Snapshot

    return Snapshot(revision=(0, 0), schemas=contracts.schemas(), states={}, configs={}, items=[],
                    item_versions={}, events=[], members={}, keys={}, registry=Registry())
