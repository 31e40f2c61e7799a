"""What an attempt that raised becomes: a wait for a locked record, a retry, or in_doubt."""

from __future__ import annotations

import pytest

from connector.engine.outcome import OutcomeKind
from connector.engine.runner import LOCK_RETRY_S, crash_outcome
from connector.providers.base import LockBusy
from connector.providers.http import Exchange

READ = Exchange(method="GET", url="https://t.example/api/v1/acme/contacts/1", status=200,
                sent=True)
WRITE_SENT = Exchange(method="PUT", url="https://t.example/api/v1/acme/contacts/1", status=200,
                      sent=True)
WRITE_REFUSED_BEFORE_SENDING = Exchange(method="POST", url="https://t.example/x",
                                        error="connect_error", sent=False)


@pytest.mark.parametrize("exchanges", [
    pytest.param([], id="nothing-sent"),
    pytest.param([READ], id="after-a-read"),
    pytest.param([READ, WRITE_REFUSED_BEFORE_SENDING], id="write-never-left"),
])
def test_a_busy_lock_before_any_write_waits_without_spending_an_attempt(
        exchanges: list[Exchange]) -> None:
    outcome = crash_outcome(LockBusy("contact:con_1:12"), exchanges)
    assert outcome.kind is OutcomeKind.THROTTLED
    assert outcome.retry_after_s == LOCK_RETRY_S


def test_a_busy_lock_after_a_write_left_is_in_doubt() -> None:
    assert crash_outcome(LockBusy("contact:con_1:12"), [READ, WRITE_SENT]).kind \
        is OutcomeKind.IN_DOUBT


def test_our_own_failure_before_any_write_is_retried() -> None:
    outcome = crash_outcome(KeyError("firstname"), [READ])
    assert outcome.kind is OutcomeKind.TRANSIENT
    assert "KeyError" in outcome.message and "before anything was written" in outcome.message


def test_our_own_failure_after_a_write_is_in_doubt_and_names_only_the_type() -> None:
    outcome = crash_outcome(ValueError("secret-looking upstream text"), [WRITE_SENT])
    assert outcome.kind is OutcomeKind.IN_DOUBT
    assert "ValueError" in outcome.message
    assert "secret-looking" not in outcome.message
