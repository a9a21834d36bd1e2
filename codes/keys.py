"""Lookup keys name one thing across the whole site (DESIGN.md "Code text"): no
two codes, and no code and parent code, share one, nor takes the old key of a
rotated code (which answers "no longer valid"). The one place that asks."""

from collections.abc import Iterable

from sqlalchemy import select

from .extensions import db
from .models import Code, ParentCode, RetiredKey


def taken(keys: Iterable[str], except_code_id: int | None = None) -> set[str]:
    """Which of these lookup keys a code (other than except_code_id), a parent
    code or a rotated code's old text already has, in one query."""
    keys = list(keys)
    if not keys:
        return set()
    codes = select(Code.key).where(Code.key.in_(keys))
    if except_code_id is not None:
        codes = codes.where(Code.id != except_code_id)
    return set(
        db.session.scalars(
            codes.union(
                select(ParentCode.key).where(ParentCode.key.in_(keys)),
                select(RetiredKey.key).where(RetiredKey.key.in_(keys)),
            )
        )
    )


def is_taken(key: str, except_code_id: int | None = None) -> bool:
    return bool(taken([key], except_code_id))
