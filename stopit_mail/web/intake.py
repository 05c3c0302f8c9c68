"""Turn a web report or answer into an RFC 5322 message and commit it to the raw store.

The message is what a careful reporter would have mailed: From the address they chose to
leave (or `noreply@web.invalid` when they stay anonymous, with "anonymous" in the subject so
the pipeline seals the report), To the organisation's mailbox, their words as the body and
their files, already checked and stripped, as attachments. `X-Stopit-Arrival: web` marks the
door it came through; the raw row's source is "web". It is stored with `store_raw`, then the
receipt is committed: both are durable before the receipt page is shown, and the worker
processes the report exactly like mail.

An answer on check-back is a reply on the case: To the reporter's case alias, In-Reply-To the
report, so the pipeline files it as the reporter's reply. The use of reporter codes and
aliases (being reworked by the reporter-protection work) is confined to `reporter_alias`.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP

from sqlalchemy import select

from stopit_mail.app import App
from stopit_mail.cases.codes import case_alias
from stopit_mail.cases.pretriage import prioritiser
from stopit_mail.cases.webdoor import NO_ADDRESS, current_case, report_for_raw
from stopit_mail.config import Organisation
from stopit_mail.ingest.atrest import AtRest
from stopit_mail.ingest.rawstore import Envelope, Prioritise, store_raw
from stopit_mail.models import Case, RawMessage, WebPost, WebReceipt
from stopit_mail.textsafe import checked_header
from stopit_mail.web.files import CleanFile
from stopit_mail.web.receipts import ReceiptBook

ARRIVAL_HEADER = "X-Stopit-Arrival"


@dataclass
class ReportForm:
    """What the reporter filled in, already validated."""

    text: str
    category: str = ""
    where: str = ""
    when: str = ""
    contact: str = ""  # empty: anonymous
    language: str = "en"
    files: list[CleanFile] = field(default_factory=list)


def reporter_alias(case: Case, organisation: Organisation) -> str:
    """The address a reporter's reply goes to (the one place the web door uses reporter codes)."""
    return case_alias(case.reporter_code, organisation.mailboxes[0])


def _message(sender: str, to: str, subject: str, body: str, files: list[CleanFile], language: str,
             in_reply_to: str = "") -> tuple[EmailMessage, str]:
    domain = to.rpartition("@")[2] or "localhost"
    message_id = email.utils.make_msgid(idstring="web", domain=domain)
    msg = EmailMessage(policy=SMTP)
    msg["From"] = email.utils.formataddr(("Web reporter" if sender == NO_ADDRESS else "", checked_header(sender)))
    msg["To"] = checked_header(to)
    msg["Subject"] = checked_header(subject)
    msg["Date"] = email.utils.formatdate(usegmt=True)
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = checked_header(in_reply_to)
        msg["References"] = checked_header(in_reply_to)
    msg["Content-Language"] = checked_header(language)
    msg[ARRIVAL_HEADER] = "web"
    msg.set_content(body, charset="utf-8")
    for item in files:
        maintype, _, subtype = item.content_type.partition("/")
        msg.add_attachment(item.content, maintype=maintype, subtype=subtype, filename=item.filename)
    return msg, message_id


def report_body(form: ReportForm) -> str:
    """The reporter's words, then the optional details on labelled lines."""
    lines = [form.text.strip(), ""]
    for label, value in (("Category chosen by the reporter", form.category), ("Where", form.where),
                         ("When", form.when)):
        if value.strip():
            lines.append(f"{label}: {' '.join(value.split())}")
    lines.append("(Sent through the web reporting page.)")
    return "\n".join(lines).strip() + "\n"


def _prioritise(app: App) -> Prioritise:
    """The store-time pre-triage, as the listener runs it: a web emergency is claimed first, and
    its page facts are kept beside its sealed bytes so a lost key can never blind its page
    (`ingest.atrest`)."""
    casework = app.settings.casework
    return prioritiser(casework.triage_rules, casework.disabled_triage_rules)


def build_report(form: ReportForm, organisation: Organisation) -> bytes:
    """The RFC 5322 message for a web report."""
    subject = "Web report" + ("" if form.contact else " (anonymous)")
    msg, _ = _message(form.contact or NO_ADDRESS, organisation.mailboxes[0], subject, report_body(form),
                      form.files, form.language)
    return msg.as_bytes()


def submit_report(app: App, book: ReceiptBook, organisation: Organisation, form: ReportForm,
                  on_stored: Callable[[], None] | None = None) -> str:
    """Store the report, then its receipt; returns the receipt code. Raises StorageError."""
    content = build_report(form, organisation)
    stored = store_raw(app.factory, content, Envelope(source="web", rcpt_to=[organisation.mailboxes[0]]),
                       app.settings.limits.max_message_bytes, prioritise=_prioritise(app), at_rest=AtRest(app.settings))
    with app.factory() as session, session.begin():
        code = book.issue(session, stored.raw_id, organisation.slug)
    if on_stored is not None:
        on_stored()
    return code


class NotFiledYet(Exception):
    """The report has not been filed on a case yet (the worker has not reached it)."""


def submit_answer(app: App, receipt_id: int, text: str, files: list[CleanFile], language: str,
                  on_stored: Callable[[], None] | None = None) -> int:
    """Store a reporter's answer as a reply on their case; returns the raw message id."""
    with app.factory() as session:
        receipt = session.get(WebReceipt, receipt_id)
        assert receipt is not None
        report = report_for_raw(session, receipt.raw_message_id)
        case = current_case(session, report.case_id) if report is not None else None
        if case is None:
            raise NotFiledYet(str(receipt_id))
        organisation = app.settings.organisation(case.organisation) or app.settings.default_organisation()
        original_id = session.scalar(select(RawMessage.message_id).where(RawMessage.id == receipt.raw_message_id))
        sender = report.reporter_address if report is not None and report.reporter_address else NO_ADDRESS
        alias = reporter_alias(case, organisation)
        number = case.number
    body = text.strip() + "\n\n(Sent through the web check-back page.)\n"
    msg, _ = _message(sender, alias, f"Re: [{number}] Web report", body, files, language,
                      in_reply_to=original_id or "")
    stored = store_raw(app.factory, msg.as_bytes(), Envelope(source="web", rcpt_to=[alias]),
                       app.settings.limits.max_message_bytes, prioritise=_prioritise(app), at_rest=AtRest(app.settings))
    with app.factory() as session, session.begin():
        session.add(WebPost(receipt_id=receipt_id, raw_message_id=stored.raw_id))
    if on_stored is not None:
        on_stored()
    return stored.raw_id
