"""The text of codes: the lookup key, random codes, and the rules for custom ones."""

import re
import secrets

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RANDOM_SYMBOLS = 10  # 50 random bits, not counting the prefix
GROUP = 5
MAX_TYPED = 200  # longer input cannot be any code; it is not looked up
# The longest lookup key of any code: a custom code is at most 40 characters,
# random and parent codes are shorter. What a person types may be longer (spaces,
# dashes), so it is its key that is measured.
MAX_KEY = 40

_IGNORED = re.compile(r"[\s\u00a0\u2007\u202f\-\u2010-\u2015\u2212]+")
# Stripped with str.rstrip, which is linear: a pattern anchored at the end
# ([...]+$) ran in quadratic time on a long run of these followed by anything
# else, and four such requests held every worker for a minute.
_TRAILING = ".,;:!?'\"\u2019\u201d)]"
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})
CUSTOM_RE = re.compile(r"^[A-Za-z0-9-]{4,40}$")
# Letters and digits, in groups joined by single dashes ("FALL-2027"), as staff
# type them; the dashes, as anywhere in a code, are not part of its lookup key.
PREFIX_RE = re.compile(r"^(?:[A-Z0-9]+(?:-[A-Z0-9]+)*)?$")


def canonical(text: str | None) -> str:
    """The lookup key of a code or of what a person typed: upper case, without
    spaces, dashes, non-breaking spaces or trailing punctuation, with O read as 0
    and I or L as 1. Two texts with one key are the same code. A text longer
    than MAX_TYPED can be no code: it has no key (""), whatever its length."""
    if not text:
        return ""
    text = text.strip()
    if len(text) > MAX_TYPED:
        return ""
    key = _key(text)
    # Upper case can be longer ("ß" is "SS"): a key past MAX_TYPED is no code's.
    return key if len(key) <= MAX_TYPED else ""


def _key(text: str) -> str:
    # Spaces and dashes go first: punctuation before them ("9A-2027)-") is
    # trailing too, so the key of a key is the key itself.
    return _IGNORED.sub("", text).rstrip(_TRAILING).upper().translate(_READ_AS)


def typed_code_problem(text: str | None) -> str | None:
    """Why what a person typed into a code box can be no code, said beside the
    box rather than looked up: longer than any code. Never cut to length: a
    pasted paragraph cut to 40 characters could be looked up as a code."""
    text = (text or "").strip()
    if len(text) > MAX_TYPED or len(_key(text)) > MAX_KEY:
        return (
            f"That is longer than any code: a code has at most {MAX_KEY} letters and "
            f"digits. Check what you pasted, and type only the code."
        )
    return None


def random_code(prefix: str = "") -> str:
    """A random code: the public prefix, then 10 Crockford symbols in groups of 5."""
    symbols = "".join(secrets.choice(CROCKFORD) for _ in range(RANDOM_SYMBOLS))
    groups = [symbols[i : i + GROUP] for i in range(0, RANDOM_SYMBOLS, GROUP)]
    return "-".join([prefix, *groups] if prefix else groups)


def custom_code_problem(text: str) -> str | None:
    """Why a custom code text cannot be used, or None."""
    if not CUSTOM_RE.match(text):
        if not 4 <= len(text) <= 40:
            return "A code is 4 to 40 characters long."
        return "Use only letters, digits and dashes."
    if not canonical(text):
        return "A code needs letters or digits, not only dashes."
    return None


def is_guessable(text: str) -> bool:
    """Short or easy to guess: fewer than 8 symbols, few distinct symbols, or a
    plain number. Staff are warned about such codes when nothing else (a domain
    rule or a max-uses limit) protects them."""
    key = canonical(text)
    return len(key) < 8 or len(set(key)) < 4 or key.isdigit()
