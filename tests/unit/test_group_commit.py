"""Group commit (`store/group_commit.py`): items that arrive while a batch is being written
share the next batch, and every caller gets its own result or its batch's error."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from connector.store.group_commit import GroupCommit, writer_for
from tests.support.triggers import wait_until

WAIT_S = 10.0


@dataclass
class Item:
    value: int
    done: bool = False
    result: Any = field(default=None)


def test_items_that_arrive_during_a_write_share_the_next_batch() -> None:
    batches: list[list[int]] = []
    first_started, release_first = threading.Event(), threading.Event()

    def write(batch: list[Item]) -> None:
        batches.append([item.value for item in batch])
        if len(batches) == 1:
            first_started.set()
            assert release_first.wait(WAIT_S)
        for item in batch:
            item.result, item.done = item.value * 10, True

    group: GroupCommit[Item] = GroupCommit(write, max_batch=100)
    results: dict[int, Any] = {}

    def submit(value: int) -> None:
        results[value] = group.submit(Item(value))

    threads = [threading.Thread(target=submit, args=(0,))]
    threads[0].start()
    assert first_started.wait(WAIT_S)
    threads += [threading.Thread(target=submit, args=(n,)) for n in range(1, 6)]
    for thread in threads[1:]:
        thread.start()
    wait_until(lambda: group.waiting == 5, WAIT_S, "5 waiting items")
    release_first.set()
    for thread in threads:
        thread.join(WAIT_S)
    assert batches[0] == [0]
    assert sorted(batches[1]) == [1, 2, 3, 4, 5] and len(batches) == 2
    assert results == {n: n * 10 for n in range(6)}


def test_a_batch_is_at_most_max_batch_items() -> None:
    batches: list[int] = []
    gate = threading.Event()

    def write(batch: list[Item]) -> None:
        batches.append(len(batch))
        gate.wait(WAIT_S)
        for item in batch:
            item.result, item.done = None, True

    group: GroupCommit[Item] = GroupCommit(write, max_batch=2)
    blocker = threading.Thread(target=group.submit, args=(Item(-1),))
    blocker.start()
    wait_until(lambda: batches == [1], WAIT_S, "the first batch")
    threads = [threading.Thread(target=group.submit, args=(Item(n),)) for n in range(5)]
    for thread in threads:
        thread.start()
    wait_until(lambda: group.waiting == 5, WAIT_S, "5 waiting items")
    gate.set()
    for thread in [blocker, *threads]:
        thread.join(WAIT_S)
    assert batches == [1, 2, 2, 1]


def test_an_error_in_the_write_is_raised_in_every_caller_it_did_not_settle() -> None:
    def write(batch: list[Item]) -> None:
        batch[0].result, batch[0].done = "kept", True
        raise ValueError("disk full")

    group: GroupCommit[Item] = GroupCommit(write, max_batch=10)
    outcomes: dict[int, Any] = {}

    def submit(item: Item) -> None:
        try:
            outcomes[item.value] = group.submit(item)
        except ValueError as error:
            outcomes[item.value] = error

    threads = [threading.Thread(target=submit, args=(Item(n),)) for n in (1, 2)]
    with group._writer:  # hold the writer so that both wait for the same batch, in order
        for expected, thread in enumerate(threads, start=1):
            thread.start()
            wait_until(lambda n=expected: group.waiting == n, WAIT_S, "the items in order")  # type: ignore[misc]
    for thread in threads:
        thread.join(WAIT_S)
    assert outcomes[1] == "kept"
    assert isinstance(outcomes[2], ValueError) and str(outcomes[2]) == "disk full"


def test_an_item_the_write_forgot_fails_instead_of_waiting_forever() -> None:
    group: GroupCommit[Item] = GroupCommit(lambda batch: None, max_batch=10)
    with pytest.raises(RuntimeError, match="not written"):
        group.submit(Item(1))


def test_writer_for_gives_one_writer_per_owner_and_kind() -> None:
    class Owner:
        pass

    class Writer:
        def __init__(self, owner: Owner) -> None:
            self.owner = owner

    a, b = Owner(), Owner()
    assert writer_for(a, Writer) is writer_for(a, Writer)
    assert writer_for(a, Writer) is not writer_for(b, Writer)
    assert writer_for(b, Writer).owner is b
