"""Parent letters: a PDF with one page per student (their name, their code, its
link and QR code), downloaded at once and emailed to the teacher through a real
SMTP server on loopback."""

import io
import shutil
import subprocess

import pytest
import segno
from PIL import Image
from pypdf import PdfReader
from smtp_support import Server
from sqlalchemy import select

from browser_support import ARTIFACTS
from codes.extensions import db
from codes.jobs.worker import run_until_idle
from codes.links.operations import QR_ERROR, QUIET_ZONE
from codes.models import Job, ParentCode
from codes.parents import letters
from codes.parents import operations as parents
from codes.redeem.operations import redeem
from conftest import Factory, build_app, need_service, text_of
from served_support import free_port

STUDENTS = ["Ann Adams", "Łucja Nowak", "Sam Student", "Zoë Zimmer"]


@pytest.fixture
def smtp():
    server = Server().start()
    yield server.inbox, server.port
    server.stop()


def mail_app(tmp_path, **mail_config):
    # Flask-Mail sends nothing under TESTING unless told to.
    app = build_app(
        f"sqlite:///{tmp_path / 'mail.db'}",
        MAIL_SUPPRESS_SEND=False,
        MAIL_DEFAULT_SENDER="Codes <codes@oak.example>",
        **mail_config,
    )
    return app


