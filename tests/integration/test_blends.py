"""Voice blends on the embedded engine: a recipe speaks wherever a voice is named, under its normalized
spelling (one cache entry for every spelling), and can be stored as a named voice."""

from __future__ import annotations

import httpx
import pytest

RECIPE = "af_bella(2)+af_sky(1)"
NORMALIZED = "af_bella(0.667)+af_sky(0.333)"


def _speak(client: httpx.Client, voice: str, text: str = "Hello there, friend.") -> httpx.Response:
    return client.post("/api/v1/tts/synthesize", json={"text": text, "voice_id": voice})


def test_a_recipe_speaks_under_its_normalized_spelling(client: httpx.Client) -> None:
    first = _speak(client, RECIPE)
    assert first.status_code == 200, first.text
    assert (first.headers["X-Voice-Id"], first.headers["X-Voice-Used"]) == (NORMALIZED, NORMALIZED)
    again = _speak(client, "AF_SKY(0.5) + af_bella")  # another spelling of the same blend
    assert again.headers["X-Cache"] == "hit" and again.content == first.content
    assert _speak(client, "af_bella").content != first.content  # a blend, not one of its packs


@pytest.mark.parametrize(
    ("recipe", "part"),
    [("af_bella(2", None), ("af_bella(0)+af_sky", "af_bella(0)"), ("af_bella+narrator", "narrator")],
)
def test_a_bad_recipe_is_a_422_naming_the_part(client: httpx.Client, recipe: str, part: str | None) -> None:
    answer = _speak(client, recipe)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_recipe" and error["details"] == {"recipe": recipe, "part": part}


def test_a_blend_is_stored_spoken_listed_and_deleted(client: httpx.Client) -> None:
    body = {"voice_id": "Blend_Narrator", "blend": RECIPE, "description": "the narrator"}
    created = client.post("/api/v1/voices", json=body)
    assert created.status_code == 201, created.text
    voice = created.json()
    assert (voice["id"], voice["name"], voice["type"], voice["blend"]) == (
        "blend_narrator",
        "blend_narrator",
        "blend",
        NORMALIZED,
    )
    assert (voice["language"], voice["gender"], voice["status"]) == ("en-US", "female", "ready")
    assert client.post("/api/v1/voices", json=body).json()["error"]["code"] == "voice_exists"
    listed = {listed["id"]: listed for listed in client.get("/api/v1/voices").json()["voices"]}
    assert listed["blend_narrator"] == voice == client.get("/api/v1/voices/blend_narrator").json()

    spoken = _speak(client, "blend_narrator")
    assert spoken.status_code == 200
    assert (spoken.headers["X-Voice-Id"], spoken.headers["X-Voice-Used"]) == ("blend_narrator", NORMALIZED)
    assert spoken.content == _speak(client, RECIPE).content

    bad = client.post("/api/v1/voices", json={"voice_id": "blend_bad", "blend": "af_bella+nobody"})
    assert bad.status_code == 422 and bad.json()["error"]["details"]["part"] == "nobody"
    assert client.get("/api/v1/voices/blend_bad").status_code == 404

    assert client.delete("/api/v1/voices/blend_narrator").json() == {"id": "blend_narrator", "deleted": True}
    assert _speak(client, "blend_narrator").status_code == 404
