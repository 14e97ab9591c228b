"""Prometheus metrics of the service."""

from megatts3_server.metrics.registry import Metrics

__all__ = ["Metrics"]
