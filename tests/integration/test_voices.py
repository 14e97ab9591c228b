"""Voice storage over HTTP: upload in every format, list, show, delete, every bad input."""

from __future__ import annotations

import io
import pickle

import httpx
import numpy as np
import pytest

from megatts3_server.engines.kokoro.catalogue import numbered_packs, openai_aliases
from megatts3_server.engines.kokoro.packs import PACK_NAMES
from tests.conftest import TEST_MAX_VOICE_FILE_SIZE
from tests.support.audio import CONTAINERS, decode, encode

REFERENCE_TEXT = "This is my reference recording. I speak clearly for a few seconds so you can learn my voice."


@pytest.fixture(scope="module")
def reference(client: httpx.Client) -> tuple[np.ndarray, int]:
    """A real speech clip to upload as a reference: an English voice speaking English (its own table)."""
    response = client.post("/api/v1/tts/synthesize", json={"text": REFERENCE_TEXT, "voice_id": "am_michael"})
    assert response.status_code == 200
    return decode(response.content)


def _upload(
    client: httpx.Client, voice_id: str, data: bytes, filename: str = "ref.wav", **extra: object
) -> httpx.Response:
    files = {"voice_file": (filename, data, "application/octet-stream")}
    if "latent" in extra:
        files["voice_latent"] = ("ref.npy", extra.pop("latent"), "application/octet-stream")
    return client.post("/api/v1/voices/upload", files=files, data={"voice_id": voice_id, **extra})


def _error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize("container", sorted(CONTAINERS))
def test_upload_each_format_then_speak_with_it(client: httpx.Client, reference, container: str) -> None:
    samples, rate = reference
    voice_id = f"upload_{container}"
    response = _upload(
        client,
        voice_id,
        encode(samples, rate, container),
        f"ref.{container}",
        description=f"{container} upload",
        name=f"Reference {container}",
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"] == voice_id
    assert body["name"] == f"Reference {container}"
    assert body["type"] == "uploaded"
    assert body["status"] == "ready"
    assert body["duration"] == pytest.approx(len(samples) / rate, abs=0.15)

    listed = {voice["id"]: voice for voice in client.get("/api/v1/voices").json()["voices"]}
    assert listed[voice_id]["description"] == f"{container} upload"

    speech = client.post("/api/v1/tts/synthesize", json={"text": "Hello from my new voice.", "voice_id": voice_id})
    assert speech.status_code == 200, speech.text
    # The reference is a stock voice: the closest pack must be that same voice.
    assert speech.headers["X-Voice-Used"] == "am_michael"


def test_every_pack_is_a_builtin_voice_with_its_language_and_gender(client: httpx.Client) -> None:
    voices = client.get("/api/v1/voices").json()["voices"]
    assert all({"id", "name", "type"} <= voice.keys() for voice in voices)
    builtin = {voice["id"]: voice for voice in voices if voice["type"] == "builtin"}
    ids = list(builtin)
    # voice_001 … voice_005 first, speaking with their native Mandarin packs; then every pack by name.
    assert ids[:5] == [f"voice_00{i}" for i in range(1, 6)]
    assert ids[5:] == sorted(PACK_NAMES)
    for voice_id, pack in numbered_packs(PACK_NAMES).items():
        assert (builtin[voice_id]["name"], builtin[voice_id]["language"]) == (pack, "zh")
    assert builtin["voice_001"]["name"].startswith("zf_") and builtin["voice_005"]["name"].startswith("zm_")
    fields = {voice_id: (voice["name"], voice["language"], voice["gender"]) for voice_id, voice in builtin.items()}
    assert fields["af_bella"] == ("af_bella", "en-US", "female")
    assert fields["bm_george"] == ("bm_george", "en-GB", "male")
    assert fields["zm_yunxi"] == ("zm_yunxi", "zh", "male")
    assert fields["jf_alpha"] == ("jf_alpha", "ja", "female")
    assert fields["ff_siwis"] == ("ff_siwis", "fr", "female")
    assert fields["pm_alex"] == ("pm_alex", "pt-BR", "male")
    languages = {language for _, language, _ in fields.values()}
    assert languages == {"en-US", "en-GB", "zh", "ja", "es", "fr", "hi", "it", "pt-BR"}
    assert all(voice["description"] for voice in builtin.values())
    packs = client.get("/api/v1/info").json()["engine"]["voice_packs"]
    assert (packs["installed"], packs["missing"], packs["install"]) == (54, 0, None)


def test_openai_names_are_kokoros_own_packs(client: httpx.Client) -> None:
    listed = client.get("/v1/audio/voices").json()
    assert listed["aliases"] == openai_aliases(PACK_NAMES)
    assert {name: listed["aliases"][name] for name in ("alloy", "echo", "fable", "nova", "onyx")} == {
        "alloy": "af_alloy",
        "echo": "am_echo",
        "fable": "bm_fable",
        "nova": "af_nova",
        "onyx": "am_onyx",
    }
    assert {voice["id"] for voice in listed["voices"]} >= {"voice_001", "af_alloy", "am_onyx"}
    speech = client.post(
        "/v1/audio/speech", json={"model": "tts-1", "input": "Hello.", "voice": "Onyx", "stream": False}
    )
    assert speech.status_code == 200 and speech.headers["X-Voice-Used"] == "am_onyx"


def test_get_and_delete_a_voice(client: httpx.Client, reference) -> None:
    samples, rate = reference
    assert _upload(client, "to_delete", encode(samples, rate, "wav")).status_code == 201
    shown = client.get("/api/v1/voices/to_delete")
    assert shown.status_code == 200
    assert shown.json()["id"] == "to_delete"
    deleted = client.delete("/api/v1/voices/to_delete")
    assert deleted.status_code == 200
    assert deleted.json() == {"id": "to_delete", "deleted": True}
    _error(client.get("/api/v1/voices/to_delete"), 404, "voice_not_found")
    _error(client.delete("/api/v1/voices/to_delete"), 404, "voice_not_found")
    speech = client.post("/api/v1/tts/synthesize", json={"text": "Hello.", "voice_id": "to_delete"})
    _error(speech, 404, "voice_not_found")


def test_duplicate_id_is_409_and_keeps_the_original(client: httpx.Client, reference) -> None:
    samples, rate = reference
    assert _upload(client, "dup_voice", encode(samples, rate, "wav"), description="first").status_code == 201
    _error(_upload(client, "dup_voice", encode(samples, rate, "flac"), description="second"), 409, "voice_exists")
    assert client.get("/api/v1/voices/dup_voice").json()["description"] == "first"
    _error(_upload(client, "voice_001", encode(samples, rate, "wav")), 409, "voice_exists")


def test_builtin_voice_cannot_be_deleted(client: httpx.Client) -> None:
    _error(client.delete("/api/v1/voices/voice_001"), 403, "voice_read_only")


@pytest.mark.parametrize("voice_id", ["../etc", "a/b", ".hidden", "x" * 65, "名字", "a b", ""])
def test_unsafe_voice_ids_are_rejected(client: httpx.Client, reference, voice_id: str) -> None:
    samples, rate = reference
    response = _upload(client, voice_id, encode(samples, rate, "wav"))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] in {"invalid_voice_id", "invalid_request"}


