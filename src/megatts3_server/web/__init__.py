"""The browser page served at ``/``: plain HTML, CSS and JavaScript modules shipped as package data."""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
"""Where index.html and the files it loads live, inside the installed package."""
