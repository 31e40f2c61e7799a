"""What an attempt that raised becomes: a wait for a locked record, a retry, or in_doubt."""

from __future__ import annotations

from connector.engine.outcome import OutcomeKind
from connector.engine.runner import crash_outcome
from connector.providers.base import LockBusy


def test_a_busy_lock_before_any_write_is_a_throttle() -> None:
    # A throttle is the outcome that requeues without spending one of the run's attempts.
    outcome = crash_outcome(LockBusy("contact:con_1:12"), write_started=False)
    assert outcome.kind is OutcomeKind.THROTTLED
    assert outcome.retry_after_s == LockBusy.RETRY_S


def test_a_busy_lock_after_a_write_started_is_in_doubt() -> None:
    assert crash_outcome(LockBusy("contact:con_1:12"), write_started=True).kind \
        is OutcomeKind.IN_DOUBT


def test_our_own_failure_before_any_write_is_retried() -> None:
    outcome = crash_outcome(KeyError("firstname"), write_started=False)
    assert outcome.kind is OutcomeKind.TRANSIENT
    assert "KeyError" in outcome.message and "before anything was written" in outcome.message


def test_a_failure_while_a_write_is_in_flight_is_in_doubt_and_names_only_the_type() -> None:
    # e.g. the answer's charset can't be decoded: the request left, no exchange was recorded.
    outcome = crash_outcome(LookupError("unknown encoding: +49151secret"), write_started=True)
    assert outcome.kind is OutcomeKind.IN_DOUBT
    assert "LookupError" in outcome.message
    assert "+49151" not in outcome.message


def test_a_lock_busy_message_never_carries_the_locked_key() -> None:
    busy = LockBusy("phone:con_1:+4915123456789")
    assert "+49151" not in str(busy) and "phone" in str(busy)
    assert "+49151" not in busy.outcome().message
