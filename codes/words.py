"""How the app says a number of things, in one place: every count a page or a
message shows goes through plural(), so that "1 seats" is never written and
translations later have one function to take over."""


def plural(n: int, one: str, many: str | None = None) -> str:
    """`n` and the words for that many: plural(1, "seat") is "1 seat",
    plural(2, "seat") "2 seats", plural(3, "seat is", "seats are") "3 seats are".
    Without `many`, it is `one` with an s."""
    return f"{n} {one if n == 1 else (many if many is not None else one + 's')}"


def plural_counted(counted, one: str, many: str | None = None) -> str:
    """plural() of a capped count (codes.listing.Counted): "more than 10,000
    codes" when the list was counted no further."""
    if counted.more:
        return f"more than {counted.total:,} {many if many is not None else one + 's'}"
    return plural(counted.total, one, many)


def choose(n: int, one: str, many: str) -> str:
    """Only the words, without the number: choose(1, "has", "have") is "has"."""
    return one if n == 1 else many


def coincides(name: str, other: str) -> str:
    """A chart's legend, where two lines have the same figures and one is drawn
    dashed beside the other."""
    return f"{name} coincides with {other}: the same figures, drawn dashed beside it"


def counted_range(before, shown: int, counted, one: str, many: str | None = None) -> str:
    """Which rows of a list a page shows, from the rows counted in front of it
    (codes.listing.KeysetPage.before): "26–50 of 1,234 people"; "25 of more than
    10,000 people, after the first 10,000" past the count; "the last 25 of more
    than 10,000 people" on the last page of a list counted no further."""
    of = plural_counted(counted, one, many)
    if before is None:
        return f"The last {shown:,} of {of}"
    if before.more:
        return f"{shown:,} of {of}, after the first {before.total:,}"
    return f"{before.total + 1:,}–{before.total + shown:,} of {of}"
