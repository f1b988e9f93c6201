"""API rate limits counted in Redis, one round trip per request and scope.

DRF's own throttles keep each client's request times as a list in the cache: a get and a
set per scope and request, and workers answering the same client at once overwrite each
other's lists. These count requests per fixed window with INCR, which is atomic across
processes, and smooth the window edges by weighing in the previous window's count for the
part of it that the sliding window still covers (the "sliding window counter")."""

import time

import redis
from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

_clients = {}


def redis_client():
    """One client (and connection pool) per process and URL; redis-py reopens its
    connections in a forked child."""
    url = settings.REDIS_URL
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(url)
    return _clients[url]


class SlidingWindowMixin:
    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        now = time.time()
        window, elapsed = divmod(now, self.duration)
        current, previous = f"throttle:{self.key}:{int(window)}", f"throttle:{self.key}:{int(window) - 1}"
        pipeline = redis_client().pipeline().incr(current).expire(current, 2 * self.duration).get(previous)
        count, _, before = pipeline.execute()
        self.retry_at = now - elapsed + self.duration
        weighted = count + int(before or 0) * (1 - elapsed / self.duration)
        return weighted <= self.num_requests

    def get_ident(self, request):
        """The client's address, X-Forwarded-For trusted only from MESS_PROXY_COUNT proxies."""
        from messsite.security import client_address

        return client_address(request)

    def wait(self):
        """Seconds until the current window ends: when the count starts afresh."""
        return max(1.0, self.retry_at - time.time())


class AnonThrottle(SlidingWindowMixin, AnonRateThrottle):
    pass


class UserThrottle(SlidingWindowMixin, UserRateThrottle):
    pass
