"""Blend recipes: normalized into one spelling (the voice id and cache key), every bad one a 422 naming
the part at fault."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from megatts3_server.engines.kokoro.packs import PACK_NAMES
from megatts3_server.engines.kokoro.recipes import MAX_PARTS, parse_recipe
from megatts3_server.errors import InvalidRequestError

NUMBERED = {"voice_002": "zf_xiaoyi"}


def resolve(name: str) -> str | None:
    """Packs and one numbered voice, as the engine resolves a part's name."""
    return name if name in PACK_NAMES else NUMBERED.get(name)


@pytest.mark.parametrize(
    ("recipe", "normalized"),
    [
        ("af_bella(2)+af_sky(1)", "af_bella(0.667)+af_sky(0.333)"),
        ("af_sky(1) + af_bella(2)", "af_bella(0.667)+af_sky(0.333)"),  # order and spaces do not matter
        ("af_sky(0.5)+af_bella(1)", "af_bella(0.667)+af_sky(0.333)"),  # only the ratio does
        ("af_bella+af_sky", "af_bella(0.5)+af_sky(0.5)"),  # no weight: 1
        ("af_sky+af_bella(1)+af_sky", "af_sky(0.667)+af_bella(0.333)"),  # a pack twice: one part
        ("zf_xiaoxiao+zf_xiaoyi+zm_yunxi", "zf_xiaoxiao(0.334)+zf_xiaoyi(0.333)+zm_yunxi(0.333)"),  # adds up to 1
        ("voice_002(3)+zm_yunxi", "zf_xiaoyi(0.75)+zm_yunxi(0.25)"),  # a numbered voice: the pack it speaks with
        ("af_bella(2)", "af_bella"),  # one part: the pack itself
        ("zf_xiaobei(.5)+zm_yunxi(1.25)", "zm_yunxi(0.714)+zf_xiaobei(0.286)"),
    ],
)
def test_a_recipe_is_normalized_into_one_spelling_that_normalizes_to_itself(recipe: str, normalized: str) -> None:
    parsed = parse_recipe(recipe, resolve)
    assert parsed.text == normalized
    assert parse_recipe(parsed.text, resolve) == parsed
    assert sum(share for _, share in parsed.weights) == pytest.approx(1.0)


def test_a_blend_has_the_language_and_gender_of_most_of_its_weight() -> None:
    mostly_english = parse_recipe("af_bella(2)+zm_yunxi(1)", resolve)
    assert (mostly_english.language, mostly_english.gender) == ("en-US", "female")
    male_chinese = parse_recipe("zm_yunxi(1)+zm_yunxia(1)+af_bella(1)", resolve)
    assert (male_chinese.language, male_chinese.gender) == ("zh", "male")


@pytest.mark.parametrize(
    ("recipe", "part", "says"),
    [
        ("", None, "empty"),
        ("   ", None, "empty"),
        ("af_bella(2", None, "'(' at character 9 is never closed"),
        ("af_bella2)+af_sky", None, "')' at character 10 closes no '('"),
        ("af_bella((2))", None, "opens inside another"),
        ("af_bella(+2)", None, "inside a weight's parentheses"),
        ("+".join(["af_bella"] * (MAX_PARTS + 1)), None, f"at most {MAX_PARTS}"),
        ("af_bella++af_sky", "", "part 2 is empty"),
        ("af_bella+", "", "part 2 is empty"),
        ("+af_sky", "", "part 1 is empty"),
        ("af_bella(1)(2)+af_sky", "af_bella(1)(2)", "is not 'voice' or 'voice(weight)'"),
        ("af bella(1)+af_sky", "af bella(1)", "is not 'voice' or 'voice(weight)'"),
        ("af_bella(x)+af_sky", "af_bella(x)", "the weight 'x'"),
        ("af_bella()+af_sky", "af_bella()", "the weight ''"),
        ("af_bella(-1)+af_sky", "af_bella(-1)", "the weight '-1'"),
        ("af_bella(nan)+af_sky", "af_bella(nan)", "the weight 'nan'"),
        ("af_bella(inf)+af_sky", "af_bella(inf)", "the weight 'inf'"),
        ("af_bella(1e3)+af_sky", "af_bella(1e3)", "the weight '1e3'"),
        ("af_bella(0)+af_sky", "af_bella(0)", "must be above 0"),
        ("af_bella(0.000)+af_sky", "af_bella(0.000)", "must be above 0"),
        ("af_bella(1000)+af_sky(0.1)", "af_sky", "less than 0.1 %"),
        ("af_bella+nobody", "nobody", "'nobody' is not a built-in voice"),
        ("af_bella+narrator(2)", "narrator(2)", "'narrator' is not a built-in voice"),  # a stored voice or recipe
    ],
)
def test_every_bad_recipe_is_a_422_naming_the_part(recipe: str, part: str | None, says: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_recipe(recipe, resolve)
    error = caught.value
    assert (error.status, error.code) == (422, "invalid_recipe")
    assert error.details == {"recipe": recipe, "part": part}
    assert says in error.message and repr(recipe) in error.message


@given(
    st.lists(
        st.tuples(st.sampled_from(PACK_NAMES), st.integers(1, 999_999), st.integers(0, 999)),
        min_size=2,
        max_size=MAX_PARTS,
    )
)
def test_normalizing_is_idempotent(parts: list[tuple[str, int, int]]) -> None:
    recipe = "+".join(f"{name}({whole}.{fraction:03d})" for name, whole, fraction in parts)
    try:
        parsed = parse_recipe(recipe, resolve)
    except InvalidRequestError as exc:
        assert exc.message.endswith("leave it out")  # a part too light to keep: refused, not rounded away
        return
    assert parse_recipe(parsed.text, resolve) == parsed
    assert sum(share for _, share in parsed.parts) == 1000
