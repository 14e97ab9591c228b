"""Kokoro-82M, the embedded default engine."""

from megatts3_server.engines.kokoro.engine import KokoroEngine

__all__ = ["KokoroEngine"]
