"""The pure edge: Slack payloads to domain types and decisions (no sockets)."""

from __future__ import annotations

import pytest

from adapters.slack.commands import parse_prompt
from adapters.slack.translate import (
    AssistantThreadStarted,
    BotIdentity,
    MessageDeletion,
    MessageEdit,
    PersonMessage,
    SlackFile,
    earlier_messages,
    event_from_body,
    plain_text,
    retry_number,
    shared_files,
    should_answer,
    slash_command,
)
from bot.domain import ThreadKey
from tests.fakes.slack import PayloadFactory, SlackLimits, Workspace
from tests.slack.conftest import ALICE, BOT, DM, GENERAL, TEAM

ME = BotIdentity(user_id=BOT, bot_id="B0BOT00001", team_id=TEAM)


@pytest.fixture
def payloads() -> PayloadFactory:
    return PayloadFactory(Workspace(SlackLimits()))


def translate(payloads: PayloadFactory, event: dict[str, object]) -> object:
    return event_from_body(payloads.event_callback(event), ME)


def test_a_channel_mention_starts_a_thread_on_its_message(payloads: PayloadFactory) -> None:
    event = payloads.app_mention("what's new?")
    message = translate(payloads, event)
    assert isinstance(message, PersonMessage)
    ts = event["ts"]
    assert message.incoming.key == ThreadKey("slack", TEAM, GENERAL, ts)
    assert message.incoming.message_id == f"{GENERAL}:{ts}"  # ts repeats across channels
    assert message.incoming.text == "what's new?"
    assert (message.place.thread_ts, message.place.recipient_user_id) == (ts, ALICE)
    assert (message.mentioned, message.in_thread, message.direct) == (True, False, False)


def test_a_mention_inside_a_thread_answers_in_that_thread(payloads: PayloadFactory) -> None:
    message = translate(payloads, payloads.app_mention("and you?", thread_ts="1700000000.000100"))
    assert isinstance(message, PersonMessage)
    assert message.incoming.key.thread == "1700000000.000100"
    assert message.in_thread


def test_the_message_copy_of_a_channel_mention_is_left_to_app_mention(
    payloads: PayloadFactory,
) -> None:
    assert translate(payloads, payloads.message(f"<@{BOT}> hi")) is None


def test_a_direct_message_is_one_conversation_unless_threaded(payloads: PayloadFactory) -> None:
    top = translate(payloads, payloads.message(f"<@{BOT}> hello", channel=DM))
    assert isinstance(top, PersonMessage)
    assert top.incoming.key == ThreadKey("slack", TEAM, DM, DM)
    assert top.place.thread_ts is None
    assert not top.place.assistant
    assert top.incoming.text == "hello"

    threaded = translate(payloads, payloads.message("in a thread", channel=DM, thread_ts="1.2"))
    assert isinstance(threaded, PersonMessage)
    assert threaded.incoming.key.thread == "1.2"
    assert threaded.place.assistant  # a threaded DM is an assistant thread


def test_bots_own_messages_and_housekeeping_are_dropped(payloads: PayloadFactory) -> None:
    own = payloads.bot_message("mine", own=True)
    other = payloads.bot_message("beep")
    join = payloads.message("joined", channel=GENERAL) | {"subtype": "channel_join"}
    for event in (own, other, join, payloads.other_event("reaction_added")):
        assert translate(payloads, event) is None


@pytest.mark.parametrize(
    ("direct", "mentioned", "in_thread", "known", "answer"),
    [
        (True, False, False, False, True),
        (False, True, False, False, True),
        (False, False, True, True, True),
        (False, False, True, False, False),
        (False, False, False, True, False),
    ],
)
def test_should_answer(
    payloads: PayloadFactory,
    direct: bool,
    mentioned: bool,
    in_thread: bool,
    known: bool,
    answer: bool,
) -> None:
    message = translate(payloads, payloads.app_mention("x"))
    assert isinstance(message, PersonMessage)
    decided = PersonMessage(
        message.incoming, message.place, message.ts, mentioned, direct, in_thread
    )
    assert should_answer(decided, known_thread=known) is answer


