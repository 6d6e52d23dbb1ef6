"""The real client against the seed-exact fake, over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.domain import Usage
from bot.errors import (
    InputError,
    UpstreamAuthError,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTruncated,
    UpstreamUnavailable,
)
from bot.settings import UpstreamSettings
from bot.upstream import ChatDelta, ChatRequest, RetryPolicy, UpstreamClient
from bot.upstream.transport import READING, gather, gathering
from tests.fakes.clock import FakeClock
from tests.fakes.upstream import API_KEY, Answer, FakeUpstream, Fault, seeds

HELLO = ({"role": "user", "content": "hello"},)


async def collect(client: UpstreamClient, request: ChatRequest) -> list[ChatDelta]:
    return [delta async for delta in client.stream(request)]


def text_of(deltas: list[ChatDelta], index: int = 0) -> str:
    return "".join(d.content for d in deltas if d.index == index)


# -- results ------------------------------------------------------------------------


async def test_complete_parses_the_documented_result_with_its_quirks(
    client: UpstreamClient,
) -> None:
    result = await client.complete(ChatRequest(model="gpt-4", messages=HELLO))
    assert result.id == "chatcmpl-9k1idCCQuteN6Zu7Kv35TrG6DHKNt"
    assert result.model == "gpt-4"
    assert result.text == "Hello! How can I assist you today?"
    assert result.choices[0].finish_reason == "stop"
    assert result.usage == Usage(prompt_tokens=8, completion_tokens=9)
    assert result.system_fingerprint == "fp_abc28019ad"


async def test_multi_turn_messages_are_sent_as_given(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    messages = tuple(seeds.MULTI_TURN_MESSAGES)
    result = await client.complete(ChatRequest(model="gpt-4", messages=messages))
    assert result.text == 'You said, "Hello."'
    assert upstream.requests[-1]["messages"] == seeds.MULTI_TURN_MESSAGES


async def test_vision_parts_reach_the_api_untouched(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    parts = [
        {"type": "text", "text": "这张图片里有什么？"},
        {"type": "image_url", "image_url": {"url": "https://example.org/boardwalk.jpg"}},
    ]
    result = await client.complete(
        ChatRequest(model="gpt-4o", messages=({"role": "user", "content": parts},))
    )
    assert "木栈道" in result.text
    assert upstream.requests[-1]["messages"][0]["content"] == parts


async def test_image_model_answer_carries_image_links(client: UpstreamClient) -> None:
    parts = [
        {"type": "text", "text": "Generate an image in the style of Studio Ghibli."},
        {"type": "file_url", "file_url": {"url": "https://cdn.example.org/qzx2z1.png"}},
    ]
    result = await client.complete(
        ChatRequest(model="gpt-4o-image", messages=({"role": "user", "content": parts},))
    )
    # The seed's text exactly, its image host pointing at the fake (which serves the file).
    assert "![file-96TSnzJ6MipkZwCmmYEZSA](http://127.0.0.1:" in result.text
    assert "/cdn/20250412/s8EFrYVqeRWc5SfTmF1SbgBS2WFGXb.webp)\n[下载⏬](http://" in result.text
    assert result.usage == Usage(prompt_tokens=70, completion_tokens=17)


async def test_a_result_without_usage_is_accepted(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(text="no usage here", include_usage=False)
    result = await client.complete(ChatRequest(model="gpt-4o", messages=HELLO))
    assert result.text == "no usage here"
    assert result.usage is None


async def test_parameters_and_unknown_fields_pass_through(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    # OpenAI (and the fake) take json_object only when a message mentions JSON.
    request = ChatRequest(
        model="gpt-4o",
        messages=({"role": "user", "content": "hello, in JSON"},),
        max_tokens=64,
        temperature=0.2,
        n=2,
        response_format={"type": "json_object"},
        extra={"user": "u-42", "seed": 7},
    )
    result = await client.complete(request)
    sent = upstream.requests[-1]
    assert sent["max_tokens"] == 64
    assert sent["temperature"] == 0.2
    assert sent["n"] == 2
    assert sent["response_format"] == {"type": "json_object"}
    assert (sent["user"], sent["seed"], sent["stream"]) == ("u-42", 7, False)
    assert [c.index for c in result.choices] == [0, 1]


@pytest.mark.parametrize("temperature", [-0.1, 2.01, 5])
async def test_temperature_outside_0_to_2_is_refused_before_sending(temperature: float) -> None:
    with pytest.raises(InputError, match="between 0 and 2"):
        ChatRequest(model="gpt-4", messages=HELLO, temperature=temperature)


# -- streaming ----------------------------------------------------------------------


async def test_stream_replays_the_documented_chunks(client: UpstreamClient) -> None:
    deltas = await collect(client, ChatRequest(model="gpt-4", messages=HELLO))
    assert text_of(deltas) == "Hi there! How can I assist you today?"
    # The role-only first and penultimate deltas carry nothing and are dropped.
    assert all(d.content or d.finish_reason for d in deltas)
    assert deltas[-1].finish_reason == "stop"  # read from inside `delta`, as documented


@pytest.mark.parametrize("finish_in_delta", [True, False])
@pytest.mark.parametrize("keepalive", [True, False])
async def test_stream_reads_finish_reason_in_either_place_and_skips_keepalives(
    client: UpstreamClient, upstream: FakeUpstream, finish_in_delta: bool, keepalive: bool
) -> None:
    upstream.answer = Answer(
        text="one two three", finish_in_delta=finish_in_delta, keepalive=keepalive
    )
    deltas = await collect(client, ChatRequest(model="gpt-4o", messages=HELLO))
    assert text_of(deltas) == "one two three"
    assert [d.finish_reason for d in deltas if d.finish_reason] == ["stop"]


async def test_stream_with_n_choices_keeps_them_apart(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(text="alpha beta")
    deltas = await collect(client, ChatRequest(model="gpt-4o", messages=HELLO, n=3))
    assert [text_of(deltas, i) for i in range(3)] == ["alpha beta"] * 3
    assert sorted(d.index for d in deltas if d.finish_reason) == [0, 1, 2]


@pytest.mark.parametrize("tokens_per_s", [0.0, 400.0])
async def test_interleaved_distinct_choices_stay_apart_in_gathered_reads(
    client: UpstreamClient, upstream: FakeUpstream, tokens_per_s: float
) -> None:
    """Paced, the client gathers reads and joins plain text (parse.plain_text): only
    choice 0's text may be joined, never another choice's into it."""
    words = " ".join(f"w{i}" for i in range(40))
    upstream.answer = Answer(tokens_per_s=tokens_per_s)
    request = ChatRequest(model="gpt-4o", messages=({"role": "user", "content": words},), n=2)
    deltas = await collect(client, request)
    assert text_of(deltas, 0) == f"You said: {words}"
    assert text_of(deltas, 1) == f"You said: {words} (candidate 2)"


async def test_stream_reports_usage_from_a_final_chunk(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(text="a b c d", usage_chunk=True)
    deltas = await collect(client, ChatRequest(model="gpt-4o", messages=HELLO))
    assert deltas[-1].usage == Usage(prompt_tokens=10, completion_tokens=4)


async def test_stream_request_answered_in_one_json_piece_still_streams(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(text="whole answer", stream_as_json=True)
    deltas = await collect(client, ChatRequest(model="gpt-4o", messages=HELLO))
    assert text_of(deltas) == "whole answer"
    assert deltas[0].finish_reason == "stop"
    assert deltas[-1].usage is not None  # the body's usage is kept, as a stream's is


async def test_stream_without_done_or_finish_is_truncated_not_success(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(text="a b c d e")
    upstream.fail_next(Fault("no_done", after_chunks=4))
    received: list[str] = []
    with pytest.raises(UpstreamTruncated) as caught:
        async for delta in client.stream(ChatRequest(model="gpt-4o", messages=HELLO)):
            received.append(delta.content)
    assert "".join(received) == "a b c"  # the partial text reached the caller
    assert caught.value.code == "truncated"
    assert "ask again" in caught.value.user_message
    assert upstream.stats.requests == 1  # tokens were delivered: never retried


async def test_disconnect_mid_stream_keeps_partial_text_and_does_not_retry(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(text="w1 w2 w3 w4 w5 w6")
    upstream.fail_next(Fault("disconnect", after_chunks=3))
    received: list[str] = []
    with pytest.raises(UpstreamTruncated):
        async for delta in client.stream(ChatRequest(model="gpt-4o", messages=HELLO)):
            received.append(delta.content)
    assert "".join(received) == "w1 w2"
    assert upstream.stats.requests == 1


async def test_disconnect_before_the_first_token_is_retried(
    client: UpstreamClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.answer = Answer(text="second time lucky")
    upstream.fail_next(Fault("disconnect", after_chunks=1))  # after the role-only chunk
    deltas = await collect(client, ChatRequest(model="gpt-4o", messages=HELLO))
    assert text_of(deltas) == "second time lucky"
    assert upstream.stats.requests == 2
    assert len(clock.sleeps) == 1


async def test_malformed_chunk_is_a_protocol_error(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(text="fine so far")
    upstream.fail_next(Fault("malformed", after_chunks=2))
    with pytest.raises(UpstreamProtocolError) as caught:
        await collect(client, ChatRequest(model="gpt-4o", messages=HELLO))
    assert caught.value.code == "bad_response"


async def test_error_event_mid_stream_carries_code_and_trace_id(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(text="fine so far")
    upstream.fail_next(Fault("error_event", code="api_error", after_chunks=2, trace_id="t-mid"))
    with pytest.raises(UpstreamServerError) as caught:
        await collect(client, ChatRequest(model="gpt-4o", messages=HELLO))
    assert caught.value.trace_id == "t-mid"
    assert "(trace id: t-mid)" in caught.value.user_message


async def test_stall_mid_stream_hits_the_idle_timeout(
    upstream: FakeUpstream, upstream_settings: UpstreamSettings
) -> None:
    upstream.answer = Answer(text="slow and then nothing")
    upstream.fail_next(Fault("stall", after_chunks=3, seconds=5))
    settings = upstream_settings.model_copy(update={"timeout_idle": 0.3})
    async with UpstreamClient(settings, clock=FakeClock()) as client:
        with pytest.raises(UpstreamTruncated, match=r"no data for 0\.3 s"):
            await collect(client, ChatRequest(model="gpt-4o", messages=HELLO))


async def test_no_first_token_in_time_is_a_timeout(
    upstream: FakeUpstream, upstream_settings: UpstreamSettings
) -> None:
    upstream.answer = Answer(text="too late", first_token_delay=5)
    settings = upstream_settings.model_copy(update={"timeout_first_token": 0.3})
    policy = RetryPolicy(attempts=1)
    async with UpstreamClient(settings, clock=FakeClock(), policy=policy) as client:
        with pytest.raises(UpstreamUnavailable) as caught:
            await collect(client, ChatRequest(model="gpt-4o", messages=HELLO))
    assert caught.value.code == "timeout"
    assert "did not answer in time" in caught.value.user_message


async def test_cancelling_the_reader_closes_the_connection_at_once(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(tokens=10_000, tokens_per_s=200)
    first_text = asyncio.Event()

    async def read() -> None:
        async for _ in client.stream(ChatRequest(model="gpt-4o", messages=HELLO)):
            first_text.set()

    task = asyncio.create_task(read())
    await asyncio.wait_for(first_text.wait(), 2)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await upstream.wait_streams_completed(1)
    assert upstream.stats.client_disconnects == 1
    assert open_connections(client) == 0


async def test_breaking_out_with_aclosing_closes_the_connection(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(tokens=10_000, tokens_per_s=500)
    async with contextlib.aclosing(
        client.stream(ChatRequest(model="gpt-4o", messages=HELLO))
    ) as stream:
        async for _ in stream:
            break
    await upstream.wait_streams_completed(1)
    assert open_connections(client) == 0


async def test_a_slow_stream_is_read_in_gathered_pieces_with_nothing_lost(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    upstream.answer = Answer(tokens=30, tokens_per_s=60)
    deltas = await collect(client, ChatRequest(model="gpt-4o", messages=HELLO))
    texts = [d.content for d in deltas if d.content]
    assert texts[0] == "tok "  # the first words are handed over at once
    assert "".join(texts) == "tok " * 30
    if client._http._transport.__class__.__name__ == "PausableTransport":
        assert len(texts) < 15  # the rest came a few tokens at a time, not one by one
    else:
        assert len(texts) == 30  # httpcore cannot pause a socket: read as sent, never slowed


async def test_gathering_stops_reading_the_socket_and_then_resumes(
    upstream_settings: UpstreamSettings, upstream: FakeUpstream
) -> None:
    """On the aiohttp transport the pause is real: nothing reads the socket inside it."""
    if upstream_settings.http_transport != "aiohttp":
        pytest.skip("only the aiohttp transport exposes its socket")
    upstream.answer = Answer(tokens=3, tokens_per_s=10)  # still streaming when looked at
    async with UpstreamClient(upstream_settings) as client:
        http = client._http
        payload = ChatRequest(model="gpt-4o", messages=HELLO).payload(stream=True)
        request = http.build_request("POST", "chat/completions", json=payload)
        response = await http.send(request, stream=True)
        reading = response.extensions[READING]
        assert reading.is_reading()
        async with gathering(response):
            assert not reading.is_reading()
        assert reading.is_reading()
        await response.aread()
        await response.aclose()


async def test_a_gathering_pause_ends_when_the_answer_ends(
    upstream_settings: UpstreamSettings, upstream: FakeUpstream
) -> None:
    """The last tokens are never held back for the rest of a pause (issue 19): a pause
    of an hour ends as soon as the answer's end waits on the socket."""
    if upstream_settings.http_transport != "aiohttp":
        pytest.skip("only the aiohttp transport exposes its socket")
    upstream.answer = Answer(tokens=3, tokens_per_s=20)
    async with UpstreamClient(upstream_settings) as client:
        http = client._http
        payload = ChatRequest(model="gpt-4o", messages=HELLO).payload(stream=True)
        request = http.build_request("POST", "chat/completions", json=payload)
        response = await http.send(request, stream=True)
        await gather(response, 3600.0)  # before the fix: an hour (the test's timeout)
        assert response.extensions[READING].is_reading()
        body = await response.aread()
        assert body.rstrip().endswith(b"data: [DONE]")
        await response.aclose()