def test_corrupt_audio_is_415(client: httpx.Client, reference) -> None:
    samples, rate = reference
    wav = encode(samples, rate, "wav")
    _error(_upload(client, "corrupt", b"RIFF" + b"\x00" * 40 + b"garbage" * 100), 415, "invalid_audio")
    _error(_upload(client, "corrupt", wav[:30]), 415, "invalid_audio")
    _error(_upload(client, "not_audio", b"%PDF-1.4 this is not audio at all" * 50, "doc.pdf"), 415, "invalid_audio")


def test_unsupported_container_is_415(client: httpx.Client, reference) -> None:
    import av

    samples, rate = reference
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="au") as out:  # Sun .au: real audio, not an accepted format
        stream = out.add_stream("pcm_s16be", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray((samples[None, :] * 32767).astype(np.int16), format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    _error(_upload(client, "au_voice", buffer.getvalue(), "ref.au"), 415, "unsupported_audio_format")


def test_oversize_upload_is_413(client: httpx.Client) -> None:
    _error(_upload(client, "too_big", b"\x00" * (TEST_MAX_VOICE_FILE_SIZE + 1)), 413, "file_too_large")
    assert client.get("/api/v1/voices/too_big").status_code == 404


def test_silent_noisy_and_too_short_references_are_422(client: httpx.Client) -> None:
    _error(_upload(client, "silent", encode(np.zeros(24000 * 3, np.float32), 24000, "wav")), 422, "silent_audio")
    white = np.random.default_rng(0).standard_normal(24000 * 4).astype(np.float32)
    pink = np.fft.irfft(np.fft.rfft(white) / np.sqrt(np.arange(1, len(white) // 2 + 2)), len(white))
    for name, noise in (("white", white), ("pink", pink)):
        scaled = (0.3 * noise / np.abs(noise).max()).astype(np.float32)
        _error(_upload(client, f"{name}_noise", encode(scaled, 24000, "wav")), 422, "not_speech")
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(6000) / 24000)).astype(np.float32)
    _error(_upload(client, "short", encode(tone, 24000, "wav")), 422, "audio_too_short")


def test_bad_latents_are_422(client: httpx.Client, reference) -> None:
    samples, rate = reference
    wav = encode(samples, rate, "wav")
    pickled = io.BytesIO()
    np.save(pickled, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    _error(_upload(client, "bad_latent", wav, latent=pickled.getvalue()), 422, "invalid_latent")
    _error(_upload(client, "bad_latent", wav, latent=pickle.dumps([1, 2, 3])), 422, "invalid_latent")
    _error(_upload(client, "bad_latent", wav, latent=b"\x93NUMPY garbage"), 422, "invalid_latent")
    nan = io.BytesIO()
    np.save(nan, np.full((1, 10, 32), np.nan, np.float32))
    _error(_upload(client, "bad_latent", wav, latent=nan.getvalue()), 422, "invalid_latent")
    assert client.get("/api/v1/voices/bad_latent").status_code == 404


def test_missing_voice_file_is_422(client: httpx.Client) -> None:
    response = client.post("/api/v1/voices/upload", data={"voice_id": "nofile"})
    _error(response, 422, "missing_file")


def test_upload_with_real_megatts3_wav_and_latent(client: httpx.Client, megatts3_fixtures) -> None:
    wav = (megatts3_fixtures / "English_prompt.wav").read_bytes()
    latent = (megatts3_fixtures / "English_prompt.npy").read_bytes()
    response = _upload(client, "english_prompt", wav, "English_prompt.wav", latent=latent)
    assert response.status_code == 201, response.text
    assert response.json()["has_latent"] is True
    speech = client.post("/api/v1/tts/synthesize", json={"text": "Nice to meet you.", "voice_id": "english_prompt"})
    assert speech.status_code == 200
