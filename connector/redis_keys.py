"""Every Redis key the connector uses, one function per key family, with its TTL beside it.

Inline keys can't be grepped; these can (STYLE rule 15). Everything lives under `wa:`.
"""

PREFIX = "wa:"

IDEMPOTENCY_LOCK_TTL_S = 30
"""How long an in-flight Idempotency-Key request holds its lock before another may take over."""

RUN_DONE_TTL_S = 120
"""How long a run's completion signal stays readable for a `Prefer: wait` request."""

LOCK_TTL_S = 30
"""Default TTL of cross-process locks (per-contact read-modify-write, per-phone upsert)."""

CACHE_TTL_S = 60
"""Provider cache entries (templates of a connection) live this long."""

PHONE_INDEX_ENTRY_TTL_S = 30 * 86400
"""A connection's phone index entries (provider cache, `providers/phone_index.py`). They
outlive the index's `complete` mark by far, so no entry of a scanned contact expires while the
mark says the index has every contact."""

PHONE_INDEX_TRUST_S = 3600
"""How long a full contact scan's `complete` mark lasts; then the next unknown phone scans
again (10,000 contacts = 20 requests), which picks up phones edited elsewhere."""

SCHEDULER_LOCK_TTL_S = 30
"""The scheduler leader's lease; it renews it every third of this."""

WORKFLOW_FORWARDER_TTL_S = 30
"""The "a forwarder job is on its way" mark of the workflow inbox; a forwarder lost with its
worker is replaced by the next submission after this (the workflow sweep covers the rest)."""


def governor_key(connection_id: str) -> str:
    return f"{PREFIX}gov:{connection_id}"


def governor_block_key(connection_id: str) -> str:
    return f"{PREFIX}gov:{connection_id}:until"


def governor_margin_key(connection_id: str) -> str:
    return f"{PREFIX}gov:{connection_id}:margin"


def run_done_key(run_id: str) -> str:
    return f"{PREFIX}run:{run_id}:done"


def worker_heartbeat_key(worker_id: str) -> str:
    return f"{PREFIX}worker:{worker_id}"


def lock_key(name: str) -> str:
    return f"{PREFIX}lock:{name}"


def cache_key(connection_id: str, name: str) -> str:
    return f"{PREFIX}cache:{connection_id}:{name}"


def scheduler_lock_key() -> str:
    return f"{PREFIX}lock:scheduler"


def scheduler_fence_key() -> str:
    return f"{PREFIX}lock:scheduler:fence"


POLL_LOCK_TTL_S = 300
"""A poll holds its (connection, trigger) lock at most this long (a full scan of 100k
contacts at 500 per page is 200 requests); a dead poller's lock expires by itself."""

HOOK_LOCK_TTL_S = 120
"""A worker draining one REST hook's deliveries holds its lock at most this long."""


def poll_lock_key(connection_id: str, trigger_key: str) -> str:
    return f"{PREFIX}lock:poll:{connection_id}:{trigger_key}"


def poll_fence_key(connection_id: str, trigger_key: str) -> str:
    return f"{PREFIX}fence:poll:{connection_id}:{trigger_key}"


def hook_lock_key(hook_id: str) -> str:
    return f"{PREFIX}lock:hook:{hook_id}"


def hook_dirty_key(hook_id: str) -> str:
    return f"{PREFIX}hook:{hook_id}:dirty"


def sync_active_key(sync_id: str) -> str:
    """Id of the sync's one active run; a lease renewed by its worker (Settings.sync_lease_s)."""
    return f"{PREFIX}sync:{sync_id}:active"


def sync_source_pace_key(sync_id: str) -> str:
    """Governor key for a sync's requests to its source (its own rate limit and 429 penalty)."""
    return f"sync-source:{sync_id}"


def workflow_inbox_key() -> str:
    """List of workflow run ids stored but not yet given an RQ job (`services/intake.py`)."""
    return f"{PREFIX}wf:inbox"


def workflow_forwarder_key() -> str:
    return f"{PREFIX}wf:inbox:forwarder"
