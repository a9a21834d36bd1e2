"""The text of codes: the lookup key, random codes, and the rules for custom ones."""
import re
import secrets

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RANDOM_SYMBOLS = 10  # 50 random bits, not counting the prefix
GROUP = 5
MAX_TYPED = 200  # longer input cannot be any code; it is not looked up

_IGNORED = re.compile(r"[\s\u00a0\u2007\u202f\-\u2010-\u2015\u2212]+")
_TRAILING = re.compile(r"[.,;:!?'\"\u2019\u201d)\]]+$")
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})
CUSTOM_RE = re.compile(r"^[A-Za-z0-9-]{4,40}$")
PREFIX_RE = re.compile(r"^[A-Z0-9]{0,20}$")


def canonical(text):
    """The lookup key of a code or of what a person typed: upper case, without
    spaces, dashes, non-breaking spaces or trailing punctuation, with O read as 0
    and I or L as 1. Two texts with one key are the same code."""
    if not text:
        return ""
    key = _TRAILING.sub("", text.strip())
    key = _IGNORED.sub("", key).upper()
    return key.translate(_READ_AS)


def random_code(prefix=""):
    """A random code: the public prefix, then 10 Crockford symbols in groups of 5."""
    symbols = "".join(secrets.choice(CROCKFORD) for _ in range(RANDOM_SYMBOLS))
    groups = [symbols[i:i + GROUP] for i in range(0, RANDOM_SYMBOLS, GROUP)]
    return "-".join([prefix, *groups] if prefix else groups)


def custom_code_problem(text):
    """Why a custom code text cannot be used, or None."""
    if not CUSTOM_RE.match(text):
        if not 4 <= len(text) <= 40:
            return "A code is 4 to 40 characters long."
        return "Use only letters, digits and dashes."
    if not canonical(text):
        return "A code needs letters or digits, not only dashes."
    return None


def is_guessable(text):
    """Short or easy to guess: fewer than 8 symbols, few distinct symbols, or a
    plain number. Staff are warned about such codes when nothing else (a domain
    rule or a max-uses limit) protects them."""
    key = canonical(text)
    return len(key) < 8 or len(set(key)) < 4 or key.isdigit()
