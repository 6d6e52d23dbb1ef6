"""Recovery that is itself cut short: SIGKILL twice around the start-up repair.

A real ``threadline run`` is killed mid-answer; the next start marks the answer
``interrupted`` and owes its platform repair (``delivery`` ``pending``, in the
same write); that start is killed too, before the repair could land (the
platform refuses the edit meanwhile: the window made wide enough to hit every
time). The start after that must still finish the message: no ⏳, no dead Stop
button, the interrupted notice and Regenerate; and the database must say
``delivered`` only then.

Before issue 22 the second start marked the answer and the third found nothing
``streaming``: the message kept its ⏳ and its Stop button forever.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot import wording
from bot.domain import Delivery, TurnStatus
from tests.fakes.discord import FakeDiscord
from tests.fakes.slack import SlackFake
from tests.fakes.upstream import Answer, FakeUpstream
from tests.test_recovery import (
    bot_message,
    connected,
    discord_env,
    discord_fake,  # noqa: F401 - a fixture, used by name
    has_regenerate,
    slack_answer,
    slack_answer_streaming,
    slack_env,
    stored_answer,
)
from tests.test_run import start_run


async def killed(process: asyncio.subprocess.Process) -> None:
    process.kill()
    await process.wait()


async def test_a_repair_cut_by_a_second_sigkill_is_finished_at_the_third_start(
    upstream: FakeUpstream,
    discord_fake: FakeDiscord,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    fake, path = discord_fake, tmp_path / "threadline.db"
    upstream.answer = Answer(tokens=5_000, tokens_per_s=20)  # still streaming when killed
    env = discord_env(upstream, fake, tmp_path)
    first = await start_run(env)
    try:
        await connected(fake)
        await fake.dispatch_message(content="a long story, please", mentions_bot=True)
        answer = await fake.wait_for(bot_message(fake, lambda m: "tok tok" in m.content), 30)
        await stored_answer(path, answer.id, lambda s: "tok tok" in s.turn.text)
    finally:
        await killed(first)

    # The second start: Discord refuses the repair's edits, and the process is killed
    # once the repair has been tried (between marking the answer and finishing it).
    fake.outage(10**6)
    second = await start_run(env)
    try:
        await stored_answer(path, answer.id, lambda s: s.turn.status is TurnStatus.INTERRUPTED)
        await fake.wait_for(lambda: _edit_refused(fake, answer.id), 30)
    finally:
        await killed(second)
    cut = fake.message(answer.id)
    assert "⏳" in cut.content  # the repair did not land
    owed = await stored_answer(path, answer.id, lambda s: True)
    assert owed.turn.delivery is Delivery.PENDING  # and the database does not claim it did

    fake.outage(0)  # Discord is back
    third = await start_run(env)
    try:
        finished = await fake.wait_for(
            lambda: (
                (m := fake.message(answer.id)).content.endswith(wording.interrupted_notice())
                and has_regenerate(m)
                and m
            ),
            30,
        )
        stored = await stored_answer(
            path, answer.id, lambda s: s.turn.delivery is not owed.turn.delivery
        )
    finally:
        await killed(third)
    assert "⏳" not in finished.content
    assert [b.label for b in finished.buttons] == ["Regenerate"]
    assert (stored.turn.status, stored.turn.delivery) == (
        TurnStatus.INTERRUPTED,
        Delivery.DELIVERED,
    )


def _edit_refused(fake: FakeDiscord, message_id: int) -> bool:
    return any(
        r.method == "PATCH" and r.status == 503 and r.path.endswith(f"/messages/{message_id}")
        for r in fake.world.requests
    )


async def test_a_slack_repair_cut_by_a_second_sigkill_is_finished_at_the_third_start(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    path = tmp_path / "threadline.db"
    upstream.answer = Answer(tokens=5_000, tokens_per_s=20)
    async with SlackFake() as slack:
        env = slack_env(upstream, tmp_path, slack)
        first = await start_run(env)
        try:
            answer = await slack_answer_streaming(slack)
            stored_id = f"{answer.channel}:{answer.ts}"
            await stored_answer(
                path, stored_id, lambda s: "tok tok" in s.turn.text, platform="slack"
            )
        finally:
            await killed(first)

        slack.outage(10**6)  # chat.* refused: the repair cannot land
        second = await start_run(env)
        try:
            await stored_answer(
                path,
                stored_id,
                lambda s: s.turn.status is TurnStatus.INTERRUPTED,
                platform="slack",
            )
            await slack.wait_for(
                lambda: any(r.status == 500 for r in slack.log.calls("chat.stopStream")),
                30,
                "a refused repair",
            )
        finally:
            await killed(second)
        owed = await stored_answer(path, stored_id, lambda s: True, platform="slack")
        assert owed.turn.delivery is Delivery.PENDING
        assert slack_answer(slack, lambda m: m.ts == answer.ts and m.stream_state == "streaming")

        slack.outage(0)
        third = await start_run(env)
        try:
            await slack.wait_for(
                lambda: slack_answer(
                    slack,
                    lambda m: m.ts == answer.ts and m.body.endswith(wording.interrupted_notice()),
                ),
                30,
                "the finished answer",
            )
            stored = await stored_answer(
                path, stored_id, lambda s: s.turn.delivery is Delivery.DELIVERED, platform="slack"
            )
        finally:
            await killed(third)
    finished = slack_answer(slack, lambda m: m.ts == answer.ts)
    assert finished is not None
    assert finished.stream_state != "streaming"
    assert stored.turn.status is TurnStatus.INTERRUPTED
