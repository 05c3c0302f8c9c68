"""The plain-terminal view of one case, in the order a person paged at 2 a.m. reads it.

Urgency and why first, then what the reporter wrote, then each piece of evidence with its
words and how far it can be trusted, then the conversation and the timeline. Every string
that came from a message is passed through `markup_safe`: it was written by strangers.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from stopit_mail.textsafe import markup_safe as safe
from stopit_mail.textsafe import terminal_safe

# Long evidence bodies are cut here in the terminal view; `--json` and `--raw` have all of it.
MAX_TEXT_CHARS = 6000
CONVERSATION_ACTIONS = {
    "reply-received": "reply", "staff-reply-queued": "staff to reporter", "note-added": "staff note",
    "notice-queued": "notice to alleged sender", "referral-queued": "referral",
}
SEALED = "[identity sealed: `stopit reveal` with a reason]"


def _when(iso: str | None) -> str:
    return (iso or "")[:16].replace("T", " ")


def _cut(text: str | None) -> str:
    body = (text or "").strip()
    if len(body) > MAX_TEXT_CHARS:
        return body[:MAX_TEXT_CHARS] + f"\n… ({len(body) - MAX_TEXT_CHARS:,} more characters: use --json)"
    return body


def _words(text: str | None, empty: str = "(no text)") -> Text:
    """Message words as plain Text (no markup interpreted), control characters made visible."""
    body = _cut(text)
    return Text(terminal_safe(body) if body else empty, style="" if body else "dim")


def _head(detail: dict[str, Any]) -> Panel:
    triage = detail.get("triage") or {}
    lines = [f"[b]{detail['number']}[/b]   urgency: [b]{detail['urgency'].upper()}[/b]   status: {detail['status']}",
             f"why: {safe(triage.get('explanation') or 'not triaged yet')}",
             f"categories: {safe(', '.join(detail.get('categories') or []) or '-')}",
             f"organisation: {safe(detail['organisation'])}   assigned to: {safe(detail.get('assigned_to') or '-')}",
             f"opened: {_when(detail.get('opened_at'))}   updated: {_when(detail.get('updated_at'))}"]
    if detail.get("language"):
        lines.append(f"the reporter writes in: {safe(str(detail['language']))}")
    if detail.get("resolution"):
        lines.append(f"closed: {_when(detail.get('closed_at'))}  outcome: {safe(detail.get('outcome') or '-')}: "
                     f"{safe(detail['resolution'])}")
    if detail.get("merged_into"):
        lines.append(f"merged into {detail['merged_into']}")
    if detail.get("anonymous"):
        lines.append("the reporter asked to stay anonymous")
    return Panel("\n".join(lines), title=safe(detail.get("title") or ""), title_align="left")


def _reports(detail: dict[str, Any]) -> list[RenderableType]:
    from stopit_mail.cases.codes import format_code

    out: list[RenderableType] = [Text("What the reporter wrote", style="bold underline")]
    for rep in detail["reports"]:
        who = rep["reporter"]["address"] or rep["reporter"]["name"]
        if rep["anonymous"] and not who:
            who = f"anonymous (code {format_code(rep['code'])}) {SEALED}"
        if rep.get("sender_role") == "alleged-sender":
            who = f"THE ALLEGED SENDER, forwarding his own mail: {who}"
        meta = (f"report {rep['id']}, received {_when(rep['received_at'])}, from {safe(who or '(unknown)')}\n"
                f"subject: {safe(rep['subject'])}")
        out.append(Panel(Group(Text.from_markup(meta, style="dim"), _words(rep.get("wrapper_text"))), expand=True))
    return out


def _people(pairs: list[Any] | None) -> str:
    """[[name, address], ...] as 'Name <address>, ...'."""
    shown = []
    for pair in pairs or []:
        name, address = (pair + ["", ""])[:2] if isinstance(pair, list) else ("", str(pair))
        shown.append(f"{name} <{address}>" if name and address else (address or name))
    return ", ".join(shown) or "-"


def _verification(item: dict[str, Any]) -> str:
    analysis = item.get("analysis") or {}
    origin = (analysis.get("trace") or {}).get("origin") or {}
    parts = []
    if origin:
        where = origin.get("ip") or origin.get("host") or "unknown"
        parts.append(f"origin {where} ({origin.get('confidence', '?')})")
    summary = (analysis.get("auth") or {}).get("summary")
    if summary:
        parts.append(summary)
    return "; ".join(parts) or "not verified (no headers)"


def _evidence(detail: dict[str, Any]) -> list[RenderableType]:
    items = detail["evidence"]
    out: list[RenderableType] = [Text(f"Evidence ({len(items)})", style="bold underline")]
    files = [i for i in items if i["kind"] == "attachment"]
    for item in (i for i in items if i["kind"] != "attachment"):
        sender = " ".join(x for x in (item["from"]["name"], f"<{item['from']['address']}>"
                                      if item["from"]["address"] else "") if x)
        meta = [f"#{item['id']} {item['kind']}, completeness: {item['completeness']}",
                f"from: {safe(sender or '-')}",
                f"to: {safe(_people(item.get('to')))}",
                *([f"cc: {safe(_people(item.get('cc')))}"] if item.get("cc") else []),
                f"date: {safe(item.get('date') or '-')}",
                f"subject: {safe(item.get('subject') or '-')}",
                f"verification: {safe(_verification(item))}"]
        if item.get("problems"):
            meta.append(f"problems: {safe('; '.join(item['problems'][:5]))}")
        out.append(Panel(Group(Text.from_markup("\n".join(meta), style="dim"), _words(item.get("text"))),
                         expand=True))
    if files:
        table = Table("#", "file", "type", "size", "SHA-256", title="Attachments", title_justify="left")
        for item in files:
            table.add_row(str(item["id"]), safe(item.get("filename") or "(no name)"), safe(item.get("content_type")),
                          f"{item.get('size') or 0:,}", item.get("sha256") or "-")
        out.append(table)
    return out


def _conversation(detail: dict[str, Any]) -> list[RenderableType]:
    said = [e for e in detail["timeline"] if e["action"] in CONVERSATION_ACTIONS]
    if not said:
        return []
    out: list[RenderableType] = [Text("Conversation", style="bold underline")]
    for event in said:
        info = event.get("detail") or {}
        label = CONVERSATION_ACTIONS[event["action"]]
        if event["action"] == "reply-received":
            side = " ".join(x for x in (info.get("side") or "unknown", info.get("office") or "") if x)
            label = f"reply from {side}: {info.get('sender') or ''}"
        head = f"{_when(event['at'])}  {safe(label)}  ({safe(event['actor'])})"
        text = info.get("text") or info.get("subject") or info.get("template") or ""
        out.append(Group(Text.from_markup(head, style="bold"), _words(str(text), "")))
    return out


def _timeline(detail: dict[str, Any]) -> Table:
    table = Table("at", "actor", "action", title="Timeline", title_justify="left")
    for event in detail["timeline"]:
        table.add_row((event["at"] or "")[:19].replace("T", " "), safe(event["actor"]), event["action"])
    return table


def render_case(detail: dict[str, Any]) -> Group:
    """The whole case, top to bottom, as one rich renderable."""
    other_cases = detail.get("related_cases")
    parts: list[RenderableType] = [_head(detail), *_reports(detail), *_evidence(detail), *_conversation(detail)]
    parties = Table("role", "address", "name", title="Parties", title_justify="left")
    for party in detail["parties"]:
        parties.add_row(party["role"], safe(party["address"]), safe(party["name"]))
    parts.append(parties)
    if other_cases:
        others = Table("case", "status", "opened", "linked by", "title", title="The alleged sender's other cases",
                       title_justify="left")
        for row in other_cases:
            others.add_row(row["number"], row["status"], (row["opened_at"] or "")[:10],
                           safe("; ".join(row["linked_by"])), safe(row["title"])[:40])
        parts.append(others)
    parts.append(_timeline(detail))
    return Group(*parts)
