"""``stream_options: {"include_usage": true}``: asked for, and what each server does remembered."""

from __future__ import annotations

from bot.domain import Usage
from bot.upstream import UpstreamClient
from bot.upstream.stream_usage import Support
from bot.upstream.types import ChatDelta, ChatRequest
from tests.fakes.upstream import Answer, FakeUpstream
from tests.upstream.test_client import HELLO

REQUEST = ChatRequest(model="gpt-4o", messages=HELLO)


async def collect(client: UpstreamClient) -> list[ChatDelta]:
    return [delta async for delta in client.stream(REQUEST)]


def usages(deltas: list[ChatDelta]) -> list[Usage]:
    return [d.usage for d in deltas if d.usage is not None]


async def test_a_server_that_honours_it_reports_usage(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(text="one two three", stream_options="honour")
    deltas = await collect(client)
    assert upstream.requests[0]["stream_options"] == {"include_usage": True}
    assert usages(deltas) == [Usage(10, 3)]
    assert client.stream_usage.support(upstream.base_url) is Support.HONOURS


async def test_a_server_that_ignores_it_is_still_asked(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(text="one two", stream_options="ignore")
    assert usages(await collect(client)) == []
    assert client.stream_usage.support(upstream.base_url) is Support.IGNORES
    await collect(client)
    assert all("stream_options" in r for r in upstream.requests)


async def test_a_server_that_refuses_it_is_asked_again_without_and_never_again_with(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(text="one two", stream_options="refuse")
    deltas = await collect(client)
    assert "".join(d.content for d in deltas) == "one two"  # the answer came, no failure
    first, second = upstream.requests
    assert "stream_options" in first
    assert "stream_options" not in second
    assert client.stream_usage.support(upstream.base_url) is Support.REFUSES
    await collect(client)
    assert "stream_options" not in upstream.requests[2]
    assert len(upstream.requests) == 3
