"""Every link between the README and the pages of docs/ resolves: the file exists, and an anchor
(``page.md#a-heading``) names a heading of that page as GitHub renders it."""

from __future__ import annotations

import functools
import itertools
import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from markdown_it import MarkdownIt

REPO_ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([*REPO_ROOT.glob("README*.md"), *(REPO_ROOT / "docs").glob("*.md")])
_PARSER = MarkdownIt("commonmark").enable("table")
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto: ...
_NOT_IN_SLUG = re.compile(r"[^\w\- ]")


def _walk(tokens):
    for token in tokens:
        yield token
        yield from _walk(token.children or [])


def links(page: Path) -> list[str]:
    """Every link and image target in ``page`` (not the text of code spans and blocks)."""
    tokens = _walk(_PARSER.parse(page.read_text(encoding="utf-8")))
    found = []
    for token in tokens:
        if token.type == "link_open":
            found.append(str(token.attrs["href"]))
        elif token.type == "image":
            found.append(str(token.attrs["src"]))
    return found


@functools.cache
def anchors(page: Path) -> set[str]:
    """The ids GitHub gives the headings of ``page``: lower case, punctuation dropped, spaces as
    hyphens, a repeated one suffixed -1, -2..."""
    tokens = list(_PARSER.parse(page.read_text(encoding="utf-8")))
    seen: dict[str, int] = {}
    ids = set()
    for opening, inline in itertools.pairwise(tokens):
        if opening.type != "heading_open":
            continue
        text = "".join(child.content for child in inline.children or [] if child.type in ("text", "code_inline"))
        slug = _NOT_IN_SLUG.sub("", text.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        ids.add(slug if count == 0 else f"{slug}-{count}")
    return ids


def test_the_pages_are_found() -> None:
    names = {page.relative_to(REPO_ROOT).as_posix() for page in PAGES}
    assert {"docs/README.md", "docs/api.md", "docs/configuration.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(REPO_ROOT).as_posix())
def test_every_local_link_resolves(page: Path) -> None:
    broken = []
    for target in links(page):
        if _EXTERNAL.match(target):
            continue
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / unquote(path_part)).resolve() if path_part else page
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and unquote(anchor) not in anchors(destination):
            broken.append(f"{target}: no heading #{anchor} in {destination.name}")
    assert not broken, "\n".join(broken)


def test_anchors_follow_githubs_rule(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# POST /api/v1/tts/synthesize_file\n## Change the port (or the address)\n## Notes\n## Notes\n")
    assert anchors(page) == {"post-apiv1ttssynthesize_file", "change-the-port-or-the-address", "notes", "notes-1"}
