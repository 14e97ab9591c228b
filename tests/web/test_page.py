"""The web page at / in a real headless Chromium, against a real server on a loopback port."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import srt

from tests.support.reference_clips import clip
from tests.support.server import running_server

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # the browser fixture fails with how to install it
    sync_playwright = None

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
INSTALL_HINT = (
    "the web page tests drive Debian's Chromium with Playwright; install them with "
    "`.venv/bin/pip install playwright` and `apt-get install -y chromium` "
    "(no `playwright install`: the system browser is used)"
)
SYNTHESIS_TIMEOUT_MS = 90_000
# A server's first upload also measures every stock voice (five syntheses) to match references against.
UPLOAD_TIMEOUT_MS = 240_000
# The CPU is shared with the server's inference: give the page's own reactions some room.
EXPECT_TIMEOUT_MS = 15_000
# A real microphone is replaced by Chromium's fake capture device playing a real speech clip (its own
# beeps are refused as not speech), allowed without a prompt.
BROWSER_ARGS = ["--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
MICROPHONE_SPEAKER = "en_karen"


@pytest.fixture(scope="module")
def web_url(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[str]:
    """A service of its own (its own voices), as a user starts it; its base URL once the model is in."""
    with running_server(tmp_path_factory.mktemp("web-server"), model_cache) as server:
        yield server.base_url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if sync_playwright is None:
        pytest.fail(f"Playwright is missing: {INSTALL_HINT}", pytrace=False)
    if executable is None:
        pytest.fail(f"Chromium is missing: {INSTALL_HINT}", pytrace=False)
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    microphone = tmp_path_factory.mktemp("microphone") / "speech.wav"
    shutil.copyfile(clip(MICROPHONE_SPEAKER), microphone)
    args = [*BROWSER_ARGS, f"--use-file-for-fake-audio-capture={microphone}"]
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=args)
        yield launched
        launched.close()


@dataclass
class PageWatch:
    """What a page did besides rendering: every URL it asked for and every uncaught script error."""

    requests: list[str] = field(default_factory=list)
    script_errors: list[str] = field(default_factory=list)


@pytest.fixture
def watch() -> PageWatch:
    return PageWatch()


@pytest.fixture
def page(browser: Browser, web_url: str, watch: PageWatch) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, permissions=["microphone"])
    opened = context.new_page()
    opened.on("request", lambda request: watch.requests.append(request.url))
    opened.on("pageerror", lambda error: watch.script_errors.append(str(error)))
    opened.goto(web_url)
    yield opened
    context.close()
    assert watch.script_errors == [], "the page threw"
    outside = [url for url in watch.requests if not url.startswith((web_url, "blob:", "data:"))]
    assert outside == [], "the page fetched something from outside the service"


def _expect_builtin_voices_listed(page: Page) -> None:
    listed = httpx.get(page.url.split("#")[0].rstrip("/") + "/api/v1/voices").json()["voices"]
    builtin = page.get_by_label("Speak with").locator("optgroup[label='Built-in voices'] option")
    expect(builtin).to_have_count(sum(voice["type"] == "builtin" for voice in listed))
    expect(builtin.first).to_have_attribute("value", "voice_001")


def _wait_for_playable_audio(page: Page) -> None:
    page.wait_for_function(
        "() => { const a = document.getElementById('result-audio'); return a.src && a.duration > 0; }",
        timeout=SYNTHESIS_TIMEOUT_MS,
    )


def _waveform_drawn(page: Page) -> dict[str, int]:
    """Painted pixels on the waveform canvas, and the tallest painted column (a flat line is ~1 px)."""
    return page.evaluate(
        """() => {
            const canvas = document.getElementById('waveform');
            const { width, height } = canvas;
            const pixels = canvas.getContext('2d').getImageData(0, 0, width, height).data;
            let painted = 0, tallest = 0;
            for (let x = 0; x < width; x += 1) {
                let column = 0;
                for (let y = 0; y < height; y += 1) if (pixels[(y * width + x) * 4 + 3] > 0) column += 1;
                painted += column;
                tallest = Math.max(tallest, column);
            }
            return { painted, tallest, height };
        }"""
    )


def _synthesize(page: Page) -> dict:
    """Press Synthesize; returns the JSON the page sent once the audio is playable."""
    with page.expect_request("**/api/v1/tts/synthesize") as sent:
        page.get_by_role("button", name="Synthesize").click()
    _wait_for_playable_audio(page)
    expect(page.locator("#waveform")).to_be_visible()
    page.wait_for_function("() => document.getElementById('result-facts').children.length > 0")
    return sent.value.post_data_json


def test_the_page_and_its_files_are_served_from_the_package(web_url: str) -> None:
    page = httpx.get(f"{web_url}/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    script = httpx.get(f"{web_url}/static/app.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")  # module scripts need it
    missing = httpx.get(f"{web_url}/static/missing.js")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_page_lists_voices_and_speaks_with_the_chosen_settings(page: Page) -> None:
    expect(page).to_have_title("MegaTTS3 · Text to speech")
    _expect_builtin_voices_listed(page)
    voice = page.get_by_label("Speak with")
    expect(page.locator("#engine-state")).to_contain_text("Ready")

    page.get_by_label("Text to speak").fill("Hello from the web page. 你好，欢迎使用语音合成。")
    voice.select_option("voice_002")
    page.get_by_label("Speed").fill("1.25")
    page.get_by_label("Pitch").fill("0.8")
    expect(page.locator("#speed-value")).to_have_text("1.25×")
    sent = _synthesize(page)

    assert sent["voice_id"] == "voice_002"
    assert sent["parameters"]["speed"] == pytest.approx(1.25)
    assert sent["parameters"]["pitch"] == pytest.approx(0.8)
    assert sent["format"] == "wav"
    assert page.evaluate("document.getElementById('result-audio').duration") > 1.0
    drawn = _waveform_drawn(page)
    assert drawn["painted"] > 1000, drawn
    assert drawn["tallest"] > drawn["height"] // 4, f"the waveform is flat: {drawn}"

    link = page.get_by_role("link", name="Download WAV")
    assert link.get_attribute("download").endswith(".wav")
    assert link.get_attribute("href").startswith("blob:")
    with page.expect_download() as download:
        link.click()
    saved = Path(download.value.path()).read_bytes()
    assert saved[:4] == b"RIFF" and saved[8:12] == b"WAVE" and len(saved) > 24_000

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-page.png"), full_page=True)


def test_a_server_error_shows_the_servers_message(page: Page, web_url: str) -> None:
    refused = httpx.post(f"{web_url}/api/v1/tts/synthesize", json={"text": "", "voice_id": "voice_001"})
    assert refused.status_code == 422
    message = refused.json()["error"]["message"]

    _expect_builtin_voices_listed(page)
    page.get_by_label("Text to speak").fill("")
    page.get_by_role("button", name="Synthesize").click()
    expect(page.get_by_role("alert")).to_have_text(message)
    expect(page.locator("#result")).to_be_hidden()


def test_an_uploaded_reference_becomes_a_selectable_voice(page: Page, reference_wav: bytes, tmp_path: Path) -> None:
    reference = tmp_path / "narrator.wav"
    reference.write_bytes(reference_wav)
    page.get_by_text("Add your own voice").click()
    page.get_by_label("Reference recording").set_input_files(reference)
    expect(page.get_by_label("Voice id")).to_have_value("narrator")  # suggested from the file name
    page.get_by_label("Voice id").fill("web-narrator")
    page.get_by_label("Description").fill("Uploaded from the web page")
    page.get_by_role("button", name="Upload voice").click()
    expect(page.locator("#voice-status")).to_contain_text("“web-narrator” is ready", timeout=UPLOAD_TIMEOUT_MS)

    voice = page.get_by_label("Speak with")
    expect(voice).to_have_value("web-narrator")
    expect(voice.locator("optgroup[label='Your voices'] option[value='web-narrator']")).to_be_enabled()
    expect(page.locator("#voice-details")).to_contain_text("Uploaded from the web page")

    page.get_by_label("Text to speak").fill("This is my own voice, uploaded a moment ago.")
    sent = _synthesize(page)
    assert sent["voice_id"] == "web-narrator"
    assert _waveform_drawn(page)["painted"] > 1000


def test_a_microphone_recording_is_uploaded_as_wav(page: Page) -> None:
    page.get_by_text("Add your own voice").click()
    record = page.locator("#record-button")
    record.click()
    expect(record).to_have_attribute("aria-pressed", "true")
    page.wait_for_timeout(2500)
    record.click()
    expect(page.locator("#record-preview")).to_be_visible()
    chosen = page.evaluate("document.getElementById('voice-file').files[0]?.name ?? ''")
    assert chosen.startswith("recording-") and chosen.endswith(".wav")
    page.get_by_label("Voice id").fill("web-recording")
    page.get_by_role("button", name="Upload voice").click()
    expect(page.locator("#voice-status")).to_contain_text("“web-recording” is ready", timeout=UPLOAD_TIMEOUT_MS)
    expect(page.get_by_label("Speak with")).to_have_value("web-recording")


def test_an_api_key_is_kept_and_sent(page: Page) -> None:
    page.get_by_text("Connection settings").click()
    page.get_by_label("API key").fill("secret-key")
    with page.expect_request("**/api/v1/voices") as listed:
        page.get_by_role("button", name="Save key").click()
    assert listed.value.headers.get("authorization") == "Bearer secret-key"

    with page.expect_request("**/api/v1/voices") as listed:
        page.reload()
    assert listed.value.headers.get("authorization") == "Bearer secret-key"
    page.get_by_text("Connection settings").click()
    expect(page.get_by_label("API key")).to_have_value("secret-key")

    page.get_by_role("button", name="Forget key").click()
    with page.expect_request("**/api/v1/voices") as listed:
        page.reload()
    assert "authorization" not in listed.value.headers


def test_the_page_fits_a_phone_screen(page: Page) -> None:
    page.set_viewport_size({"width": 375, "height": 740})
    _expect_builtin_voices_listed(page)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    for control in ("Text to speak", "Speak with", "Speed", "Pitch"):
        box = page.get_by_label(control).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375, control
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-page-phone.png"), full_page=True)


SCREENPLAY = "旁白：夜深了，城里很安静。\nAnna: Are you still awake? I heard a noise.\n旁白：她轻轻地推开了门。"


def _wait_for_track(page: Page) -> None:
    page.wait_for_function(
        """() => {
            const audio = document.getElementById('job-audio');
            const cues = document.getElementById('job-track').track.cues;
            return audio.src && audio.duration > 0 && cues && cues.length > 0;
        }""",
        timeout=SYNTHESIS_TIMEOUT_MS,
    )


def test_a_screenplay_becomes_one_track_played_with_its_subtitles(page: Page, web_url: str) -> None:
    _expect_builtin_voices_listed(page)
    page.get_by_label("Screenplay", exact=True).fill(SCREENPLAY)
    cast = page.locator("#cast-list select")
    expect(cast).to_have_count(2)
    expect(page.get_by_label("旁白", exact=True)).to_have_value("voice_001")  # each name its own voice
    expect(page.get_by_label("Anna", exact=True)).to_have_value("voice_002")
    page.get_by_label("Anna", exact=True).select_option("voice_003")

    with page.expect_response("**/api/v1/tts/jobs") as answered:
        page.get_by_role("button", name="Make the track").click()
    assert answered.value.status == 202
    sent = answered.value.request.post_data_json
    assert sent["screenplay"] == SCREENPLAY
    assert sent["voices"] == {"旁白": "voice_001", "Anna": "voice_003"}
    job_id = answered.value.json()["id"]

    segments = page.locator("#job-segments li")
    expect(segments).to_have_count(3)
    expect(segments.nth(1).locator(".who")).to_have_text("Anna")
    expect(page.locator("#job-segments li.done")).to_have_count(3, timeout=SYNTHESIS_TIMEOUT_MS)
    expect(page.locator("#job-progress")).to_have_attribute("value", "100")
    _wait_for_track(page)
    expect(page.locator("#job-status")).to_contain_text("Done")

    job = httpx.get(f"{web_url}/api/v1/tts/jobs/{job_id}").json()
    assert job["format"] == sent["format"]
    stamps = httpx.get(f"{web_url}/api/v1/tts/jobs/{job_id}/timestamps").json()
    duration = page.evaluate("document.getElementById('job-audio').duration")
    assert duration == pytest.approx(stamps["duration"], abs=0.15)  # the player has the whole track
    sentences = [
        (segment["speaker"], sentence)
        for segment in stamps["segments"]
        for sentence in segment["sentences"]
        if sentence["text"].strip()
    ]
    assert page.evaluate("document.getElementById('job-track').track.cues.length") == len(sentences)

    # The caption under the player is the subtitle cue of the moment it plays: seek into Anna's line.
    sentence = next(s for who, s in sentences if who == "Anna")
    page.evaluate(
        "t => { const a = document.getElementById('job-audio'); a.pause(); a.currentTime = t; }",
        (sentence["start"] + sentence["end"]) / 2,
    )
    expect(page.locator("#job-caption")).to_have_text(f"Anna：{sentence['text'].strip()}")
    expect(page.locator("#job-segments li.speaking")).to_have_attribute("data-index", "1")

    # A segment in the list seeks the player to its start.
    segments.nth(2).click()
    position = page.evaluate("document.getElementById('job-audio').currentTime")
    third = stamps["segments"][2]
    assert third["start"] - 0.01 <= position < third["end"]

    with page.expect_download() as download:
        page.get_by_role("link", name="Download subtitles (SRT)").click()
    cues = list(srt.parse(Path(download.value.path()).read_text(encoding="utf-8")))
    assert [cue.content for cue in cues] == [sentence["text"].strip() for _, sentence in sentences]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-page-script.png"), full_page=True)


def test_a_screenplay_the_server_refuses_shows_its_message(page: Page, web_url: str) -> None:
    screenplay = "旁白：好的。\n这一行没有名字"
    refused = httpx.post(f"{web_url}/api/v1/tts/jobs", json={"screenplay": screenplay, "voices": {"旁白": "voice_001"}})
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "invalid_screenplay"

    _expect_builtin_voices_listed(page)
    page.get_by_label("Screenplay", exact=True).fill(screenplay)
    expect(page.locator("#cast-list select")).to_have_count(1)
    page.get_by_role("button", name="Make the track").click()
    expect(page.locator("#job-error")).to_have_text(refused.json()["error"]["message"])
    expect(page.locator("#job-result")).to_be_hidden()