@pytest.fixture
def mailing_app(tmp_path, smtp):
    inbox, port = smtp
    app = mail_app(tmp_path, MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    with app.app_context():
        yield app
        db.session.remove()


def classroom_with_students(names=STUDENTS):
    make = Factory()
    org = make.org(name="Oak School", timezone="Europe/Paris")
    leader = make.user("Leo Leader", "leo@oak.example")
    room = make.classroom(org, "Room 9A", leaders=[leader])
    for name in names:
        redeem(make.user(name), room.join_code.text)
    db.session.commit()
    return room, leader


def post_letters(app, room, leader):
    client = app.test_client()
    client.login(leader)
    return client, client.post(f"/classrooms/{room.id}/parent-letters")


def qr_matches(image, text):
    """Whether the picture is the QR code of `text`, module by module."""
    matrix = segno.make(text, error=QR_ERROR, micro=False).matrix
    picture = image.convert("L")
    size = len(matrix) + 2 * QUIET_ZONE
    module = picture.width / size
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            x, y = int((c + QUIET_ZONE + 0.5) * module), int((r + QUIET_ZONE + 0.5) * module)
            if (picture.getpixel((x, y)) < 128) != bool(dark):
                return False
    return True


def test_one_page_per_student_with_their_own_code_link_and_qr(app):
    room, leader = classroom_with_students()
    client, response = post_letters(app, room, leader)
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == 'attachment; filename="parent-letters-room-9a.pdf"'

    reader = PdfReader(io.BytesIO(response.data))
    assert len(reader.pages) == len(STUDENTS)
    codes = {c.student.name: c for c in db.session.scalars(select(ParentCode))}
    assert sorted(codes) == sorted(STUDENTS)
    # In the classroom's order, by name.
    in_order = [s.name for s in parents.class_students(room)]
    for page, name in zip(reader.pages, in_order, strict=True):
        text = page.extract_text()
        code = codes[name]
        assert f"For the parents of {name}" in text
        assert code.text in text
        link = f"http://localhost/parents/link?code={code.text}"
        assert link in text
        # Nobody else's code is on this page.
        assert [other for other in codes.values() if other.text in text] == [code]
        (picture,) = page.images
        assert qr_matches(picture.image, link)
    assert "Oak School · Room 9A" in reader.pages[0].extract_text()


def test_the_letters_are_emailed_with_the_pdf_attached(mailing_app, smtp):
    inbox, _ = smtp
    room, leader = classroom_with_students()
    client = mailing_app.test_client()
    client.login(leader)
    assert "is also emailed to you at leo@oak.example" in text_of(client.get(f"/classrooms/{room.id}"))

    response = client.post(f"/classrooms/{room.id}/parent-letters")
    assert response.status_code == 200
    assert "on their way to leo@oak.example" in text_of(client.get(f"/classrooms/{room.id}"))
    assert inbox.envelopes == [], "the request queues the mail; a worker sends it"
    run_until_idle(mailing_app)
    # Beside the students' welcome mails, which their redemptions queued.
    (envelope,) = [e for e in inbox.envelopes if e.rcpt_tos == ["leo@oak.example"]]
    (message,) = [m for m in inbox.messages() if m["To"] == "leo@oak.example"]
    assert message["Subject"] == "Parent letters for Room 9A"
    assert message["From"] == "Codes <codes@oak.example>"
    assert "the 4 students of Room 9A" in message.get_body(("plain",)).get_content()
    assert "the 4 students of Room 9A" in message.get_body(("html",)).get_content()
    assert "Oak School" in message.get_body(("html",)).get_content()
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "parent-letters-room-9a.pdf"
    # Drawn by the worker from what the request queued: the same pages as the download.
    mailed, downloaded = (PdfReader(io.BytesIO(pdf)) for pdf in (attachment.get_content(), response.data))
    assert len(mailed.pages) == len(STUDENTS)
    assert [p.extract_text() for p in mailed.pages] == [p.extract_text() for p in downloaded.pages]


def test_without_a_mail_server_the_message_goes_to_the_log(app, caplog):
    room, leader = classroom_with_students(["Sam Student"])
    client, response = post_letters(app, room, leader)
    assert response.status_code == 200
    run_until_idle(app)
    logged = [r.getMessage() for r in caplog.records if "Mail to leo@oak.example" in r.getMessage()]
    assert len(logged) == 1
    assert "Parent letters for Room 9A" in logged[0]
    assert "[attached: parent-letters-room-9a.pdf" in logged[0]
    # And the page promises no email it cannot send.
    page = text_of(client.get(f"/classrooms/{room.id}"))
    assert "The PDF downloads at once. Codes made before keep working" in page
    assert "emailed" not in page


def test_an_unreachable_mail_server_still_gives_the_download(tmp_path, caplog):
    app = mail_app(tmp_path, MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port())
    with app.app_context():
        room, leader = classroom_with_students(["Sam Student"])
        client, response = post_letters(app, room, leader)
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        db.session.commit()
        run_until_idle(app)
        assert any("could not be sent" in r.getMessage() for r in caplog.records)
        job = db.session.scalar(select(Job))
        assert (job.status, job.attempts) == ("queued", 1), "kept, to be tried again"
        assert "ConnectionRefusedError" in job.last_error
        db.session.remove()


def test_the_sign_up_mail_goes_through_the_same_server(mailing_app, smtp):
    inbox, _ = smtp
    response = mailing_app.test_client().post(
        "/signup", data={"name": "Nora New", "email": "nora@example.org", "password": "a-long-password"}
    )
    assert response.status_code == 303
    run_until_idle(mailing_app)
    (message,) = inbox.messages()
    assert message["To"] == "nora@example.org"
    assert message["Subject"] == "Finish signing up"
    assert "http://localhost/signup/finish/" in message.get_body(("plain",)).get_content()


def test_no_letters_for_an_empty_classroom(app):
    room, leader = classroom_with_students([])
    client, response = post_letters(app, room, leader)
    assert response.status_code == 303 and response.headers["Location"] == f"/classrooms/{room.id}"
    assert "Nobody has joined Room 9A yet" in text_of(client.get(response.headers["Location"]))
    assert db.session.scalar(select(ParentCode.id)) is None


def test_a_leader_of_another_classroom_cannot_print(app, make):
    org = make.org(name="Oak School")
    room = make.classroom(org, "Room 9A")
    redeem(make.user("Sam Student"), room.join_code.text)
    other_leader = make.user("Lia Leader")
    make.classroom(org, "Room 9B", leaders=[other_leader])
    _, response = post_letters(app, room, other_leader)
    assert response.status_code == 404
    assert db.session.scalar(select(ParentCode.id)) is None


def test_a_letter_as_a_picture(app):
    """Renders the first page, to look at (tests/artifacts/parent_letter.png)."""
    need_service(shutil.which("pdftoppm"), "pdftoppm is not installed (apt-get install poppler-utils)")
    pdf = letters.build_pdf(
        "Oak School",
        "Room 9A",
        [
            letters.Letter(
                "Zoë Zimmer",
                "PARENT-7KQ4M-X9D2H",
                "https://codes.oak.example/parents/link?code=PARENT-7KQ4M-X9D2H",
                "2027-03-15 13:00",
            )
        ],
    )
    ARTIFACTS.mkdir(exist_ok=True)
    source = ARTIFACTS / "parent_letter.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-singlefile", str(source), str(ARTIFACTS / "parent_letter")],
        check=True,
    )
    picture = Image.open(ARTIFACTS / "parent_letter.png")
    assert picture.size == (662, 936)  # A4 at 80 dpi
    assert picture.convert("L").getextrema()[0] < 50, "something dark is drawn"
