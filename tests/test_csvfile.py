"""The CSV an export writes itself (csvfile.field, csvfile.typed) is the CSV
csv.writer writes, byte for byte, whatever a cell holds."""

import random

from codes import csvfile

AWKWARD = ["", " ", ",", '"', '""', "\r", "\n", "\r\n", "a,b", 'say "hi"', "=1+1", "-", "'", "é", "\t", ";"]


def random_cells(count=2000):
    pick = random.Random(16)
    symbols = ["a", "Z", "0", " ", ",", '"', "\r", "\n", "\t", "=", "+", "-", "@", "'", "é", "漢", ";"]
    return ["".join(pick.choice(symbols) for _ in range(pick.randint(0, 6))) for _ in range(count)]


def test_a_field_is_what_csv_writer_writes():
    for cell in AWKWARD + random_cells():
        # A second cell after it: csv.writer quotes a row's only empty cell.
        assert csvfile.field(cell) + ",x\r\n" == csvfile.line([cell, "x"]), repr(cell)


def test_a_typed_cell_is_made_inert_then_written_as_csv_writer_writes_it():
    for cell in AWKWARD + random_cells():
        assert csvfile.typed(cell) + ",x\r\n" == csvfile.line([csvfile.inert(cell), "x"]), repr(cell)


def test_changed_finds_a_cell_exactly_when_typed_changes_it():
    for cell in AWKWARD + random_cells():
        assert (csvfile.changed(cell) is not None) == (csvfile.typed(cell) != cell), repr(cell)
