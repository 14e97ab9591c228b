"""A job's track under every kind of Range header: served per RFC 9110 section 14, refusals in the
service's JSON error shape (api/ranges.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.support.standins import finished_job, tone_app, tone_settings


@pytest.fixture(scope="module")
def track(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str, int]]:
    """(client, the track's URL, its length in bytes)."""
    with tone_app(tone_settings(tmp_path_factory.mktemp("ranges"))) as (http, _):
        job = http.post("/api/v1/tts/jobs", json={"text": "第一段。\n第二段。", "voice_id": "tone_low"}).json()
        assert finished_job(http, job["id"])["status"] == "done"
        whole = http.get(job["audio_url"])
        yield http, job["audio_url"], len(whole.content)


@pytest.mark.parametrize(
    "value",
    [
        "bytes=500-100",
        "bytes=abc",
        "bytes=1-2-3",
        "bytes=",
        "bytes=,,",
        "bytes=-0",
        "bytes=99999999-",
        "bytes=" + "9" * 5000 + "-",
        "bytes=0-1, 9-3",
        "bytes=0x10-20",
        "bytes=\xb9-\xb2",  # latin-1 superscript digits, which str.isdigit() takes for digits
        "BYTES=5-1",
    ],
)
def test_an_invalid_or_unsatisfiable_byte_range_is_416_in_the_json_shape(track, value: str) -> None:
    http, url, size = track
    refused = http.get(url, headers={"Range": value.encode("latin-1")})
    assert refused.status_code == 416, refused.text
    assert refused.headers["content-range"] == f"bytes */{size}"
    assert refused.headers["content-type"].startswith("application/json")
    assert refused.json()["error"]["code"] == "range_not_satisfiable"


@pytest.mark.parametrize("value", ["items=0-5", "0-5", "bytes 0-5", "lines=1-2", "=0-5"])
def test_a_range_of_another_unit_is_ignored(track, value: str) -> None:
    http, url, size = track
    whole = http.get(url, headers={"Range": value})
    assert whole.status_code == 200 and len(whole.content) == size


def test_satisfiable_ranges_are_served(track) -> None:
    http, url, size = track
    assert http.get(url, headers={"Range": "bytes=0-9"}).content.__len__() == 10
    tail = http.get(url, headers={"Range": f"bytes={size - 5}-{size + 1000}"})
    assert tail.status_code == 206 and len(tail.content) == 5
    suffix = http.get(url, headers={"Range": "bytes=-7"})
    assert suffix.status_code == 206 and suffix.headers["content-range"] == f"bytes {size - 7}-{size - 1}/{size}"
    assert http.get(url, headers={"Range": "bytes=0-0,5-9"}).status_code == 206
    huge_suffix = http.get(url, headers={"Range": "bytes=-" + "9" * 5000})  # past Python's int() digits
    assert huge_suffix.status_code == 206 and len(huge_suffix.content) == size


def test_a_stale_if_range_gets_the_whole_file_whatever_the_range(track) -> None:
    http, url, size = track
    whole = http.get(url, headers={"Range": "bytes=500-100", "If-Range": '"not-this-file"'})
    assert whole.status_code == 200 and len(whole.content) == size


def test_a_head_with_a_bad_range_is_416_too(track) -> None:
    http, url, size = track
    head = http.head(url, headers={"Range": "bytes=9-1"})
    assert head.status_code == 416 and head.headers["content-range"] == f"bytes */{size}"
