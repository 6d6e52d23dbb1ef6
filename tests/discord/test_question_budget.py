"""Issue 22, 8: the question itself is held to the context budget. One message with ten
32 KB text files made a 320 KB request under LIMITS__CONTEXT_TOKENS=16000; now the
question is cut to fit, the model is told where, and so is the user."""

from __future__ import annotations

import json

from bot import wording
from bot.conversation import estimate_tokens
from bot.settings import ConversationLimits
from tests.discord.harness import Rig
from tests.fakes.discord import FakeFile
from tests.fakes.upstream import Answer, FakeUpstream

BUDGET = ConversationLimits().context_tokens  # 16,000: the harness runs the defaults


def log_file(n: int) -> bytes:
    """32 KB of a service log, as people attach them."""
    lines = (
        f"2026-11-22T10:{i % 60:02d}:00Z worker-{n} INFO handled request {i}\n" for i in range(2000)
    )
    return "".join(lines).encode()[: 32 * 1024]


async def test_ten_32_kb_files_are_cut_to_the_budget_with_a_notice(
    rig: Rig, upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(text="The disk filled up.")  # not an echo of 64 KB
    fake = rig.fake
    files = [FakeFile(f"worker-{n}.log", log_file(n)) for n in range(10)]
    async with rig.bot():
        asked = await fake.dispatch_message(
            content="what went wrong?", attachments=files, mentions_bot=True
        )
        [answer] = await rig.answered(await rig.thread_of(asked))

    [request] = upstream.requests
    question = request["messages"][-1]["content"]
    assert estimate_tokens(question) <= BUDGET
    assert question.startswith("what went wrong?\n\nworker-0.log:")
    assert question.endswith(wording.question_cut_marker())
    # Before: 327,680 bytes of files in one request.
    assert len(json.dumps(request).encode()) < 80_000
    assert "⚠️ Your message and its files were too long" in answer.content


async def test_a_question_within_the_budget_is_sent_whole(rig: Rig, upstream: FakeUpstream) -> None:
    upstream.answer = Answer(text="Nothing went wrong.")
    async with rig.bot():
        asked = await rig.fake.dispatch_message(
            content="summarise", attachments=[FakeFile("one.log", log_file(1))], mentions_bot=True
        )
        [answer] = await rig.answered(await rig.thread_of(asked))
    question = upstream.requests[-1]["messages"][-1]["content"]
    assert question.endswith(log_file(1).decode().rstrip() + "\n```")
    assert "too long" not in answer.content
