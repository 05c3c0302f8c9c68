"""The plain-terminal view of one case, in the order a person paged at 2 a.m. reads it.

Urgency and why first, then what the reporter wrote, then each piece of evidence with its
words and how far it can be trusted, then the conversation and the timeline. Every string
that came from a message is passed through `terminal_safe`: it was written by strangers.
Plain text with click's styles (dropped when not a terminal), laid out here rather than by
rich: a case is read through the service in a fraction of a second, and rich's import and
layout cost more than the rest of the command (issue 12).
"""

from __future__ import annotations

from typing import Any

import click

from stopit_mail.commands.columns import screen_width, table
from stopit_mail.textsafe import terminal_safe as safe

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


def _words(text: str | None, empty: str = "(no text)") -> str:
    """Message words as they were written, control characters made visible."""
    body = _cut(text)
    return safe(body) if body else click.style(empty, dim=True)


def _heading(text: str) -> str:
    return click.style(text, bold=True, underline=True)


def _rule(title: str = "") -> str:
    """A line across the screen, with `title` (already made safe) at its left."""
    lead = f"── {title} " if title else ""
    return click.style(lead, bold=True) + "─" * max(4, min(screen_width(), 100) - len(lead))


def _block(meta: list[str], text: str) -> str:
    """One message: its facts dimmed, then its words."""
    return "\n".join([_rule(), *(click.style(line, dim=True) for line in meta), text])


def _head(detail: dict[str, Any]) -> str:
    triage = detail.get("triage") or {}
    lines = [_rule(f"{detail['number']}: {safe(detail.get('title') or '')}"),
             f"urgency: {click.style(detail['urgency'].upper(), bold=True)}   status: {detail['status']}",
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
    return "\n".join(lines)


def _reports(detail: dict[str, Any]) -> list[str]:
    from stopit_mail.cases.codes import format_code

    out = [_heading("What the reporter wrote")]
    for rep in detail["reports"]:
        who = rep["reporter"]["address"] or rep["reporter"]["name"]
        if rep["anonymous"] and not who:
            who = f"anonymous (code {format_code(rep['code'])}) {SEALED}"
        if rep.get("sender_role") == "alleged-sender":
            who = f"THE ALLEGED SENDER, forwarding his own mail: {who}"
        meta = [f"report {rep['id']}, received {_when(rep['received_at'])}, from {safe(who or '(unknown)')}",
                f"subject: {safe(rep['subject'])}"]
        out.append(_block(meta, _words(rep.get("wrapper_text"))))
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


def _evidence(detail: dict[str, Any]) -> list[str]:
    items = detail["evidence"]
    out = [_heading(f"Evidence ({len(items)})")]
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
        out.append(_block(meta, _words(item.get("text"))))
    if files:
        out.append(table(("#", "file", "type", "size", "SHA-256"), [
            (item["id"], item.get("filename") or "(no name)", item.get("content_type") or "",
             f"{item.get('size') or 0:,}", item.get("sha256") or "-") for item in files],
            shrink=(1, 2), right=(3,), title=_heading("Attachments")))
    return out


def _conversation(detail: dict[str, Any]) -> list[str]:
    said = [e for e in detail["timeline"] if e["action"] in CONVERSATION_ACTIONS]
    if not said:
        return []
    out = [_heading("Conversation")]
    for event in said:
        info = event.get("detail") or {}
        label = CONVERSATION_ACTIONS[event["action"]]
        if event["action"] == "reply-received":
            side = " ".join(x for x in (info.get("side") or "unknown", info.get("office") or "") if x)
            label = f"reply from {side}: {info.get('sender') or ''}"
        head = f"{_when(event['at'])}  {safe(label)}  ({safe(event['actor'])})"
        text = info.get("text") or info.get("subject") or info.get("template") or ""
        out.append("\n".join(x for x in (click.style(head, bold=True), _words(str(text), "")) if x))
    return out


def _timeline(detail: dict[str, Any]) -> str:
    return table(("at", "actor", "action"), [((event["at"] or "")[:19].replace("T", " "), event["actor"],
                                              event["action"]) for event in detail["timeline"]],
                 shrink=(1,), title=_heading("Timeline"))


def render_case(detail: dict[str, Any]) -> str:
    """The whole case, top to bottom, as text with click styles."""
    other_cases = detail.get("related_cases")
    parts = [_head(detail), "\n".join(_reports(detail)), "\n".join(_evidence(detail))]
    if conversation := _conversation(detail):
        parts.append("\n".join(conversation))
    parts.append(table(("role", "address", "name"), [(party["role"], party["address"] or "", party["name"] or "")
                                                     for party in detail["parties"]],
                       shrink=(1, 2), title=_heading("Parties")))
    if other_cases:
        parts.append(table(("case", "status", "opened", "linked by", "title"), [
            (row["number"], row["status"], (row["opened_at"] or "")[:10], "; ".join(row["linked_by"]), row["title"])
            for row in other_cases], shrink=(3, 4), title=_heading("The alleged sender's other cases")))
    parts.append(_timeline(detail))
    return "\n\n".join(parts)
