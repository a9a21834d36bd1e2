"""Parent letters: one A4 page per student with their parent code, its link, a
QR code of the link and short instructions, as a PDF (fpdf2)."""

import io
from dataclasses import dataclass
from pathlib import Path

import segno
from fpdf import FPDF

from .. import mail
from ..links.operations import QR_ERROR, QUIET_ZONE

FONTS = Path(__file__).resolve().parent.parent.parent / "static" / "vendor" / "dejavu"
FONT = "DejaVu"
PAGE_WIDTH = 210  # A4, in millimetres
MARGIN = 20
QR_SIZE = 55
STEP_INDENT = 7
QR_PIXELS_PER_MODULE = 16  # about 300 dpi at QR_SIZE mm: sharp when printed
INK = (29, 36, 48)
MUTED = (102, 112, 133)
BOX = (36, 86, 201)


@dataclass(frozen=True)
class Letter:
    student_name: str
    code_text: str
    link: str
    expires: str


def _qr_png(link):
    out = io.BytesIO()
    segno.make(link, error=QR_ERROR, micro=False).save(
        out, kind="png", scale=QR_PIXELS_PER_MODULE, border=QUIET_ZONE
    )
    out.seek(0)
    return out


class _LetterPDF(FPDF):
    def __init__(self, organization, classroom):
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.organization = organization
        self.classroom = classroom
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(False)
        # Names in any European script: the PDF's built-in fonts know Latin-1 only.
        self.add_font(FONT, "", str(FONTS / "DejaVuSans.ttf"))
        self.add_font(FONT, "B", str(FONTS / "DejaVuSans-Bold.ttf"))
        self.set_title(f"Parent letters, {classroom}")
        self.set_creator("Codes")
        self.set_author(organization)

    def _text(self, size, text, style="", color=INK, height=None, align="L"):
        self.set_font(FONT, style, size)
        self.set_text_color(*color)
        self.multi_cell(0, height or size * 0.5, text, align=align, new_x="LMARGIN", new_y="NEXT")

    def letter(self, letter):
        self.add_page()
        name = letter.student_name
        self._text(10, f"{self.organization} · {self.classroom}", color=MUTED)
        self.ln(6)
        self._text(22, f"For the parents of {name}", style="B", height=10)
        self.ln(3)
        self._text(
            11.5,
            (
                f"With the parent code below you can follow {name} in Codes: you will see the "
                f"classrooms and courses {name} is in, as far as the teachers share them with "
                f"parents. It shows you nothing about other students."
            ),
            height=6,
        )
        self.ln(7)
        self._code_box(letter.code_text)
        self.ln(5)
        self._text(10, f"Works once, for one parent, until {letter.expires}.", color=MUTED, align="C")
        self.ln(5)
        self.image(_qr_png(letter.link), x=(PAGE_WIDTH - QR_SIZE) / 2, y=self.get_y(), w=QR_SIZE, h=QR_SIZE)
        self.set_y(self.get_y() + QR_SIZE + 2)
        self._text(10, letter.link, color=BOX, align="C")
        self.ln(8)
        self._text(13, "How to link your account", style="B", height=7)
        self.ln(1)
        steps = (
            "Scan the QR code with your phone's camera, or type the link above into a browser.",
            "Sign up with your own email address, or log in if you already have an account.",
            "The code is filled in for you: press Link. (You can also type the code on the Parents page.)",
            f"{name} is now on your Parents page, with what the teachers share.",
        )
        for number, step in enumerate(steps, start=1):
            # The number in a column of its own, so a step's second line lines up under its first.
            self.set_font(FONT, "B", 11.5)
            self.set_text_color(*INK)
            self.cell(STEP_INDENT, 6, f"{number}.")
            self._text(11.5, step, height=6)
            self.ln(1.5)
        self.ln(5)
        self._text(
            9.5,
            (
                f"Keep this page to yourself: whoever enters the code first is linked to {name}. "
                f"If the code has expired or was already used, ask {name} or the teacher for a new "
                f"one. Each parent or guardian needs a code of their own."
            ),
            color=MUTED,
            height=5,
        )

    def _code_box(self, text):
        self.set_font(FONT, "B", 26)
        self.set_char_spacing(1.5)
        width = self.get_string_width(text) + 16
        x, y = (PAGE_WIDTH - width) / 2, self.get_y()
        self.set_draw_color(*BOX)
        self.set_line_width(0.6)
        self.rect(x, y, width, 18, style="D")
        self.set_text_color(*INK)
        self.set_xy(x, y)
        self.cell(width, 18, text, align="C")
        self.set_char_spacing(0)
        self.set_xy(MARGIN, y + 18)


def build_pdf(organization, classroom, letters):
    """The PDF of the letters, one page each, in the order given."""
    pdf = _LetterPDF(organization, classroom)
    for letter in letters:
        pdf.letter(letter)
    return bytes(pdf.output())


def attachment_of(filename, organization, classroom, letters):
    """What a queued mail needs to draw the letters as its attachment (drawn by
    the worker, codes.mail.ATTACHMENTS)."""
    return {
        "kind": "parent_letters",
        "filename": filename,
        "organization": organization,
        "classroom": classroom,
        "letters": [[x.student_name, x.code_text, x.link, x.expires] for x in letters],
    }


@mail.attachment("parent_letters")
def _draw_attachment(data):
    letters = [Letter(*fields) for fields in data["letters"]]
    pdf = build_pdf(data["organization"], data["classroom"], letters)
    return mail.Attachment(data["filename"], "application/pdf", pdf)
