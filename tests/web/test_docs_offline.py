"""/docs (Swagger UI) and /redoc (ReDoc) in a real headless Chromium that can reach nothing but the
service: every script and stylesheet they need comes from the service itself."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from megatts3_server.app import create_app
from tests.support.standins import ToneEngine, served_in_thread, tone_settings

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # the browser fixture fails with how to install it
    sync_playwright = None

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
INSTALL_HINT = "install Playwright (`.venv/bin/pip install playwright`) and Debian's `chromium` (apt-get)"
# No name resolves but the loopback address: what a browser on a machine without a network meets.
NO_NETWORK = ["--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
RENDER_TIMEOUT_MS = 60_000  # ReDoc lays out the whole API on a CPU shared with other tests
# ReDoc's "API docs by Redocly" logo, always asked of its CDN: the page's Content-Security-Policy
# blocks it (nothing leaves the browser) and ReDoc hides the image when it does not load.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app over the stand-in engine, on a loopback port."""
    app = create_app(tone_settings(tmp_path_factory.mktemp("docs")), engine=ToneEngine())
    with served_in_thread(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if sync_playwright is None or executable is None:
        pytest.fail(f"the docs pages are tested in Chromium: {INSTALL_HINT}", pytrace=False)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=NO_NETWORK)
        yield launched
        launched.close()


@pytest.fixture
def offline_page(browser: Browser, base_url: str) -> Iterator[tuple[Page, list[str]]]:
    """A page whose every request beyond the service is refused; yields it with those it refused."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    refused: list[str] = []
    errors: list[str] = []

    def only_the_service(route) -> None:
        if route.request.url.startswith((base_url, "data:", "blob:")):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_the_service)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text) if message.type == "error" and REDOC_LOGO not in message.text else None
        ),
    )
    yield page, refused
    context.close()
    assert errors == [], "the page reported errors (a refused script or style, a CSP violation)"


def test_swagger_ui_lists_the_operations_offline(offline_page: tuple[Page, list[str]], base_url: str) -> None:
    page, refused = offline_page
    page.goto(f"{base_url}/docs")
    synthesize = page.locator(".opblock-post .opblock-summary-path[data-path='/api/v1/tts/synthesize']")
    expect(synthesize).to_be_visible(timeout=RENDER_TIMEOUT_MS)
    assert page.locator(".opblock").count() > 20
    expect(page.locator(".info .title")).to_contain_text("megatts3-server")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "docs-offline.png"))
    assert refused == []


def test_redoc_renders_the_api_offline(offline_page: tuple[Page, list[str]], base_url: str) -> None:
    page, refused = offline_page
    page.goto(f"{base_url}/redoc")
    expect(page.locator("h1")).to_contain_text("megatts3-server", timeout=RENDER_TIMEOUT_MS)
    operation = page.locator("[data-section-id*='synthesize'] h2").first
    expect(operation).to_be_visible(timeout=RENDER_TIMEOUT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "redoc-offline.png"))
    assert refused == []
