"""The header analysis stored per piece of evidence: smaller, and read back exactly as computed.

Stored, the trace's hops are a table (keys once, values every hop shares once). Everything the
API, `stopit cases show` and the export give staff is the analysis as it was computed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select, update

from stopit_mail.app import App
from stopit_mail.cases.queries import case_detail
from stopit_mail.extract.evidence import extract_evidence
from stopit_mail.headers.analysis import analyse
from stopit_mail.headers.stored import compact, expand
from stopit_mail.models import Evidence
from stopit_mail.processing.rules import policy_for

from casework_helpers import ingest, latest_case
from conftest import EXAMPLES

REPO = Path(__file__).resolve().parent.parent
MESSAGES = sorted([*EXAMPLES.glob("*.eml"), *(REPO / "tests" / "fixtures" / "forwards").glob("*.eml")])
# Real Received chains of many servers (header sections only).
HEADERS = sorted((REPO / "tests" / "fixtures" / "received").glob("*.txt"))


def _analyses(app: App) -> list[tuple[str, dict]]:
    policy = policy_for(app.settings)
    found = [(path.name, analyse(path.read_bytes(), policy)) for path in HEADERS]
    for path in MESSAGES:
        for item in extract_evidence(path.read_bytes()).items:
            if item.content is not None and item.is_message:
                found.append((f"{path.name}:{item.mime_path}", analyse(item.content, policy)))
    return found


def test_the_stored_form_gives_back_every_analysis_exactly_and_is_smaller(app: App) -> None:
    analyses = _analyses(app)
    assert len(analyses) >= 3
    for name, analysis in analyses:
        computed = json.dumps(analysis)
        stored = json.dumps(compact(analysis))
        assert json.dumps(analysis) == computed, name  # the analysis given is not changed
        # Through JSON, as the database keeps it: the same text, key order included.
        assert json.dumps(expand(json.loads(stored))) == computed, name
        assert len(stored) <= len(computed), name
        if len(analysis["trace"]["hops"]) >= 4:  # real chains of 4 to 15 hops: 10% to 30% smaller
            assert len(stored) < 0.9 * len(computed), name


def test_equal_values_of_other_types_are_kept_as_they_were() -> None:
    analysis = {"trace": {"hops": [{"a": 1, "b": [], "c": None}, {"a": True, "b": [], "c": 1.0},
                                   {"a": 1.0, "b": [], "c": None}], "origin": {"ip": None}}, "auth": {}}
    again = expand(json.loads(json.dumps(compact(analysis))))
    assert json.dumps(again) == json.dumps(analysis)
    assert again is not None
    hops = again["trace"]["hops"]
    hops[0]["b"].append("x")  # a value every hop shared is each hop's own once read
    assert hops[1]["b"] == []


@pytest.mark.parametrize("stored", [None, {}, {"verifiable": False, "source": "inline forward"},
                                    {"trace": {"hops": []}}, {"trace": {"hops": [{"a": 1}, {"a": 1}]}},
                                    {"trace": {"hops": [{"a": 1}, {"b": 2}, {"a": 1}]}}])
def test_what_has_no_table_of_hops_is_stored_and_read_as_it_is(stored: dict | None) -> None:
    assert compact(stored) == stored
    assert expand(stored) == stored


def test_staff_read_the_analysis_as_computed_and_older_rows_as_they_were(app: App) -> None:
    ingest(app, (EXAMPLES / "01-attached-original.eml").read_bytes())
    number = latest_case(app).number
    with app.factory() as session:
        row = session.scalars(select(Evidence).where(Evidence.analysis.is_not(None))).one()
        stored, content = row.analysis, row.content
    assert stored is not None and content is not None
    assert "hops" not in stored["trace"] and "hops_table" in stored["trace"]
    fresh = analyse(content, policy_for(app.settings))
    with app.factory() as session:
        shown = case_detail(session, number)["evidence"]
    analysis = next(e["analysis"] for e in shown if e["analysis"])
    assert analysis["trace"]["hops"] == fresh["trace"]["hops"]
    assert {k: v for k, v in analysis["trace"].items() if k != "hops"} == {
        k: v for k, v in fresh["trace"].items() if k != "hops"}
    # A row stored before the table (the analysis whole) is shown as it is.
    with app.factory() as session, session.begin():
        session.execute(update(Evidence).where(Evidence.analysis.is_not(None)).values(analysis=fresh))
    with app.factory() as session:
        shown = case_detail(session, number)["evidence"]
    assert next(e["analysis"] for e in shown if e["analysis"]) == fresh
