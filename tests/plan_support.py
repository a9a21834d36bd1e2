"""PostgreSQL's plans of what a page ran, as EXPLAIN ANALYZE gives them: how many
rows the page read of some tables, so that a test can hold a page to reading
its own rows rather than an organization's every row of a kind."""

from codes.extensions import db


def rows_read(node, tables):
    """The rows a plan's nodes on `tables` read: those they kept and those their
    filter removed, in every loop."""
    read = 0
    if node.get("Relation Name") in tables:
        kept = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
        read += kept * node.get("Actual Loops", 1)
    return read + sum(rows_read(child, tables) for child in node.get("Plans", []))


def most_read(statements, tables):
    """Each statement (with its parameters) run under EXPLAIN ANALYZE: the rows of
    `tables` it read, with the statement, the most first."""
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        found = []
        for statement, parameters in statements:
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
            (plan,) = cursor.fetchone()
            found.append((rows_read(plan[0]["Plan"], tables), statement))
        return sorted(found, key=lambda pair: -pair[0])
    finally:
        raw.close()
