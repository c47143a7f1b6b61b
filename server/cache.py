"""Django's Redis cache, reusing one client per connection pool, and failing soft when Redis is away.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` object for every cache call;
its constructor fills a table of ~170 response callbacks, which cost CPU on every call (two calls per
labelling round trip: the session read of ``next`` and of ``submit``). A Redis client is thread-safe
over its pool, so one per pool is enough.

The cache only ever holds copies (sessions are ``cached_db``: the database has them too), so with Redis
unreachable every call behaves as a miss (reads give the default, writes do nothing) instead of failing
the request: sign-in and labelling keep working on the database alone. A sign-out during the outage is
recorded in the database; its cached copy can outlive it until it expires (the known cost of this choice).
"""
import logging
import time

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
# How often (seconds) an outage is logged while it lasts.
LOG_EVERY = 30.0


class _PooledClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


def _soft(name: str, fallback):
    """Wrap RedisCache.<name> so that an unreachable Redis gives `fallback(*args, **kwargs)` instead of raising."""
    method = getattr(RedisCache, name)

    def call(self, *args, **kwargs):
        try:
            result = method(self, *args, **kwargs)
        except UNREACHABLE as exc:
            now = time.monotonic()
            if now - self._last_outage_log > LOG_EVERY:
                self._last_outage_log = now
                logger.warning("cache unreachable (%s); serving from the database until it answers", exc)
            self.reachable = False
            return fallback(*args, **kwargs)
        self.reachable = True
        return result

    call.__name__ = name
    return call


class PooledRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _PooledClient
        self._last_outage_log = -LOG_EVERY
        self.reachable = True

    get = _soft("get", lambda key, default=None, version=None: default)
    get_many = _soft("get_many", lambda keys, version=None: {})
    has_key = _soft("has_key", lambda key, version=None: False)
    set = _soft("set", lambda *a, **k: None)
    add = _soft("add", lambda *a, **k: False)
    touch = _soft("touch", lambda *a, **k: False)
    set_many = _soft("set_many", lambda data, *a, **k: list(data))
    delete = _soft("delete", lambda *a, **k: False)
    delete_many = _soft("delete_many", lambda *a, **k: None)
