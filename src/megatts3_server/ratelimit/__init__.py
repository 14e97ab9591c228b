"""Per-client request rate limits."""

from megatts3_server.ratelimit.limiter import RateLimiter

__all__ = ["RateLimiter"]