async def test_more_than_a_hundred_answers_stream_at_once(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    """The HTTP client has no connection cap of its own (aiohttp's default is 100):
    how many answers stream at once is the reply slots' decision (issue 19)."""
    upstream.answer = Answer(tokens=10, tokens_per_s=10)
    await asyncio.gather(
        *(collect(client, ChatRequest(model="gpt-4o", messages=HELLO)) for _ in range(110))
    )
    assert upstream.stats.max_concurrent_streams == 110


# -- errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "error_type", "retried"),
    [
        ("token_mismatched", 400, UpstreamBadRequest, False),
        ("api_not_implemented", 400, UpstreamBadRequest, False),
        ("invalid_token", 401, UpstreamAuthError, False),
        ("too_many_requests", 429, UpstreamRateLimited, True),
        ("api_error", 500, UpstreamServerError, True),
    ],
)
@pytest.mark.parametrize("streamed", [True, False])
async def test_documented_errors_map_to_typed_errors(
    client: UpstreamClient,
    upstream: FakeUpstream,
    code: str,
    status: int,
    error_type: type[UpstreamError],
    retried: bool,
    streamed: bool,
) -> None:
    upstream.fail_next(Fault("error", code=code), times=5)
    request = ChatRequest(model="gpt-4o", messages=HELLO)
    with pytest.raises(error_type) as caught:
        if streamed:
            await collect(client, request)
        else:
            await client.complete(request)
    error = caught.value
    assert (error.status, error.code, error.trace_id) == (status, code, seeds.ERROR_TRACE_ID)
    assert error.retryable is retried
    assert error.user_message.endswith(f"(trace id: {seeds.ERROR_TRACE_ID})")
    assert code in error.user_message
    assert upstream.stats.requests == (3 if retried else 1)


