"""The signed-in user of each request, from the shared cache instead of the database.

Django reads the session's user at every request, and the portal then reads its roles: two
queries for every poll of every open page. With `USER_CACHE_SECONDS` the authentication
backends (`accounts.backends`) keep what they load, the user with its roles already worked
out, for that long. Saving or deleting the user, or changing their groups, drops the entry
at once; the settings turn this on only when the cache is shared by every process, so the
drop reaches all of them. Every check a backend makes of the user it loads (active, still
a superuser) still runs at every request, on the cached copy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.db.models.signals import m2m_changed, post_delete, post_save

from ims_portal.accounts.roles import roles_of

logger = logging.getLogger(__name__)

KEY = "accounts:user:v1:{backend}:{pk}"
# Bumped by `forget_everyone`: a copy stored under another generation is not used. Read in
# the same round trip as the user.
GENERATION_KEY = "accounts:user:v1:generation"


def _key(backend: str, pk: object) -> str:
    return KEY.format(backend=backend, pk=pk)


def cached_user(backend: str, user_id: Any, load: Callable[[Any], User | None]) -> User | None:
    """The user `load(user_id)` finds, kept per backend (each loads by its own rules)."""
    seconds = settings.USER_CACHE_SECONDS
    if not seconds:
        return load(user_id)
    key = _key(backend, user_id)
    try:
        found = cache.get_many([key, GENERATION_KEY])
    except Exception:  # the cache does not answer: the database still does
        logger.warning("user cache unavailable; user %s read from the database", user_id)
        return load(user_id)
    generation = found.get(GENERATION_KEY, 0)
    kept = found.get(key)
    if kept is not None and kept[0] == generation:
        return kept[1]
    user = load(user_id)
    if isinstance(user, User):
        roles_of(user)  # worked out now, so that it travels with the cached user
        cache.set(key, (generation, user), seconds)
    return user


def forget(*pks: object) -> None:
    """Drop the cached copies of these users, whichever backend loaded them."""
    backends = [path.rsplit(".", 1)[-1] for path in settings.AUTHENTICATION_BACKENDS]
    keys = [_key(backend, pk) for pk in pks for backend in backends]
    if not keys:
        return
    try:
        cache.delete_many(keys)
    except Exception:
        # A change made while the cache is down (a command in a development checkout
        # without Redis, an outage) still saves; a copy the cache still holds when it
        # comes back can outlive it by USER_CACHE_SECONDS at most, so say so loudly.
        logger.error("user cache unavailable: cached copies of users %s not dropped", pks)


def forget_everyone() -> None:
    """Drop every cached user: after the users table was emptied or restored, when user
    ids may name other people than they did."""
    try:
        cache.incr(GENERATION_KEY)
    except ValueError:  # no generation yet
        cache.set(GENERATION_KEY, 1, None)


class CachedUserMixin:
    """For an authentication backend: its `get_user` goes through the cache."""

    def get_user(self, user_id: Any) -> User | None:
        load = super().get_user  # type: ignore[misc]
        return cached_user(type(self).__name__, user_id, load)


def _user_changed(sender: Any, instance: User, **kwargs: Any) -> None:
    forget(instance.pk)


def _groups_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[Any] | None, **kwargs: Any
) -> None:
    if action not in ("post_add", "post_remove", "pre_clear"):
        return
    if not reverse:  # user.groups.add(...): one user
        forget(instance.pk)
    elif action == "pre_clear":  # group.user_set.clear(): everyone in it, read before
        assert isinstance(instance, Group)
        forget(*instance.user_set.values_list("pk", flat=True))
    elif pk_set:  # group.user_set.add(...): these users
        forget(*pk_set)


def connect() -> None:
    """Drop a user's cached copy whenever they or their groups change (from `ready()`)."""
    post_save.connect(_user_changed, sender=User, dispatch_uid="accounts.user_cache.save")
    post_delete.connect(_user_changed, sender=User, dispatch_uid="accounts.user_cache.delete")
    m2m_changed.connect(
        _groups_changed, sender=User.groups.through, dispatch_uid="accounts.user_cache.groups"
    )
