"""`stopit trace` works on any file with no configuration, and analysis is stored at intake."""

from __future__ import annotations

import json

from click.testing import CliRunner

from stopit_mail.app import App
from stopit_mail.cli import main
from stopit_mail.ingest.service import ingest_paths

from conftest import EXAMPLES, FIXTURES

ORIGINAL = (EXAMPLES / "01-attached-original.eml").read_bytes().split(b'filename="original.eml"\r\n\r\n')[1]


def test_trace_json_needs_no_config(tmp_path) -> None:  # type: ignore[no-untyped-def]
    message = tmp_path / "m.eml"
    message.write_bytes(ORIGINAL)
    result = CliRunner().invoke(main, ["-c", str(tmp_path / "absent.toml"), "trace", str(message), "--json",
                                       "--offline", "--trusted", "mx.example.edu", "--trusted", "mail.example.edu"])
    assert result.exit_code == 0, result.output
    analysis = json.loads(result.output)
    assert [hop["from_ip"] for hop in analysis["trace"]["hops"]] == ["203.0.113.77", "198.51.100.25", "192.0.2.10"]
    assert analysis["trace"]["origin"]["ip"] == "198.51.100.25"
    assert analysis["trace"]["origin"]["confidence"] == "confirmed"
    assert analysis["trace"]["originating_claims"][0]["header"] == "X-Originating-IP"
    assert analysis["auth"]["summary"] == "No DKIM signature."


def test_trace_readable_report_and_stdin() -> None:
    result = CliRunner().invoke(main, ["trace", "-", "--offline"], input=ORIGINAL, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Received chain, sender first" in result.output and "Origin: 203.0.113.77" in result.output
    # With no trusted relays, trust runs down through non-public (here documentation) addresses,
    # so the verdict is honest about not knowing an Internet origin.
    assert "confidence unknown" in result.output


def test_trace_reports_dkim_offline_as_temperror() -> None:
    signed = next((FIXTURES / "dkim").rglob("*.eml"), None)
    assert signed is not None
    result = CliRunner().invoke(main, ["trace", str(signed), "--offline", "--json"])
    verdicts = {sig["verdict"] for sig in json.loads(result.output)["auth"]["dkim"]}
    assert verdicts <= {"temperror", "permerror", "policy"} and verdicts


def test_analysis_is_stored_with_the_evidence_and_shown(app: App) -> None:
    ingest_paths(app, [str(EXAMPLES)])
    config = str(app.settings.base_dir / "stopit.toml")
    cases = json.loads(CliRunner().invoke(main, ["-c", config, "cases", "list", "--json"]).output)
    by_title = {c["title"]: c["number"] for c in cases}
    detail = json.loads(CliRunner().invoke(main, ["-c", config, "cases", "show", by_title["you'll regret this"],
                                                  "--json"]).output)
    full = detail["evidence"][0]
    assert full["analysis"]["verifiable"] is True and len(full["analysis"]["trace"]["hops"]) == 3
    pasted = json.loads(CliRunner().invoke(main, ["-c", config, "cases", "show", by_title["watch your back"],
                                                  "--json"]).output)["evidence"]
    headers_item = next(e for e in pasted if e["completeness"] == "headers")
    assert headers_item["analysis"]["source"] == "pasted headers" and headers_item["analysis"]["verifiable"] is False
    forward = json.loads(CliRunner().invoke(main, ["-c", config, "cases", "show", by_title["pictures"], "--json"]).output)
    assert forward["evidence"][0]["analysis"]["auth"]["summary"].startswith("not verifiable (forwarded inline)")


def test_trace_of_a_report_traces_the_forwarded_original_and_says_so() -> None:
    report = EXAMPLES / "01-attached-original.eml"
    result = CliRunner().invoke(main, ["trace", str(report), "--offline", "--json"])
    assert result.exit_code == 0, result.output
    analysis = json.loads(result.output)
    assert analysis["traced"].startswith("forwarded original 1: attached message (original bytes) at MIME part")
    # The original's chain, not the reporter's own delivery.
    assert [hop["from_ip"] for hop in analysis["trace"]["hops"]] == ["203.0.113.77", "198.51.100.25", "192.0.2.10"]
    wrapper = json.loads(CliRunner().invoke(main, ["trace", str(report), "--offline", "--json", "--wrapper"]).output)
    assert wrapper["traced"] == "the message itself (the wrapper), as asked"
    assert [hop["from_ip"] for hop in wrapper["trace"]["hops"]] != [hop["from_ip"] for hop in analysis["trace"]["hops"]]
    readable = CliRunner().invoke(main, ["trace", str(report), "--offline"], env={"COLUMNS": "200"})
    assert "Traced: forwarded original 1" in readable.output


def test_trace_of_a_report_with_pasted_headers_traces_them() -> None:
    report = EXAMPLES / "03-pasted-headers.eml"
    analysis = json.loads(CliRunner().invoke(main, ["trace", str(report), "--offline", "--json"]).output)
    first = analysis if isinstance(analysis, dict) else analysis[0]
    assert "pasted headers" in first["traced"] and first["verifiable"] is False
