import re

import pytest

from codes.codetext import (
    CROCKFORD,
    canonical,
    custom_code_problem,
    is_guessable,
    random_code,
    typed_code_problem,
)


@pytest.mark.parametrize(
    "typed",
    [
        "SPRING2026-7KQ4M-X9D2H",
        "spring2026 7kq4m x9d2h.",
        "  Spring2026–7KQ4M–X9D2H!  ",
        "spring2026\u00a07kq4m\u00a0x9d2h",
        "SPRING2026-7KQ4M-X9D2H,",
        "SPRING2026 - 7KQ4M - X9D2H?",
    ],
)
def test_typed_forms_share_one_key(typed):
    assert canonical(typed) == canonical("SPRING2026-7KQ4M-X9D2H") == "SPR1NG20267KQ4MX9D2H"


def test_letters_read_as_digits():
    assert canonical("SOLO-2027") == canonical("S0L0 2027") == "S0102027"
    assert canonical("il-IL") == "1111"


def test_inner_punctuation_is_kept_so_it_cannot_match():
    assert canonical("AB.CD") == "AB.CD"


def test_a_text_whose_key_grows_past_any_code_is_longer_than_any_code():
    # 150 letters, whose key is 300: "SS" for each "ß".
    assert canonical("ß" * 150) == "", "a key longer than any text typed is no code's"
    assert typed_code_problem("ß" * 150).startswith("That is longer than any code")
    assert typed_code_problem("ß" * 20) is None


def test_empty_and_blank():
    assert canonical("") == ""
    assert canonical("  - ") == ""
    assert canonical(None) == ""


def test_random_code_shape_and_alphabet():
    code = random_code("SPRING2026")
    assert re.fullmatch(r"SPRING2026-[0-9A-Z]{5}-[0-9A-Z]{5}", code)
    symbols = code.split("-", 1)[1].replace("-", "")
    assert len(symbols) == 10 and set(symbols) <= set(CROCKFORD)
    assert not set(symbols) & set("ILOU")
    assert re.fullmatch(r"[0-9A-Z]{5}-[0-9A-Z]{5}", random_code())


def test_random_codes_are_their_own_key_and_do_not_repeat():
    codes = {random_code() for _ in range(2000)}
    assert len(codes) == 2000
    for code in list(codes)[:50]:
        assert canonical(code) == code.replace("-", "")


@pytest.mark.parametrize(
    "text, problem",
    [
        ("ABC", "4 to 40"),
        ("A" * 41, "4 to 40"),
        ("MHS PTA", "letters, digits and dashes"),
        ("MHS_PTA", "letters, digits and dashes"),
        ("CAFÉ-2027", "letters, digits and dashes"),
        ("----", "not only dashes"),
    ],
)
def test_custom_code_problems(text, problem):
    assert problem in custom_code_problem(text)


def test_good_custom_codes():
    assert custom_code_problem("MHS-PTA-2027") is None
    assert custom_code_problem("abcd") is None


def test_guessable():
    assert is_guessable("MATH")
    assert is_guessable("12345678")
    assert is_guessable("AAAA-BBBB")
    assert not is_guessable("MHS-PTA-2027")
