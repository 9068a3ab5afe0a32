"""Intake: ID numbers in stored form, annex 5 must describe the applicant, late months explained."""
from __future__ import annotations

import contracts
from hub.domain import idnumber
from hub.domain.rules import application_warnings, check_application

X_ID = "32040219660515005X"  # born 1966-05, male, check character X


def _app(**annex5):
    app = contracts.example("application")
    app["socialized_management"].update(annex5)
    return app


def test_lower_case_x_is_made_upper_case_wherever_an_id_number_is():
    doc = {"applicant": {"id_number": X_ID.lower(), "name": "x"},
           "socialized_management": {"id_number": X_ID.lower(),
                                     "spouse": [{"id_number": X_ID.lower()}]},
           "note": "320402196605150x5"}
    out = idnumber.normalise_in(doc)
    assert out["applicant"]["id_number"] == X_ID
    assert out["socialized_management"]["id_number"] == X_ID
    assert out["socialized_management"]["spouse"][0]["id_number"] == X_ID
    assert out["note"] == doc["note"]                       # not an id_number field
    assert doc["applicant"]["id_number"] == X_ID.lower()    # the input is not changed
    assert idnumber.normalise_in({"id_number": "not-an-id"}) == {"id_number": "not-an-id"}


def test_the_example_annex_5_matches_its_applicant():
    assert check_application(contracts.example("application")) == []


def test_each_annex_5_mismatch_has_its_own_code_and_path():
    other = "11010519491231002X"  # another person's valid number (GB 11643's own example)
    assert idnumber.is_valid(other)
    got = {(p.code, p.path) for p in check_application(
        _app(id_number=other, name="李四", birth_month="1966-06", sex="female"))}
    assert got == {("annex5_id_number_mismatch", "$.socialized_management.id_number"),
                   ("annex5_name_mismatch", "$.socialized_management.name"),
                   ("annex5_birth_month_mismatch", "$.socialized_management.birth_month"),
                   ("annex5_sex_mismatch", "$.socialized_management.sex")}


def test_annex_5_mismatch_messages_never_repeat_the_personal_data():
    other = "11010519491231002X"
    for p in check_application(_app(id_number=other, name="李四")):
        assert other not in p.message + p.message_zh and "李四" not in p.message + p.message_zh
        assert p.message and p.message_zh


def test_annex_5_with_a_lower_case_x_of_the_same_number_matches():
    app = _app(id_number=X_ID.lower())
    app["applicant"]["id_number"] = X_ID
    assert not [p for p in check_application(app) if p.code.startswith("annex5")]


def test_later_than_legal_without_flexible_late_is_accepted_with_a_warning():
    app = contracts.example("application")  # man born 1966-05: legal month 2026-10
    assert application_warnings(app) == []
    app["retirement"]["month"] = "2027-04"
    assert check_application(app) == []  # not refused: extending contributions is legitimate
    (w,) = application_warnings(app)
    assert w.code == "retirement_after_legal_month" and w.path == "$.retirement.month"
    assert "6 months" in w.message and "延长缴费" in w.message_zh
    app["retirement"]["flexible"] = "late"
    assert application_warnings(app) == [] and check_application(app) == []
