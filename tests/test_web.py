"""The web door through HTTP: a real uvicorn server on 127.0.0.1 and the real database.

Every path is exercised with good and bad input: reports with and without files, files too
large, too many, of the wrong type, missing fields, a replayed or missing form token, a post
from another site, wrong receipt codes, and the check-back conversation with staff.
"""

from __future__ import annotations

import email
import email.policy
import io
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select

from stopit_mail.app import App
from stopit_mail.cases.messaging import reply_to_reporter
from stopit_mail.cases.staff import Actor
from stopit_mail.models import Case, Event, OutboxMessage, RawMessage, Report, WebReceipt
from stopit_mail.processing.runner import process_waiting
from stopit_mail.sealing import open_bytes

from web_helpers import ACCESS_CODE, field, jpeg_with_gps, post_form, receipt_code, report, running, web_installation

STAFF = Actor(name="Pat Morgan", restricted=False)


@pytest.fixture
def web_app(tmp_path: Path) -> Iterator[App]:
    app = web_installation(tmp_path)
    yield app
    app.close()


@pytest.fixture
def client(web_app: App) -> Iterator[httpx.Client]:
    with running(web_app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def raw_count(app: App) -> int:
    with app.factory() as session:
        return session.scalar(select(func.count(RawMessage.id))) or 0


def test_every_page_says_it_is_not_an_emergency_service(client: httpx.Client) -> None:
    for url in ("/", f"/r/{ACCESS_CODE}", "/check", "/r/no-such-code", "/nowhere"):
        page = client.get(url)
        assert "This is not an emergency service" in page.text, url
        assert "911" in page.text and "988" in page.text and "741741" in page.text, url
    assert client.get("/r/no-such-code").status_code == 404
    assert client.get("/nowhere").status_code == 404


def test_access_code_box_opens_the_report_page(client: httpx.Client) -> None:
    response = client.get("/r", params={"code": ACCESS_CODE})
    assert response.status_code == 303 and response.headers["location"] == f"/r/{ACCESS_CODE}"
    front = client.get("/")
    assert '<a href="/r/main">Example University</a>' in front.text  # `stopit init` lists its organisation
    assert client.get("/r/main").status_code == 200
    unknown = client.get("/r", params={"code": "guess-123"})
    assert unknown.status_code == 404 and "We do not know that access code" in unknown.text


def test_pages_carry_a_strict_policy_and_no_third_party_assets(client: httpx.Client) -> None:
    for url in ("/", f"/r/{ACCESS_CODE}", "/check", "/static/style.css"):
        response = client.get(url)
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "server" not in response.headers
        assert not re.search(r'(src|href)="(https?:)?//', response.text), url
        assert "<script" not in response.text


def test_report_with_a_photo_is_stored_as_a_web_message_without_metadata(web_app: App, client: httpx.Client) -> None:
    photo = jpeg_with_gps()
    response = report(client, files=[("files", ("IMG_0001.JPG", photo, "image/jpeg"))],
                      category="cyberbullying", where="Gym", when="Monday")
    assert response.status_code == 200, response.text
    code = receipt_code(response.text)
    assert re.fullmatch(r"([0-9A-HJKMNP-TV-Z]{4}-){5}[0-9A-HJKMNP-TV-Z]{4}", code)
    with web_app.factory() as session:
        raw = session.scalars(select(RawMessage)).one()
        receipt = session.scalars(select(WebReceipt)).one()
        assert raw.source == "web" and raw.rcpt_to == ["stopit@example.edu"] and raw.peer is None
        assert receipt.raw_message_id == raw.id and receipt.code_hash.startswith("$argon2id$")
        message = email.message_from_bytes(open_bytes(web_app.settings, raw.content))  # sealed at the 250
    assert message["X-Stopit-Arrival"] == "web" and "anonymous" in message["Subject"]
    assert "Category chosen by the reporter: cyberbullying" in message.get_payload()[0].get_payload(decode=True).decode()
    attachment = message.get_payload()[1]
    assert attachment.get_content_type() == "image/jpeg" and attachment.get_filename() == "IMG_0001.jpg"
    stored = attachment.get_payload(decode=True)
    assert b"SecretPhone" not in stored
    assert dict(Image.open(io.BytesIO(stored)).getexif()) == {}
    # The code itself is nowhere in the database: only its hash and a digest of its first groups.
    dump = "\n".join(web_app.engine.raw_connection().driver_connection.iterdump())  # type: ignore[union-attr]
    plain = code.replace("-", "")
    assert code not in dump and plain not in dump and plain[8:] not in dump


def test_a_web_report_goes_through_the_same_pipeline(tmp_path: Path, any_db_url: str) -> None:
    web_app = web_installation(tmp_path, any_db_url)
    with running(web_app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        response = report(client, text="He said he will bring a gun to school tomorrow and shoot us.")
        assert response.status_code == 200
        thread = _open(client, receipt_code(response.text))
        assert "Received, waiting to be filed" in thread.text
    outcomes = process_waiting(web_app.factory, web_app.settings)
    assert [o.status for o in outcomes] == ["processed"]
    with web_app.factory() as session:
        case = session.scalars(select(Case)).one()
        report_row = session.scalars(select(Report)).one()
        assert case.anonymous and report_row.sealed_identity and report_row.reporter_address is None
        assert case.urgency == "emergency" and case.triage
        # No acknowledgement goes to the placeholder address of an anonymous web reporter.
        assert session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.kind == "acknowledgement")) == 0
    web_app.close()