async def test_a_retried_error_that_clears_succeeds(
    client: UpstreamClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.answer = Answer(text="recovered")
    upstream.fail_next(Fault("error", code="api_error"))
    deltas = await collect(client, ChatRequest(model="gpt-4o", messages=HELLO))
    assert text_of(deltas) == "recovered"
    assert 0.25 <= clock.sleeps[0] <= 0.5  # first backoff with jitter


async def test_retry_after_is_honoured(
    client: UpstreamClient, upstream: FakeUpstream, clock: FakeClock
) -> None:
    upstream.fail_next(Fault("error", code="too_many_requests", retry_after=1.5))
    await client.complete(ChatRequest(model="gpt-4o", messages=HELLO))
    assert clock.sleeps == [1.5]  # within the 2 s first-token deadline


async def test_retries_stop_at_the_total_time_budget(
    upstream: FakeUpstream, upstream_settings: UpstreamSettings
) -> None:
    upstream.fail_next(Fault("error", code="too_many_requests", retry_after=20), times=5)
    clock = FakeClock()
    policy = RetryPolicy(attempts=5, max_seconds=30)
    # The first-token deadline is longer than the budget, so the budget decides.
    settings = upstream_settings.model_copy(update={"timeout_first_token": 60.0})
    async with UpstreamClient(settings, clock=clock, policy=policy) as client:
        with pytest.raises(UpstreamRateLimited):
            await client.complete(ChatRequest(model="gpt-4o", messages=HELLO))
    assert clock.sleeps == [20.0]  # a second 20 s wait would pass 30 s
    assert upstream.stats.requests == 2


async def test_openai_shaped_errors_are_understood(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    upstream.fail_next(Fault("openai_error", code="model_not_found", status=404))
    with pytest.raises(UpstreamBadRequest) as caught:
        await client.complete(ChatRequest(model="gpt-9", messages=HELLO))
    assert caught.value.code == "model_not_found"
    assert caught.value.detail == "The model does not exist."


async def test_an_html_page_from_a_proxy_is_a_clear_error(
    client: UpstreamClient, upstream: FakeUpstream
) -> None:
    upstream.fail_next(Fault("html"), times=3)
    with pytest.raises(UpstreamServerError) as caught:
        await collect(client, ChatRequest(model="gpt-4o", messages=HELLO))
    assert caught.value.status == 502
    assert caught.value.code == "bad_response"
    assert "text/html" in caught.value.detail
    assert "could not read" in caught.value.user_message


async def test_wrong_key_is_invalid_token(
    upstream: FakeUpstream, upstream_settings: UpstreamSettings
) -> None:
    settings = upstream_settings.model_copy(update={"api_key": SecretStr("sk-wrong")})
    async with UpstreamClient(settings, clock=FakeClock()) as client:
        with pytest.raises(UpstreamAuthError) as caught:
            await client.complete(ChatRequest(model="gpt-4", messages=HELLO))
    assert "OPENAI_API_KEY" in caught.value.user_message


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_refused_connection_is_retried_then_reported() -> None:
    settings = UpstreamSettings(
        base_url=f"http://127.0.0.1:{free_port()}/v1", api_key=SecretStr(API_KEY)
    )
    clock = FakeClock()
    async with UpstreamClient(settings, clock=clock) as client:
        with pytest.raises(UpstreamUnavailable) as caught:
            await collect(client, ChatRequest(model="gpt-4", messages=HELLO))
    assert caught.value.code == "connect_failed"
    assert len(clock.sleeps) == 2  # three attempts in all
    assert "OPENAI_BASE_URL" in caught.value.user_message


# -- configuration and secrets ------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/openai", "/v1", ""])
@pytest.mark.parametrize("trailing_slash", ["", "/"])
async def test_any_base_url_posts_to_chat_completions(prefix: str, trailing_slash: str) -> None:
    async with FakeUpstream(prefix=prefix) as fake:
        settings = UpstreamSettings(
            base_url=f"http://127.0.0.1:{fake.port}{prefix}{trailing_slash}",
            api_key=SecretStr(API_KEY),
        )
        async with UpstreamClient(settings) as client:
            result = await client.complete(ChatRequest(model="gpt-4", messages=HELLO))
    assert result.text == "Hello! How can I assist you today?"
    assert fake.paths == [f"{prefix}/chat/completions"]


@pytest.mark.parametrize("wrong", ["", "/chat/completions"])
@pytest.mark.parametrize("streamed", [False, True])
async def test_a_wrong_base_url_says_which_url_had_no_chat_completions(
    wrong: str, streamed: bool
) -> None:
    """``OPENAI_BASE_URL`` without ``/v1``, or ending in ``/chat/completions``: a 404 that
    names the URL tried and the setting, instead of "Please try again"."""
    async with FakeUpstream(prefix="/v1") as fake:
        base = f"http://127.0.0.1:{fake.port}" + ("/v1" + wrong if wrong else "")
        settings = UpstreamSettings(base_url=base, api_key=SecretStr(API_KEY))
        request = ChatRequest(model="gpt-4", messages=HELLO)
        async with UpstreamClient(settings, clock=FakeClock()) as client:
            with pytest.raises(UpstreamBadRequest) as caught:
                await (collect(client, request) if streamed else client.complete(request))
    assert fake.stats.requests == 1  # not retried: trying again cannot help
    sentence = caught.value.user_message
    assert f"no chat completions at {base}/chat/completions" in sentence
    assert "check OPENAI_BASE_URL" in sentence
    assert "it should end before /chat/completions" in sentence
    assert "try again" not in sentence.lower()


async def test_the_key_never_shows_in_reprs_errors_or_logs(
    upstream: FakeUpstream,
    upstream_settings: UpstreamSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    upstream.fail_next(Fault("error", code="api_error"), times=3)
    async with UpstreamClient(upstream_settings, clock=FakeClock()) as client:
        with pytest.raises(UpstreamError) as caught:
            await client.complete(ChatRequest(model="gpt-4", messages=HELLO))
        shown = [repr(client), repr(upstream_settings), str(caught.value)]
        shown += [caught.value.user_message, repr(client._http.headers)]
    shown += [record.getMessage() for record in caplog.records]
    assert caplog.records  # retries were logged
    assert not [line for line in shown if API_KEY in line]


def open_connections(client: UpstreamClient) -> int:
    """Connections the client still holds in use, for either transport."""
    transport: Any = client._http._transport
    if isinstance(transport, httpx.AsyncHTTPTransport):
        return len([c for c in transport._pool.connections if not c.is_closed()])
    connector = transport.client.connector
    return len(connector._acquired)
