"""Answers to a page by mail: only a person of that chain, with the code, stops the paging.

An out-of-office robot once quoted a page (with its acknowledgement code) back to us and stood
the chain down. So an answer counts only when all of these hold:
- it carries the code (the `+ack-<code>` alias it was sent to, or the code typed in the
  subject or in the sender's *own* words: a code that only appears in quoted text does not);
- it comes from an address that chain paged (or would page): a configured contact;
- it is not automatic: RFC 3834 headers are checked by the handler, and the wording of
  common out-of-office and auto-reply messages here, in subject and own words.
Anything else is recorded on the case and set aside, and paging goes on: wrongly refusing a
person costs one more page, wrongly accepting a robot costs an emergency.

For a review page the answer must also say `confirm` or `dismiss` (`escalation_review`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from stopit_mail import events
from stopit_mail.cases.escalation import REVIEW, acknowledge
from stopit_mail.cases.escalation_review import decide, decision_in_reply
from stopit_mail.config import Settings
from stopit_mail.models import Case, Escalation, EscalationStatus

_AUTO_SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]*\]\s*)?(?:automatic reply|auto(?:matic)?[- ]?(?:reply|response|antwort)|autoreply|"
    r"out of (?:the )?office|ooo\b|away from|on vacation|on leave|abwesen|automatische antwort|"
    r"r[ée]ponse automatique|absence|respuesta autom[aá]tica|fuera de la oficina|resposta autom[aá]tica|"
    r"risposta automatica|afwezig|poissa|fr[aå]nvaro|nieobecno)",
    re.IGNORECASE,
)
_AUTO_BODY = re.compile(
    r"\b(?:out of (?:the )?office|i am (?:currently )?(?:away|on (?:annual )?leave|on vacation|out of)|"
    r"i'?m (?:currently )?(?:away|on (?:annual )?leave|out of the office)|limited access to (?:my )?e-?mail|"
    r"(?:will be|i'?ll be) back (?:on|in the office)|this is an automat(?:ed|ic) (?:reply|response|message)|"
    r"auto-?reply|fuera de la oficina|de vacaciones|respuesta autom[aá]tica|abwesend|en cong[ée])",
    re.IGNORECASE,
)
# Where quoted text begins in a reply: "On ... wrote:", Outlook's separators, a forwarded header.
_QUOTE_START = re.compile(
    r"^\s*(?:>|on .{0,200}wrote:|-{2,}\s*original message\s*-{2,}|_{5,}|from:\s|de:\s|von:\s|"
    r"el .{0,200}escribi[oó]:|le .{0,200}a [ée]crit)",
    re.IGNORECASE,
)
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def own_words(text: str) -> str:
    """The part of a reply its sender wrote: everything before the quoted page starts."""
    lines = []
    for line in text.splitlines():
        if _QUOTE_START.match(line):
            break
        lines.append(line)
    return "\n".join(lines)


def automatic_wording(subject: str, text: str) -> str | None:
    """Why a message reads as an automatic reply although its headers do not say so, or None."""
    if _AUTO_SUBJECT.match(subject or ""):
        return f"subject reads as an automatic reply: {subject[:80]!r}"
    found = _AUTO_BODY.search(own_words(text)[:5000])
    if found:
        return f"text reads as an automatic reply: {found.group(0)[:60]!r}"
    return None


def carries_code(esc: Escalation, subject: str, text: str) -> bool:
    """Whether the code is in the subject or the sender's own words (formatting ignored)."""
    flat = _NOT_ALNUM.sub("", f"{subject}\n{own_words(text)}".lower())
    return esc.ack_code in flat


def chain_addresses(esc: Escalation) -> set[str]:
    """Every address of the escalation's chain (or reviewers), lower-cased."""
    return {str(a).strip().lower() for step in esc.steps or [] for a in step.get("addresses", [])}


def answer_page(session: Session, settings: Settings, esc: Escalation, sender: str, subject: str, text: str,
                now: datetime, **detail: Any) -> str:
    """Act on a person's answer to a page; returns what happened.

    'acknowledged', 'confirmed', 'dismissed', or 'refused' (not a contact of this chain) and
    'unclear' (a review answer that neither confirms nor dismisses), both recorded on the case.
    """
    if sender.strip().lower() not in chain_addresses(esc):
        events.record(session, "page-answer-refused", esc.case_id, escalation_id=esc.id, sender=sender[:200],
                      reason="not an address of this chain: only its contacts may acknowledge", **detail)
        return "refused"
    if esc.kind != REVIEW:
        acknowledge(session, esc, by=sender, now=now, via="reply", settings=settings, subject=subject,
                    text=text[:1000], **detail)
        return "acknowledged"
    # The body only: the page's own subject says "Confirm or dismiss" and comes back in "Re:".
    found = decision_in_reply(own_words(text))
    if found is None:
        events.record(session, "review-reply-unclear", esc.case_id, actor=sender[:120], automatic=False,
                      escalation_id=esc.id, text=own_words(text)[:500],
                      note="neither 'confirm' nor 'dismiss': the review window keeps running", **detail)
        return "unclear"
    decision, reason = found
    case = session.get(Case, esc.case_id)
    assert case is not None
    decide(session, settings, case, decision, by=sender, reason=reason or f"{decision} by reply", now=now,
           via="reply", **detail)
    return decision


def answer_by_mail(session: Session, settings: Settings, esc: Escalation, sender: str, subject: str, text: str,
                   automatic: str | None, now: datetime, **detail: Any) -> str:
    """Everything a mailed answer to a page can be, decided in one place; returns the outcome.

    'automatic' (headers, given as `automatic`, or wording), 'already' (a second person after
    an acknowledgement: kept on the timeline), or what `answer_page` returns. Every outcome
    is recorded on the case; only a person of the chain stops or decides anything.
    """
    automatic = automatic or automatic_wording(subject, text)
    if automatic:
        events.record(session, "page-auto-reply-ignored", esc.case_id, escalation_id=esc.id, sender=sender[:200],
                      reason=automatic, **detail)
        return "automatic"
    if esc.status is EscalationStatus.ACKNOWLEDGED:
        events.record(session, "escalation-reply", esc.case_id, actor=sender[:120], automatic=False,
                      escalation_id=esc.id, subject=subject, text=text[:1000],
                      note=f"already acknowledged by {esc.acknowledged_by}", **detail)
        return "already"
    return answer_page(session, settings, esc, sender, subject, text, now, **detail)
