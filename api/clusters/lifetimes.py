"""Lifetimes: when a cluster ends by itself. Parsing what users write ("8h", "90m", "2d",
"1h30m", or an ISO time) is a pure function with unit tests."""
from __future__ import annotations

import datetime as dt
import re

from api.core.errors import Invalid

_PART = re.compile(r"(\d+)\s*([smhdw])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_SECONDS = 10 * 365 * 86400


def parse(text, field: str = "lifetime", now: dt.datetime | None = None) -> dt.datetime:
    """The moment `text` (a duration from `now`, or an ISO time) names, as naive UTC."""
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    if not isinstance(text, str) or not text.strip():
        raise Invalid('a lifetime is a duration such as "8h", "90m", "1h30m" or an ISO time', field=field)
    value = text.strip().lower()
    if _PART.fullmatch(value) or re.fullmatch(r"(\d+\s*[smhdw]\s*)+", value):
        seconds = sum(int(n) * _UNIT[u] for n, u in _PART.findall(value))
        if not 0 < seconds <= MAX_SECONDS:
            raise Invalid(f"lifetime {text!r} must be more than 0 and at most 10 years", field=field)
        return now + dt.timedelta(seconds=seconds)
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"lifetime {text!r} is neither a duration (8h, 90m, 1h30m) nor an ISO time",
                      field=field) from None
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc).replace(tzinfo=None)
    if when <= now:
        raise Invalid(f"lifetime {text!r} is in the past", field=field)
    return when


def seconds(text, field: str = "lifetime") -> float:
    """How long a duration lasts (an admin maximum, a product default)."""
    now = dt.datetime(2000, 1, 1)
    return (parse(text, field, now) - now).total_seconds()


def split_launch(given) -> tuple:
    """A launch body's product options and the platform's own keys (lifetime, auto_replace)."""
    from api.catalog.day2 import LAUNCH_KEYS
    if not isinstance(given, dict):
        return given, {}
    mine = {k: given[k] for k in LAUNCH_KEYS if k in given}
    if "auto_replace" in mine and not isinstance(mine["auto_replace"], bool):
        raise Invalid("auto_replace must be true or false", field="auto_replace")
    return {k: v for k, v in given.items() if k not in LAUNCH_KEYS}, mine


def _capped(when: dt.datetime, start: dt.datetime, settings, field: str = "lifetime") -> dt.datetime:
    if settings.max_lifetime:
        limit = start + dt.timedelta(seconds=seconds(settings.max_lifetime, "BDP_MAX_LIFETIME"))
        if when > limit:
            raise Invalid(f"a cluster may live at most {settings.max_lifetime} on this platform "
                          f"(until {limit.isoformat(timespec='seconds')}Z)", field=field)
    return when


def at_launch(text, product, settings) -> dt.datetime | None:
    """When a cluster launched now expires: the lifetime asked for, else its product's
    default, else the platform's maximum, else never."""
    from api.catalog import day2
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    default = day2.of(product)["lifetime"]
    if text is None:
        text = default or settings.max_lifetime or None
    if text is None:
        return None
    return _capped(parse(text, "lifetime", now), now, settings)


def extend(cluster, text, settings) -> dt.datetime:
    """Move a cluster's expiry: a duration adds to it (or to now, if it had none), an ISO
    time replaces it; capped by the platform's maximum from its creation."""
    from api.core.models import Cluster, utcnow
    now = utcnow()
    base = max(cluster.expires or now, now)
    value = str(text).strip().lower()
    if re.fullmatch(r"(\d+\s*[smhdw]\s*)+", value):
        when = base + dt.timedelta(seconds=seconds(text))
    else:
        when = parse(text, "lifetime", now)
    when = _capped(when, cluster.created, settings)
    Cluster.update(expires=when).where(Cluster.id == cluster.id).execute()
    return when


def expired(now: dt.datetime | None = None) -> list:
    """Clusters past their expiry that are still there."""
    from api.core import status as st
    from api.core.models import Cluster, utcnow
    return list(Cluster.select().where(Cluster.expires.is_null(False) & (Cluster.expires <= (now or utcnow()))
                                       & Cluster.status.not_in(list(st.GONE))))


def left(cluster, now: dt.datetime | None = None) -> float | None:
    """Seconds until it expires (None: never)."""
    if cluster.expires is None:
        return None
    return max(0.0, (cluster.expires - (now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)))
               .total_seconds())
