"""Django's Redis cache, with one Redis client kept per connection pool.

Django's backend builds a new `redis.Redis` for every cache call, and building one sets up
its table of reply handlers: on a page that only reads its session and its user from the
cache (a status poll answered 304) that cost more than the round trips themselves. A client
is safe to share (its connection pool hands each command a connection), so one is kept.
The settings name this backend wherever they would name Django's.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class KeptClientCacheClient(RedisCacheClient):
    """`RedisCacheClient` whose `get_client` hands out the same client for each pool."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        """The kept client of the pool Django would pick for this call."""
        # Django's own helpers, which its type stubs leave out, so the same pool is chosen.
        index = self._get_connection_pool_index(write)  # type: ignore[attr-defined]
        client = self._clients.get(index)
        if client is None:
            pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
            client = self._clients[index] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class RedisCache(DjangoRedisCache):
    """Django's Redis cache backend on `KeptClientCacheClient`."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = KeptClientCacheClient
