"""The byte-level event-stream reader agrees with httpx-sse, however the bytes are cut."""

from __future__ import annotations

import itertools

import orjson
from httpx_sse._decoders import SSEDecoder, SSELineDecoder
from hypothesis import given
from hypothesis import strategies as st

from bot.upstream.client import _read_events
from bot.upstream.parse import EventStream, deltas_from, merged
from bot.upstream.types import ChatDelta


def read_all(chunks: list[bytes]) -> list[bytes]:
    events = EventStream()
    out = [data for chunk in chunks for data in events.feed(chunk)]
    return out + events.end()


def httpx_sse_data(stream: bytes) -> list[bytes]:
    """What the client read before: text lines → SSEDecoder, empty data left out."""
    lines, decoder, out = SSELineDecoder(), SSEDecoder(), []
    text = stream.decode()
    for line in [*lines.decode(text), *lines.flush()] if text else []:
        event = decoder.decode(line.rstrip("\n"))
        if event is not None and event.data:
            out.append(event.data.encode())
    return out


def cut(stream: bytes, points: list[int]) -> list[bytes]:
    edges = sorted({p % (len(stream) + 1) for p in points} | {0, len(stream)})
    return [stream[a:b] for a, b in itertools.pairwise(edges) if b > a]


def test_reads_a_plain_stream_with_keepalives() -> None:
    stream = b': keep-alive\n\ndata: {"a": 1}\n\nevent: x\nid: 7\ndata: [DONE]\n\n'
    assert read_all([stream]) == [b'{"a": 1}', b"[DONE]"]


def test_joins_data_lines_and_takes_any_line_ending() -> None:
    stream = b"data: one\r\ndata:two\r\rdata\ndata: three\r\n\r\n"
    assert read_all([stream]) == [b"one\ntwo", b"\nthree"]


def test_a_crlf_cut_between_chunks_is_one_line_end() -> None:
    assert read_all([b"data: x\r", b"\n", b"\r", b"\ndata: y\r", b"\r"]) == [b"x", b"y"]


def test_an_event_cut_off_by_the_end_is_not_delivered() -> None:
    assert read_all([b"data: whole\n\ndata: cut"]) == [b"whole"]


def test_a_bom_at_the_start_is_dropped() -> None:
    assert read_all([b"\xef\xbb", b"\xbfdata: x\n\n"]) == [b"x"]


line = st.one_of(
    st.sampled_from([":", ": ping", "data", "data:", "event: e", "id: 1", "retry: 9", "x: y"]),
    st.text(alphabet="ab: {}\"'", max_size=8).map(lambda s: "data:" + s),
    st.text(alphabet="ab {}", max_size=6).map(lambda s: "data: " + s),
    st.just(""),
)


@given(
    st.lists(st.tuples(line, st.sampled_from(["\n", "\r\n", "\r"])), max_size=25),
    st.lists(st.integers(min_value=0, max_value=400), max_size=12),
)
def test_agrees_with_httpx_sse_however_cut(lines: list[tuple[str, str]], points: list[int]) -> None:
    stream = "".join(text + end for text, end in lines).encode()
    assert read_all(cut(stream, points)) == httpx_sse_data(stream)


def test_merges_consecutive_text_of_one_choice_only() -> None:
    deltas = [
        ChatDelta("a"),
        ChatDelta("b"),
        ChatDelta("x", index=1),
        ChatDelta("c", finish_reason="stop"),
        ChatDelta("d"),
    ]
    assert merged(deltas) == [
        ChatDelta("ab"),
        ChatDelta("x", index=1),
        ChatDelta("c", finish_reason="stop"),
        ChatDelta("d"),
    ]


chunk = st.one_of(
    st.builds(
        lambda text: {"choices": [{"delta": {"content": text}, "index": 0}]}, st.text(max_size=4)
    ),
    st.just({"choices": [{"delta": {"role": "assistant"}, "index": 0}]}),
    st.builds(
        lambda text: {"choices": [{"delta": {"content": text}, "index": 1}]}, st.text(max_size=4)
    ),
    st.just({"choices": [{"delta": {"finish_reason": "stop", "index": 0}}]}),
    st.just({"choices": [{"delta": {}, "index": 0, "finish_reason": "length"}]}),
    st.just({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}),
    st.just({"choices": [{"delta": {"content": "a"}}, {"delta": {"content": "b"}, "index": 1}]}),
)


@given(st.lists(chunk, max_size=20), st.booleans())
def test_a_gathered_read_says_what_its_chunks_say_one_by_one(
    chunks: list[dict[str, object]], done: bool
) -> None:
    """Joining (the plain-text fast path, then ``merged``) keeps every character, in
    order, per choice, and every finish reason and usage, as ``deltas_from`` reads them."""
    events = [orjson.dumps(c) for c in chunks] + ([b"[DONE]"] if done else [])
    one_by_one, done_alone, _ = _read_events(events, join=False)
    joined, done_joined, _ = _read_events(events, join=True)

    def said(deltas: list[ChatDelta]) -> tuple[object, ...]:
        text = {i: "".join(d.content for d in deltas if d.index == i) for i in (0, 1)}
        ends = [(d.index, d.finish_reason) for d in deltas if d.finish_reason]
        return text, ends, [d.usage for d in deltas if d.usage]

    assert said(joined) == said(one_by_one) == said([d for c in chunks for d in deltas_from(c)])
    assert done_joined == done_alone == done
    assert all(d.content or d.finish_reason or d.usage for d in joined)
    assert len(joined) <= len(one_by_one)
