"""CSV exports: streamed in pieces, readable by spreadsheets in any alphabet, and
never a formula (OWASP "CSV Injection")."""

import csv
import io
import re
from collections.abc import Iterable, Iterator

# Cells a spreadsheet would read as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
CHUNK = 1000
# Spreadsheets read UTF-8 when the file starts with its byte-order mark.
BOM = "\ufeff"
# What makes csv.writer quote a cell, in its default dialect ("excel"): the
# delimiter, the quote character, or a character of its line ending.
_QUOTED = re.compile('[,"\r\n]')


def inert(cell: object) -> object:
    """A cell a spreadsheet shows as text: one that would start a formula gets a
    leading apostrophe. Numbers and empty cells stay as they are."""
    if isinstance(cell, str) and cell.startswith(FORMULA_START):
        return "'" + cell
    return cell


def field(text: str) -> str:
    """A text cell as csv.writer writes it: in quotes, its own quotes doubled, when
    it holds a comma, a quote or a line break; as it is otherwise. For exports that
    write their lines themselves (tests/test_csvfile.py holds the two to agreeing)."""
    return '"' + text.replace('"', '""') + '"' if _QUOTED.search(text) else text


# Where typed() would change a cell (a formula's first character, or what CSV
# quotes), or None: one regular expression's search, for the many cells that
# it leaves as they are.
changed = re.compile("^[" + re.escape("".join(FORMULA_START)) + "]|" + _QUOTED.pattern).search


def typed(text: str) -> str:
    """A cell of what people typed (a name, a code), as an export that writes its
    own lines writes it: inert(), then field()."""
    if text.startswith(FORMULA_START):
        text = "'" + text
    return '"' + text.replace('"', '""') + '"' if _QUOTED.search(text) else text


def line(cells: Iterable[object]) -> str:
    """One row as csv.writer writes it, line ending included (a header)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(cells)
    return buffer.getvalue()


def chunks(
    header: Iterable[object], rows: Iterable[Iterable[object]], chunk: int = CHUNK, made_inert: bool = False
) -> Iterator[str]:
    """CSV text in pieces of `chunk` rows, every cell made inert, so an export of
    any size is streamed in flat memory. It starts with a byte-order mark, so
    spreadsheets read names in UTF-8. With made_inert, the rows' cells come inert
    already: the caller passed each cell that holds what people typed through
    inert(), once for each distinct value (a million codes share a few names)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write(BOM)
    writer.writerow(header)
    for number, row in enumerate(rows, 1):
        if made_inert:
            writer.writerow(row)
        else:
            # inert(), written out: a function call a cell was a fifth of an export's time.
            writer.writerow(
                [f"'{c}" if c.__class__ is str and c.startswith(FORMULA_START) else c for c in row]
            )
        if number % chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
