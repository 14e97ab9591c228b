"""Voice blends by recipe: ``af_bella(2)+af_sky(1)`` speaks with af_bella's and af_sky's style tables
weighted 2:1 (Kokoro-FastAPI's syntax).

A recipe is parts joined by ``+``; a part is a built-in voice, a pack (``af_bella``) or a numbered voice
(``voice_002``: the pack it speaks with), with an optional positive weight in parentheses (default 1).
Stored voices and recipes cannot be parts: a blend mixes packs. A recipe is normalized before
anything else: names become packs, a pack named twice is one part with the weights added, weights
become thousandths of the whole (the heaviest part takes the rounding, so they add up to exactly 1)
and parts go heaviest first, then by name. The normalized text (``af_bella(0.667)+af_sky(0.333)``) is
the voice's id, so equal blends share their cached audio, and normalizing it again gives it back.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from megatts3_server.engines.kokoro.catalogue import pack_info
from megatts3_server.errors import InvalidRequestError

MAX_PARTS = 8
_PART = re.compile(r"^\s*(?P<name>[^()\s]+)\s*(?:\((?P<weight>[^()]*)\))?\s*$")
# A plain decimal: no sign, exponent, nan or inf; at most six digits each side of the point.
_WEIGHT = re.compile(r"^\s*(\d{1,6}(\.\d{0,6})?|\.\d{1,6})\s*$")
_WHOLE = 1000


@dataclass(frozen=True)
class Recipe:
    """A normalized recipe: (pack, thousandths) heaviest first; the thousandths add up to 1000."""

    parts: tuple[tuple[str, int], ...]

    @property
    def text(self) -> str:
        """The canonical spelling: the voice id of the blend (a one-part recipe is the pack's name)."""
        if len(self.parts) == 1:
            return self.parts[0][0]
        return "+".join(f"{pack}({_decimal(share)})" for pack, share in self.parts)

    @property
    def weights(self) -> list[tuple[str, float]]:
        """Each pack with its share of the blend (they add up to 1)."""
        return [(pack, share / _WHOLE) for pack, share in self.parts]

    @property
    def language(self) -> str:
        """The language most of the blend's weight was recorded in."""
        return _heaviest(lambda pack: pack_info(pack).language, self.parts)

    @property
    def gender(self) -> str:
        """The gender most of the blend's weight has."""
        return _heaviest(lambda pack: pack_info(pack).gender, self.parts)


def _decimal(share: int) -> str:
    return f"{share / _WHOLE:.3f}".rstrip("0").rstrip(".")


def _heaviest(trait: Callable[[str], str], parts: tuple[tuple[str, int], ...]) -> str:
    totals: dict[str, int] = {}
    for pack, share in parts:  # heaviest part first: it wins a tie
        totals[trait(pack)] = totals.get(trait(pack), 0) + share
    return max(totals, key=totals.__getitem__)


def _bad(recipe: str, part: str | None, message: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"blend recipe {recipe!r}: {message}", code="invalid_recipe", details={"recipe": recipe, "part": part}
    )


def _split(recipe: str) -> list[str]:
    """The parts between the ``+`` signs, parentheses checked first (one level, each closed)."""
    depth = 0
    opened = 0
    for position, char in enumerate(recipe, start=1):
        if char == "(":
            if depth:
                raise _bad(recipe, None, f"'(' at character {position} opens inside another '('")
            depth, opened = 1, position
        elif char == ")":
            if not depth:
                raise _bad(recipe, None, f"')' at character {position} closes no '('")
            depth = 0
        elif char == "+" and depth:
            raise _bad(recipe, None, f"'+' at character {position} is inside a weight's parentheses")
    if depth:
        raise _bad(recipe, None, f"'(' at character {opened} is never closed")
    return recipe.split("+")


def parse_recipe(recipe: str, resolve: Callable[[str], str | None]) -> Recipe:
    """The normalized recipe; InvalidRequestError (422 ``invalid_recipe``, ``details.part`` the part at
    fault) for any bad one. ``resolve`` maps a part's name to the pack it stands for (None: not a
    built-in voice)."""
    if not recipe.strip():
        raise _bad(recipe, None, "it is empty")
    parts = _split(recipe)
    if len(parts) > MAX_PARTS:
        raise _bad(recipe, None, f"it has {len(parts)} parts; a blend has at most {MAX_PARTS}")
    weights: dict[str, float] = {}
    for number, part in enumerate(parts, start=1):
        if not part.strip():
            raise _bad(recipe, part, f"part {number} is empty (a '+' with nothing on one side)")
        match = _PART.match(part)
        if match is None:
            raise _bad(recipe, part, f"part {part.strip()!r} is not 'voice' or 'voice(weight)'")
        name, text = match["name"], match["weight"]
        weight = 1.0
        if text is not None:
            if not _WEIGHT.match(text):
                raise _bad(recipe, part, f"the weight {text!r} of {part.strip()!r} is not a number such as 2 or 0.5")
            weight = float(text)
            if weight <= 0:
                raise _bad(recipe, part, f"the weight of {part.strip()!r} is 0; a part's weight must be above 0")
        pack = resolve(name)
        if pack is None:
            raise _bad(
                recipe,
                part,
                f"{name!r} is not a built-in voice; a blend mixes built-in voices (GET /api/v1/voices lists them)",
            )
        weights[pack] = weights.get(pack, 0.0) + weight
    total = sum(weights.values())
    shares = {pack: round(_WHOLE * weight / total) for pack, weight in weights.items()}
    heaviest = min(shares, key=lambda pack: (-shares[pack], pack))
    shares[heaviest] += _WHOLE - sum(shares.values())
    light = sorted(pack for pack, share in shares.items() if share <= 0)
    if light:
        raise _bad(recipe, light[0], f"{light[0]} has less than 0.1 % of the blend's weight; leave it out")
    return Recipe(tuple(sorted(shares.items(), key=lambda item: (-item[1], item[0]))))
