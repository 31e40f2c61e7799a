"""Injected faults: what they match, how many uses they have left, and what one request gets.

Kinds split by *when* they strike, because that is what the connector must reason about
(DESIGN.md outcome table): before the effect nothing reached the upstream and a retry is safe;
after the effect the message exists and a retry would double-send.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connector.sandbox.table import counter

BEFORE_EFFECT = ("status", "drop", "empty_200")
AFTER_EFFECT = ("status_after_effect", "timeout_after_effect", "drop_after_effect")
KINDS = ("latency", *BEFORE_EFFECT, *AFTER_EFFECT)
DEFAULT_STATUS = 500
DEFAULT_TIMEOUT_DELAY_MS = 5000


class FaultSpecError(ValueError):
    """A fault request the admin API refuses; `errors` maps field -> messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("invalid fault")
        self.errors = errors


@dataclass
class Fault:
    id: int
    kind: str
    tenant: str | None
    method: str | None
    path_contains: str | None
    remaining: int | None  # None: applies until `DELETE /_admin/faults`
    delay_ms: int
    status: int
    applied: int = 0

    def matches(self, tenant: str | None, method: str, path: str) -> bool:
        return (
            (self.tenant is None or self.tenant == tenant)
            and (self.method is None or self.method == method)
            and (self.path_contains is None or self.path_contains in path)
        )

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "tenant": self.tenant,
            "method": self.method,
            "path_contains": self.path_contains,
            "times_left": self.remaining,
            "delay_ms": self.delay_ms,
            "status": self.status,
            "applied": self.applied,
        }


@dataclass(frozen=True)
class Plan:
    """What the transport layer does to one request."""

    delay_s: float = 0.0
    before: Fault | None = None
    after: Fault | None = None
    kinds: tuple[str, ...] = ()


class FaultBook:
    """Registered faults in creation order; callers hold the store lock."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._next_id = counter()

    def add(self, spec: dict[str, Any]) -> Fault:
        errors: dict[str, list[str]] = {}
        kind = spec.get("kind")
        if kind not in KINDS:
            errors["kind"] = [f"kind must be one of {', '.join(KINDS)}"]
        times = spec.get("times", 1)
        if times is not None and (not _is_int(times) or times < 1):
            errors["times"] = ["times must be a positive integer, or null for unlimited"]
        default_delay = DEFAULT_TIMEOUT_DELAY_MS if kind == "timeout_after_effect" else 0
        delay_ms = spec.get("delay_ms", default_delay)
        if not _is_int(delay_ms) or delay_ms < 0:
            errors["delay_ms"] = ["delay_ms must be a non-negative integer"]
        elif kind == "latency" and delay_ms == 0:
            errors["delay_ms"] = ["latency faults need delay_ms > 0"]
        status = spec.get("status", DEFAULT_STATUS)
        if not _is_int(status) or not 500 <= status <= 599:
            errors["status"] = ["status must be a 5xx integer"]
        for key in ("tenant", "method", "path_contains"):
            if spec.get(key) is not None and not isinstance(spec[key], str):
                errors[key] = [f"{key} must be a string"]
        if errors:
            raise FaultSpecError(errors)
        fault = Fault(
            id=self._next_id(),
            kind=str(kind),
            tenant=spec.get("tenant"),
            method=spec["method"].upper() if spec.get("method") else None,
            path_contains=spec.get("path_contains"),
            remaining=times,
            delay_ms=delay_ms,
            status=status,
        )
        self._faults.append(fault)
        return fault

    def take(self, tenant: str | None, method: str, path: str) -> Plan:
        """Consume one use of every matching fault and fold them into a plan.

        Latencies add up; of the terminal faults the oldest registered one wins per phase.
        """
        if not self._faults:
            return Plan()
        delay_ms = 0
        before = after = None
        matching = [f for f in self._faults if f.matches(tenant, method, path)]
        for fault in matching:
            fault.applied += 1
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
            if fault.kind == "latency":
                delay_ms += fault.delay_ms
            elif fault.kind in BEFORE_EFFECT:
                before = before or fault
            else:
                after = after or fault
        kinds = tuple(f.kind for f in matching)
        return Plan(delay_s=delay_ms / 1000, before=before, after=after, kinds=kinds)

    def clear(self) -> None:
        self._faults.clear()

    def view(self) -> list[dict[str, Any]]:
        return [f.view() for f in self._faults]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