@pytest.mark.parametrize(("fields", "message"), [
    ({"text": "   "}, "Please tell us what happened."),
    ({"category": "not-a-category"}, "Please choose a kind of problem"),
    ({"identity": "contact", "contact": "not an address"}, "Please enter an email address"),
    ({"identity": ""}, "Please say whether we may contact you."),
    ({"where": "x" * 201}, "The place or time is too long"),
])
def test_missing_or_bad_fields_are_explained(web_app: App, client: httpx.Client, fields: dict[str, str],
                                             message: str) -> None:
    response = report(client, **fields) if "text" not in fields else report(client, text=fields["text"])
    assert response.status_code == 400
    assert message in response.text and 'role="alert"' in response.text
    assert raw_count(web_app) == 0


@pytest.mark.parametrize(("files", "status", "message"), [
    ([("files", ("big.jpg", b"\xff\xd8\xff" + b"0" * 300_001, "image/jpeg"))], 413, "One of the files is too large"),
    ([("files", (f"p{i}.jpg", jpeg_with_gps(), "image/jpeg")) for i in range(4)], 413, "Too many files"),
    ([("files", (f"p{i}.pdf", b"%PDF-1.4\n" + b"0" * 200_000, "application/pdf")) for i in range(3)], 413,
     "The files are too large together"),
    ([("files", ("photo.jpg", b"MZ\x90\x00" + b"\x00" * 100, "image/jpeg"))], 415, "The file photo.jpg cannot be sent"),
    ([("files", ("notes.txt", b"just text", "text/plain"))], 415, "cannot be sent"),
    ([("files", ("broken.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 50, "image/jpeg"))], 415, "could not be read"),
])
def test_bad_files_are_refused_and_nothing_is_kept(web_app: App, client: httpx.Client, files, status: int,  # type: ignore[no-untyped-def]
                                                   message: str) -> None:
    response = report(client, text="Look at these files, please.", files=files)
    assert response.status_code == status, response.text[:500]
    assert message in response.text
    assert "Look at these files, please." in response.text  # the text is kept for another try
    assert raw_count(web_app) == 0
    assert list((web_app.settings.data_path / "web-uploads").iterdir()) == []


def test_a_form_token_works_once(web_app: App, client: httpx.Client) -> None:
    page = client.get(f"/r/{ACCESS_CODE}")
    fields = {"csrf": field(page.text, "csrf"), "text": "First try", "identity": "anonymous"}
    assert post_form(client, f"/r/{ACCESS_CODE}", fields).status_code == 200
    replayed = post_form(client, f"/r/{ACCESS_CODE}", fields)
    assert replayed.status_code == 400 and "already sent or has expired" in replayed.text
    assert post_form(client, f"/r/{ACCESS_CODE}", dict(fields, csrf="forged")).status_code == 400
    assert post_form(client, f"/r/{ACCESS_CODE}", {"text": "no token", "identity": "anonymous"}).status_code == 400
    assert raw_count(web_app) == 1


def test_posts_from_another_site_are_refused(web_app: App, client: httpx.Client) -> None:
    page = client.get(f"/r/{ACCESS_CODE}")
    fields = {"csrf": field(page.text, "csrf"), "text": "CSRF", "identity": "anonymous"}
    response = post_form(client, f"/r/{ACCESS_CODE}", fields, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    response = post_form(client, f"/r/{ACCESS_CODE}", fields, headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    assert raw_count(web_app) == 0


def test_a_body_announced_too_large_is_refused_before_reading(client: httpx.Client) -> None:
    response = client.post(f"/r/{ACCESS_CODE}", content=b"x" * 10,
                           headers={"Content-Type": "multipart/form-data; boundary=x", "Content-Length": "10"})
    assert response.status_code == 400  # malformed, not a crash
    big = client.post(f"/r/{ACCESS_CODE}", content=b"x" * 900_000,
                      headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert big.status_code == 413


def test_the_receipt_must_be_confirmed_and_can_be_mailed(web_app: App, client: httpx.Client) -> None:
    page = report(client)
    code = receipt_code(page.text)
    url = f"/r/{ACCESS_CODE}/receipt"
    unconfirmed = post_form(client, url, {"csrf": field(page.text, "csrf"), "code": code})
    assert unconfirmed.status_code == 400 and "tick the box" in unconfirmed.text
    assert receipt_code(unconfirmed.text) == code
    mailed = post_form(client, url, {"csrf": field(unconfirmed.text, "csrf"), "code": code,
                                     "email": "me@example.org", "saved": "yes"})
    assert mailed.status_code == 200 and "Thank you" in mailed.text
    # A replayed (or expired) confirmation shows the code again rather than losing it.
    replayed = post_form(client, url, {"csrf": field(unconfirmed.text, "csrf"), "code": code, "saved": "yes"})
    assert replayed.status_code == 400 and receipt_code(replayed.text) == code
    sent = list((web_app.settings.data_path / "outbox" / "new").iterdir())
    assert len(sent) == 1 and code in sent[0].read_text() and "me@example.org" in sent[0].read_text()
    with web_app.factory() as session:  # sent straight away: no readable copy in the outbox table
        assert session.scalar(select(func.count(OutboxMessage.id))) == 0


def test_the_receipt_mail_is_in_the_reporters_language(web_app: App, client: httpx.Client) -> None:
    client.get("/?lang=es")  # the switch, remembered in a cookie
    page = report(client)
    assert '<html lang="es">' in page.text and "Hemos recibido su informe" in page.text
    code = receipt_code(page.text)
    post_form(client, f"/r/{ACCESS_CODE}/receipt", {"csrf": field(page.text, "csrf"), "code": code,
                                                    "email": "yo@example.org", "saved": "yes"})
    (sent,) = (web_app.settings.data_path / "outbox" / "new").iterdir()
    message = email.message_from_bytes(sent.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "Su código de recibo" and code in message.get_content()


def _open(client: httpx.Client, code: str) -> httpx.Response:
    page = client.get("/check")
    return post_form(client, "/check", {"csrf": field(page.text, "csrf"), "code": code})


def test_wrong_codes_get_the_same_answer(web_app: App, client: httpx.Client) -> None:
    code = receipt_code(report(client).text)
    plain = code.replace("-", "")
    wrong_secret = plain[:8] + ("0" if plain[8] != "0" else "1") + plain[9:]
    answers = [_open(client, attempt) for attempt in (wrong_secret, "ZZZZ" * 6, "not a code")]
    assert {a.status_code for a in answers} == {400}
    bodies = {re.sub(r'value="[^"]*"', "", a.text) for a in answers}
    assert len(bodies) == 1 and "We could not open a report with that code" in bodies.pop()


def test_check_back_conversation(web_app: App, client: httpx.Client) -> None:
    code = receipt_code(report(client, text="Someone wrote slurs on my locker.").text)
    before = _open(client, code.lower().replace("-", " "))  # typed loosely still works
    assert before.status_code == 200 and "Received, waiting to be filed" in before.text
    assert "Someone wrote slurs on my locker." in before.text
    not_yet = post_form(client, "/check/answer", {"session": field(before.text, "session"),
                                                  "csrf": field(before.text, "csrf"), "text": "More"})
    assert not_yet.status_code == 409
    process_waiting(web_app.factory, web_app.settings)
    with web_app.factory() as session, session.begin():
        case = session.scalars(select(Case)).one()
        assert reply_to_reporter(session, web_app.settings, STAFF, case, "Thank you. Which locker?") is None
        number = case.number
    thread = _open(client, code)
    assert "Thank you. Which locker?" in thread.text and "Staff are looking into it" in thread.text
    answer = post_form(client, "/check/answer", {"session": field(thread.text, "session"),
                                                 "csrf": field(thread.text, "csrf"), "text": "Locker 214, east wing."},
                       [("files", ("locker.png", _png(), "image/png"))])
    assert answer.status_code == 200 and "Your message was sent." in answer.text
    assert "Locker 214, east wing." in answer.text and "locker.png" in answer.text
    outcomes = process_waiting(web_app.factory, web_app.settings)
    assert [(o.status, o.case_number) for o in outcomes] == [("processed", number)]
    with web_app.factory() as session:
        reply = session.scalars(select(Event).where(Event.action == "reply-received")).one()
        assert reply.detail["side"] == "reporter" and reply.detail["sender"] == "(anonymous reporter)"
        assert "Locker 214" in reply.detail["text"]
        assert session.scalar(select(func.count(OutboxMessage.id))) == 0  # nothing mailed to anyone


def test_a_reporter_who_left_an_address_is_told_without_content(web_app: App, client: httpx.Client) -> None:
    response = report(client, identity="contact", contact="sam@example.org")
    assert response.status_code == 200
    process_waiting(web_app.factory, web_app.settings)
    with web_app.factory() as session, session.begin():
        case = session.scalars(select(Case)).one()
        assert not case.anonymous
        row = reply_to_reporter(session, web_app.settings, STAFF, case, "The secret detail is XYZZY.")
        assert row is not None and row.kind == "web-new-message" and row.recipients == ["sam@example.org"]
        assert b"XYZZY" not in row.content and b"new message" in row.content


def test_an_answer_with_a_file_too_large_stays_on_the_thread(web_app: App, client: httpx.Client) -> None:
    code = receipt_code(report(client).text)
    process_waiting(web_app.factory, web_app.settings)
    thread = _open(client, code)
    response = post_form(client, "/check/answer", {"session": field(thread.text, "session"),
                                                   "csrf": field(thread.text, "csrf"), "text": "Here is a video"},
                         [("files", ("clip.mp4", b"\x00\x00\x00\x18ftypmp42" + b"0" * 300_000, "video/mp4"))])
    assert response.status_code == 413 and "One of the files is too large" in response.text
    assert 'name="session"' in response.text and "Your report" in response.text
    assert raw_count(web_app) == 1


def test_expired_or_forged_sessions_cannot_answer(web_app: App, client: httpx.Client) -> None:
    thread = _open(client, receipt_code(report(client).text))
    response = post_form(client, "/check/answer", {"session": "forged", "csrf": field(thread.text, "csrf"),
                                                   "text": "hi"})
    assert response.status_code == 400 and "Your page has expired" in response.text
    wrong_form = post_form(client, "/check/answer", {"session": field(thread.text, "session"),
                                                     "csrf": field(client.get("/check").text, "csrf"), "text": "hi"})
    assert wrong_form.status_code == 400 and "already sent or has expired" in wrong_form.text


def test_code_attempts_are_rate_limited_per_client(tmp_path: Path) -> None:
    app = web_installation(tmp_path, extra="code_attempts_per_client_per_hour = 2\n")
    try:
        with running(app) as server, httpx.Client(base_url=server.url) as http:
            statuses = [_open(http, "ZZZZ" * 6).status_code for _ in range(3)]
        assert statuses == [400, 400, 429]
    finally:
        app.close()


def test_wrong_tries_on_one_code_pause_it(tmp_path: Path) -> None:
    """Guessing at one receipt (its first groups known) is stopped whatever the client."""
    app = web_installation(tmp_path, extra="code_attempts_per_code_per_hour = 2\n")
    try:
        with running(app) as server, httpx.Client(base_url=server.url) as http:
            code = receipt_code(report(http).text).replace("-", "")
            wrong = code[:8] + ("0" if code[8] != "0" else "1") + code[9:]
            other = _open(http, "ZZZZ" * 6)
            statuses = [_open(http, wrong).status_code for _ in range(3)] + [_open(http, code).status_code]
        assert other.status_code == 400 and statuses == [400, 400, 429, 429]
    finally:
        app.close()


def test_pages_follow_the_reporters_language(client: httpx.Client) -> None:
    spanish = client.get("/check", headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"})
    assert '<html lang="es">' in spanish.text and "Consultar un informe" in spanish.text
    chosen = client.get("/check?lang=en", headers={"Accept-Language": "es"})
    assert '<html lang="en">' in chosen.text and chosen.cookies.get("lang") == "en"
    remembered = client.get("/", headers={"Accept-Language": "es"})
    assert '<html lang="en">' in remembered.text
    assert '<html lang="en">' in client.get("/?lang=xx", headers={"Accept-Language": "de"}).text


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 20), (0, 90, 200)).save(out, "PNG")
    return out.getvalue()


def test_nothing_identifying_reaches_the_logs(web_app: App, caplog: pytest.LogCaptureFixture) -> None:
    """No address, user agent or code in any log line, at any level, while reporting and checking back."""
    caplog.set_level(1)  # everything, uvicorn's TRACE included
    agent = "Mozilla/5.0 (X11; Linux x86_64) UniqueAgent/9.9"
    with running(web_app) as server, httpx.Client(base_url=server.url, headers={"User-Agent": agent}) as http:
        code = receipt_code(report(http).text)
        _open(http, code)
        _open(http, "ZZZZ" * 6)
        http.get("/nowhere")
    assert server.server.config.access_log is False
    # The server's own lines (the test's HTTP client logs its requests too; those are not ours).
    lines = [r.getMessage() for r in caplog.records if r.name.split(".")[0] in ("uvicorn", "starlette", "stopit_mail")]
    assert lines, "expected uvicorn's start-up lines at least"
    text = "\n".join(line for line in lines if not line.startswith(("Uvicorn running on", "web door listening on")))
    assert "127.0.0.1" not in text and "UniqueAgent" not in text and code not in text
    assert "GET /" not in text and "POST /" not in text


@pytest.mark.serial  # timed: another test on the other core would skew it
def test_a_wrong_code_costs_an_argon2_verification(web_app: App) -> None:
    """A miss does the same slow hash as a hit, so timing does not tell whether a code exists."""
    import time

    from stopit_mail.web.receipts import ReceiptBook

    book = ReceiptBook()
    book.warm()
    with web_app.factory() as session, session.begin():
        raw = RawMessage(sha256="0" * 64, size=1, content=b"x", source="web")
        session.add(raw)
        session.flush()
        code = book.issue(session, raw.id, "main")

    def cost(attempt: str) -> float:
        best = float("inf")
        for _ in range(3):
            with web_app.factory() as session:
                start = time.perf_counter()
                book.open(session, attempt)
                best = min(best, time.perf_counter() - start)
        return best

    hit, miss, malformed = cost(code), cost("ZZZZ" * 6), cost("nonsense")
    assert miss > 0.3 * hit and malformed > 0.3 * hit, (hit, miss, malformed)


@pytest.mark.parametrize(("extra", "problem"), [
    ('languages = ["en", "xx"]\n', "no translation file"),
    ('listen = "nowhere:99999"\n', "web.listen"),
    ("max_file_bytes = 60000000\n", "is more than web.max_report_bytes"),
])
def test_web_settings_are_validated(tmp_path: Path, extra: str, problem: str) -> None:
    from stopit_mail.errors import ConfigError

    from web_helpers import WEB_LIMITS

    text = WEB_LIMITS.replace("max_file_bytes = 300000\n", "").replace("max_report_bytes = 500000\n", "")
    with pytest.raises(ConfigError, match=problem):
        import tomllib

        from stopit_mail.config import settings_from_dict

        table = tomllib.loads('[[organisations]]\nslug = "main"\nname = "X"\nmailboxes = ["stopit@example.edu"]\n'
                              + text + extra)
        settings_from_dict(table, tmp_path)


def test_files_are_capped_to_what_a_stored_message_holds(tmp_path: Path) -> None:
    from stopit_mail.config.web import file_budget

    app = web_installation(tmp_path)
    try:
        assert file_budget(app.settings) == 500_000  # as configured: it fits
        app.settings.limits.max_message_bytes = 500_000
        budget = file_budget(app.settings)
        assert budget * 4 // 3 + 4 * app.settings.web.max_text_chars + 65536 <= 500_000 and budget > 250_000
    finally:
        app.close()


@pytest.mark.parametrize("command", ["web", "serve"])
def test_stopit_web_and_serve_run_the_door(tmp_path: Path, command: str) -> None:
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    app = web_installation(tmp_path)
    app.close()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "stopit.toml"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        smtp_port = sock.getsockname()[1]
    text = config.read_text().replace("[web]\n", f'[web]\nlisten = "127.0.0.1:{port}"\n')
    config.write_text(text.replace('listen = "127.0.0.1:8025"', f'listen = "127.0.0.1:{smtp_port}"'))
    proc = subprocess.Popen([sys.executable, "-m", "stopit_mail", "-c", str(config), command],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/r/{ACCESS_CODE}", timeout=2,
                                 headers={"User-Agent": "UniqueAgent/1.0"})
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                time.sleep(0.2)
        assert page.status_code == 200 and "What happened?" in page.text
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=20)[0].decode()
    assert proc.returncode == 0, output
    # Only the server's own addresses appear (its start-up lines), never a client's.
    assert set(re.findall(r"127\.0\.0\.1:(\d+)", output)) <= {str(port), str(smtp_port)}
    assert "UniqueAgent" not in output
