"""The shape of ``bot/streaming/`` (issue 17 point 5): modules imported in one
direction, every name others import still there, and a message's ``Stage`` moving
only forward through its named transitions, on a real scheduler and a fake platform."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

import bot.streaming
from bot import wording
from bot.errors import NotDelivered, ThreadlineError
from bot.ports import MessageRef
from bot.render import render_discord
from bot.streaming import UNLIMITED, BudgetPlan, EditScheduler, Rate, Stage, StreamedReply
from tests.fakes.clock import FakeClock
from tests.fakes.target import FakePlatform, FakeTarget

ROOT = Path(__file__).resolve().parents[2]
# Each module may import only those after it.
LAYERS = ("reply", "scheduler", "slot", "budget")


def streaming_imports(source: str) -> set[str]:
    """The ``bot.streaming`` modules ``source`` imports, by short name."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found.update(n.split(".")[2] for n in names if n.startswith("bot.streaming."))
    return found & set(LAYERS)


def against_the_direction(sources: dict[str, str]) -> list[str]:
    return [
        f"{module} imports {other}"
        for module, source in sources.items()
        for other in streaming_imports(source)
        if LAYERS.index(other) <= LAYERS.index(module)
    ]


def test_the_modules_import_each_other_in_one_direction() -> None:
    package = ROOT / "bot" / "streaming"
    found = {path.stem for path in package.glob("*.py")} - {"__init__"}
    assert found == set(LAYERS)
    sources = {name: (package / f"{name}.py").read_text() for name in LAYERS}
    assert against_the_direction(sources) == []


def test_the_direction_check_sees_a_back_import() -> None:
    back = {"slot": "from bot.streaming.scheduler import EditScheduler\n", "reply": ""}
    assert against_the_direction(back) == ["slot imports scheduler"]


def test_every_name_imported_from_bot_streaming_is_there() -> None:
    """The package re-exports what adapters, tests and benches import from it."""
    wanted: set[str] = set()
    for folder in ("bot", "adapters", "tests", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module == "bot.streaming":
                    wanted.update(alias.name for alias in node.names)
    assert {"StreamedReply", "EditScheduler", "BudgetPlan", "Rate"} <= wanted
    assert sorted(n for n in wanted if not hasattr(bot.streaming, n)) == []


async def settle() -> None:
    """Let the scheduler's loop and its sends run (the fake platform answers at once)."""
    for _ in range(50):
        await asyncio.sleep(0)


async def test_a_message_goes_placeholder_showing_closing_done(clock: FakeClock) -> None:
    platform = FakePlatform(clock)
    async with EditScheduler(UNLIMITED, clock) as scheduler:
        reply = StreamedReply(platform.target("c1"), scheduler, render_discord)
        await reply.start()
        await settle()
        (slot,) = reply._slots
        assert (slot.stage, slot.ref is not None) == (Stage.PLACEHOLDER, True)  # posted
        await reply.append("first words")
        assert slot.stage is Stage.PLACEHOLDER  # posted already: its words come as an edit
        await settle()
        assert (slot.stage, slot.urgent()) == (Stage.SHOWING, False)
        finishing = asyncio.create_task(reply.finish())
        await asyncio.sleep(0)
        assert (slot.stage, slot.final, slot.urgent()) == (Stage.CLOSING, True, True)
        ids = await finishing
    assert slot.stage is Stage.DONE
    assert platform.messages[ids[0]].history == [
        wording.THINKING_PLACEHOLDER,
        f"first words{wording.IN_PROGRESS_MARKER}",
        "first words",
    ]


async def test_a_held_back_placeholder_becomes_worded_and_its_post_carries_the_words(
    clock: FakeClock,
) -> None:
    """Two answers waiting for words leave no room in a window of two for placeholders;
    the first words make the post urgent news (``WORDED``) and it goes with them."""
    platform = FakePlatform(clock)
    async with EditScheduler(BudgetPlan(overall=Rate(2, 1.0)), clock) as scheduler:
        replies = [
            StreamedReply(platform.target(f"c{i}"), scheduler, render_discord) for i in (1, 2)
        ]
        for reply in replies:
            await reply.start()
        await settle()
        slot = replies[0]._slots[0]
        assert (slot.stage, slot.ref, platform.messages) == (Stage.PLACEHOLDER, None, {})
        await replies[0].append("first words")
        assert slot.stage is Stage.WORDED
        await settle()
        assert slot.stage is Stage.SHOWING
        assert slot.ref is not None
        assert platform.messages[slot.ref.id].history == [
            f"first words{wording.IN_PROGRESS_MARKER}"
        ]
        for reply in replies:
            await reply.finish()


class Refusing(FakeTarget):
    """A platform that fails every request (a translated 5xx)."""

    async def post(self, text: str) -> MessageRef:
        raise ThreadlineError("refused")


async def test_a_message_given_up_is_done_and_said(clock: FakeClock) -> None:
    platform = FakePlatform(clock)
    async with EditScheduler(UNLIMITED, clock) as scheduler:
        reply = StreamedReply(Refusing(platform, "c1"), scheduler, render_discord)
        await reply.start()
        await reply.append("words")
        with pytest.raises(NotDelivered):
            await reply.finish()
    (slot,) = reply._slots
    assert (slot.stage, slot.gave_up, slot.failures) == (Stage.DONE, True, scheduler.MAX_FAILURES)
    assert scheduler.stats.failures == scheduler.MAX_FAILURES
