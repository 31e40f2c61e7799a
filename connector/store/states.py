"""Run states and the only moves allowed between them (STYLE rule 16)."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    IN_DOUBT = "in_doubt"
    DEAD = "dead"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.IN_DOUBT, RunStatus.DEAD})

TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    # queued -> dead: the outbox gave up re-enqueueing; queued -> failed: cancelled before start.
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.FAILED, RunStatus.DEAD}),
    # running -> queued: a retry (transient, throttled) or a dead worker's read-only attempt.
    RunStatus.RUNNING: frozenset({RunStatus.QUEUED, RunStatus.SUCCEEDED, RunStatus.FAILED,
                                  RunStatus.IN_DOUBT, RunStatus.DEAD}),
    RunStatus.SUCCEEDED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.IN_DOUBT: frozenset(),
    RunStatus.DEAD: frozenset(),
}


class IllegalTransition(Exception):
    def __init__(self, run_id: str, current: str, target: str) -> None:
        super().__init__(f"run {run_id}: {current} -> {target} is not allowed")
        self.run_id, self.current, self.target = run_id, current, target


def check_transition(run_id: str, current: str, target: RunStatus) -> None:
    if target not in TRANSITIONS[RunStatus(current)]:
        raise IllegalTransition(run_id, current, target.value)
