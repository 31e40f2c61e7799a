"""Clock helpers and the two time formats the Corbital v1 API emits.

Rows keep whole epoch seconds because the upstream stores MySQL `timestamp` columns: the models
serialise them as ISO-8601 with a zero microsecond part (reference §1.4), while the message routes
answer `sent_at` with Carbon's `toDateTimeString()` (`2025-07-12 10:44:50`, reference §1.7).
"""

from __future__ import annotations

import time
from typing import Any

_ISO_SECONDS = "%Y-%m-%dT%H:%M:%S"


def now_s() -> int:
    """Current time in whole seconds, the precision of the upstream's timestamp columns."""
    return int(time.time())


def iso(ts: int | None) -> str | None:
    """Serialise a row timestamp the way Eloquent does: `2025-07-12T10:44:50.000000Z`."""
    if ts is None:
        return None
    return time.strftime(_ISO_SECONDS, time.gmtime(ts)) + ".000000Z"


def datetime_string(ts: int) -> str:
    """Carbon's `toDateTimeString()`, used by the message routes for `sent_at`."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def iso_precise(t: float) -> str:
    """Real microsecond timestamp for the sandbox's own admin records (request log, sent list)."""
    micros = int(round((t - int(t)) * 1_000_000)) % 1_000_000
    return time.strftime(_ISO_SECONDS, time.gmtime(int(t))) + f".{micros:06d}Z"


def serialise(row: dict[str, Any]) -> dict[str, Any]:
    """A copy of a row with its timestamps in the model format."""
    out = dict(row)
    out["created_at"] = iso(row["created_at"])
    out["updated_at"] = iso(row["updated_at"])
    return out
