"""CSV exports: streamed in pieces, readable by spreadsheets in any alphabet, and
never a formula (OWASP "CSV Injection")."""

import csv
import io
from collections.abc import Iterable, Iterator

# Cells a spreadsheet would read as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
CHUNK = 1000


def inert(cell: object) -> object:
    """A cell a spreadsheet shows as text: one that would start a formula gets a
    leading apostrophe. Numbers and empty cells stay as they are."""
    if isinstance(cell, str) and cell.startswith(FORMULA_START):
        return "'" + cell
    return cell


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
    buffer.write("\ufeff")
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
