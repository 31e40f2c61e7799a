"""A push trigger's event feed (`poll` in a provider entry): loaded into the catalog, and every
misuse reported with its pointer and a fix."""

import json
import shutil
from pathlib import Path

import pytest

from connector.catalog import DefinitionError, PollSource, load
from connector.providers.registry import known_operations
from tests.unit.test_catalog import TRIGGER_EXAMPLES, edit, errors_of, write

ROOT = Path(__file__).resolve().parents[2]
FEED = {"strategy": "cursor_feed", "operation": "read_events", "abilities": ["events:read"]}
PUSH = {**TRIGGER_EXAMPLES[1], "providers": {"corbital": {"abilities": []},
                                             "wbiz": {"abilities": [], "poll": FEED}}}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The real actions and schemas with one push trigger that polls WBIZ's feed."""
    for folder in ("actions", "schemas"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    (tmp_path / "triggers").mkdir()
    write(tmp_path, "triggers/message_status.json", json.loads(json.dumps(PUSH)))
    return tmp_path


def test_the_feed_is_loaded_and_polled_only_where_declared(repo: Path) -> None:
    trigger = load(repo, known_operations=known_operations()).triggers["message_status"]
    assert trigger.provider("wbiz").poll == PollSource("cursor_feed", "read_events",
                                                      ("events:read",))
    assert trigger.polled_on("wbiz") and not trigger.polled_on("corbital")
    assert not trigger.polled_on("waapi")  # no entry at all


CASES = [
    pytest.param(
        "triggers/message_status.json",
        lambda d: d["providers"]["wbiz"]["poll"].update(operation="read_event"),
        "/providers/wbiz/poll/operation",
        "operation 'read_event' is not implemented by the 'wbiz' dialect (did you mean"
        " 'read_events'?)", id="operation-unknown"),
    pytest.param(
        "triggers/message_status.json",
        lambda d: d["providers"]["wbiz"]["poll"].update(abilities=["event:read"]),
        "/providers/wbiz/poll/abilities/0",
        "ability 'event:read' is not a known 'wbiz' ability (did you mean 'events:read'?);"
        " known abilities are in schemas/abilities.json", id="ability-unknown"),
    pytest.param(
        "actions/send_text.json",
        lambda d: d["providers"]["wbiz"].update(poll=FEED),
        "/providers/wbiz/poll", "remove 'poll': only push triggers take an event feed",
        id="action-with-feed"),
]


@pytest.mark.parametrize("file, change, pointer, message", CASES)
def test_a_misused_feed_is_reported_once(repo: Path, file: str, change, pointer: str,
                                         message: str) -> None:
    edit(repo, file, change)
    assert errors_of(repo, known_operations=known_operations()) == [
        DefinitionError(file, pointer, message)]


def test_a_poll_trigger_may_not_add_a_feed(repo: Path) -> None:
    poll = json.loads(json.dumps(TRIGGER_EXAMPLES[0]))
    poll["providers"]["corbital"]["poll"] = FEED
    write(repo, "triggers/new_contact.json", poll)
    assert errors_of(repo) == [DefinitionError(
        "triggers/new_contact.json", "/providers/corbital/poll",
        "remove 'poll': a poll trigger polls its 'operation'; 'poll' adds an event feed to a push"
        " trigger")]
