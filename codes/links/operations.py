"""A code's short link and its QR code."""

import io

import segno

# Error correction M: about 15% of the symbol may be lost (a scratched poster,
# a slide seen at an angle) and it still reads, while the symbol stays small.
QR_ERROR = "m"
QUIET_ZONE = 4  # modules of white around the symbol, as the QR standard asks


def qr_svg(text: str, title: str = "") -> bytes:
    """An SVG picture of the QR code of `text`, black on white, one unit a
    module, sized by whoever shows it (a viewBox, no width or height)."""
    qr = segno.make(text, error=QR_ERROR, micro=False)
    out = io.BytesIO()
    qr.save(
        out,
        kind="svg",
        scale=1,
        border=QUIET_ZONE,
        dark="#000",
        light="#fff",
        xmldecl=False,
        omitsize=True,
        svgclass=None,
        lineclass=None,
        title=title or None,
    )
    return out.getvalue()


def without_scheme(link: str) -> str:
    """The link as people type it, without https:// in front."""
    return link.partition("://")[2] or link