def test_edits_and_deletions(payloads: PayloadFactory) -> None:
    edit = payloads.message_changed(
        channel=GENERAL, ts="5.5", text=f"<@{BOT}> fixed &amp; better", previous_text="typo"
    )
    assert translate(payloads, edit) == MessageEdit(f"{GENERAL}:5.5", "fixed & better")
    unchanged = payloads.message_changed(
        channel=GENERAL, ts="5.5", text="same", previous_text="same"
    )
    assert translate(payloads, unchanged) is None  # a reply count changed, not the words
    deleted = payloads.message_deleted(channel=GENERAL, ts="5.5")
    assert translate(payloads, deleted) == MessageDeletion(f"{GENERAL}:5.5")


def test_assistant_thread_started(payloads: PayloadFactory) -> None:
    event = payloads.assistant_thread_started(thread_ts="9.9")
    assert translate(payloads, event) == AssistantThreadStarted(DM, "9.9", ALICE)


def test_plain_text_reads_like_what_people_typed() -> None:
    text = f"<@{BOT}> see <https://example.com|the docs> &amp; <https://x.org> if a &lt; b"
    assert plain_text(text, BOT) == "see the docs (https://example.com) & https://x.org if a < b"


def test_earlier_messages_keep_people_before_the_mention(payloads: PayloadFactory) -> None:
    key = ThreadKey("slack", TEAM, GENERAL, "1.000001")
    page = [
        {"type": "message", "user": ALICE, "text": "parent", "ts": "1.000001"},
        {"type": "message", "user": BOT, "bot_id": "B0BOT00001", "text": "me", "ts": "1.000002"},
        {"type": "message", "user": "U0BOB00001", "text": "reply", "ts": "1.000010"},
        {"type": "message", "user": ALICE, "text": f"<@{BOT}> now", "ts": "1.000011"},
    ]
    earlier = earlier_messages(page, ME, key=key, before_ts="1.000011")
    assert [(m.message_id, m.text) for m in earlier] == [
        (f"{GENERAL}:1.000001", "parent"),
        (f"{GENERAL}:1.000010", "reply"),
    ]


def test_slash_commands_and_retry_headers(payloads: PayloadFactory) -> None:
    command = slash_command(payloads.slash_command("/ask", "a &lt; b?", channel=DM))
    assert (command.name, command.text, command.direct) == ("/ask", "a < b?", True)
    assert command.trigger_id
    assert retry_number({"x-slack-retry-num": ["2"]}) == 2
    assert retry_number({}) == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("what is a monad?", ("what is a monad?", None)),
        ("--model gpt-4 what is a monad?", ("what is a monad?", "gpt-4")),
        ("what is a monad? --model=gpt-4o", ("what is a monad?", "gpt-4o")),
        ("line one\nline two", ("line one\nline two", None)),
    ],
)
def test_parse_prompt(text: str, expected: tuple[str, str | None]) -> None:
    assert parse_prompt(text) == expected


def test_a_file_share_carries_its_files_and_odd_file_objects_are_tolerated() -> None:
    workspace = Workspace(SlackLimits())
    payloads = PayloadFactory(workspace)
    stored = workspace.add_file("notes.md", b"# hi\n", "text/markdown")
    message = translate(payloads, payloads.message("see this", channel=DM, files=[stored]))
    assert isinstance(message, PersonMessage)
    [shared] = message.files
    assert (shared.id, shared.name, shared.mimetype, shared.size) == (
        stored.id,
        "notes.md",
        "text/markdown",
        5,
    )
    assert shared.url.endswith(f"{stored.id}/notes.md")  # url_private, not the download one
    assert shared_files([{"id": "F1", "size": "n/a"}, "not a file"]) == (
        SlackFile(id="F1", name="F1", mimetype="", size=0, url=""),
    )
    assert shared_files(None) == ()
