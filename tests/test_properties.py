"""Properties over many generated inputs (hypothesis): the lookup key is stable,
and the code box answers every text, however long or strange, without an error,
redeeming the code for the texts that name it and for no other."""

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from codes.codetext import MAX_TYPED, canonical, random_code
from codes.models import Redemption
from conftest import HX, Factory, count, soup

# Hypothesis keeps no example database here: the suite's answer must not depend
# on what an earlier run happened to find.
FAST = settings(max_examples=150, deadline=None, database=None)
THROUGH_THE_APP = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

any_text = st.text(st.characters(exclude_categories=["Cs"]))  # lone surrogates are no text
KEY = canonical("OAK-9A-2027")
near_codes = st.sampled_from(["OAK-9A-2027", "oak 9a 2o27.", "0AK\u00a09A\u20112027", "OAK9A2027!?"])


@FAST
@given(any_text)
@example("S0L0 2027")
@example("-- ,.")
@example("ǅ")  # title-case letters change again when upper-cased
@example(")-")  # punctuation before a dash is trailing once the dash is gone
@example("ß" * 150)  # upper case is longer: "SS" * 150
def test_canonical_is_idempotent(text):
    key = canonical(text)
    assert canonical(key) == key


@FAST
@given(st.text(alphabet="ABCDEFGHJKMNPQRSTVWXYZ0123456789", max_size=20))
def test_a_random_code_is_found_however_it_is_typed(prefix):
    code = random_code(prefix)
    key = canonical(code)
    assert canonical(code.lower().replace("-", " ") + ".") == key
    assert canonical(code.replace("-", "\u2010")) == key


@pytest.fixture
def student(any_db_app):
    """One student and one code; hypothesis runs every example against them."""
    any_db_app.config.update(
        REDEEM_FAILURES_PER_ACCOUNT=10**6, ADDRESS_FAILURES_SHARED=None, ADDRESS_FAILURES_HOSTILE=10**6
    )
    make = Factory()
    org = make.org()
    make.code(org, "OAK-9A-2027", classrooms=[make.classroom(org)])
    return make.user()


@THROUGH_THE_APP
@given(text=st.one_of(any_text, st.text(min_size=1000, max_size=20000), near_codes), htmx=st.booleans())
@example(text="\x00", htmx=False)
@example(text="A" * 300_000, htmx=False)
@example(text="OAK-9A-2027\x00", htmx=True)
@example(text="🎓" * 500, htmx=True)
def test_the_code_box_never_answers_500(any_db_app, student, text, htmx):
    client = any_db_app.test_client()
    client.login(student)
    before = count(Redemption)
    response = client.post("/redeem", data={"code": text}, headers=HX if htmx else {})
    if "\x00" in text:
        assert response.status_code == 400 and "NUL character" in response.get_data(as_text=True)
    else:
        assert response.status_code in (200, 303, 413, 422), response.status_code
    if response.status_code in (200, 422):
        assert soup(response).find(id="redeem") is not None
    # The code is redeemed by a text that names it, and by no other.
    names_the_code = "\x00" not in text and len(text) <= MAX_TYPED and canonical(text) == KEY
    if names_the_code:
        assert response.status_code == (200 if htmx else 303)
    assert count(Redemption) == (1 if names_the_code else before)
