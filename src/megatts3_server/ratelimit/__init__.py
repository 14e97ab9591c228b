"""Per-caller request budgets: checked on arrival, charged when work starts."""

from megatts3_server.ratelimit.limiter import Quota, RateLimiter, RatePolicy, unlimited

__all__ = ["Quota", "RateLimiter", "RatePolicy", "unlimited"]
