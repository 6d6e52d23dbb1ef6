"""Images in and out: link parsing, safe fetching, the image store, and the service
end to end through the fake upstream (which validates the parts it receives)."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from adapters.console import ConsoleSink
from bot import wording
from bot.domain import Attachment, ImagePart, Incoming, Role, ThreadKey
from bot.fetch import Fetcher, FetchError, sniff_image
from bot.image_flow import ImageFlow
from bot.images import find_image_links, without_links
from bot.models import ModelCatalog
from bot.service import Outcome, ReplyService
from bot.settings import ConversationLimits, ImageSettings, ModelSpec, UpstreamSettings
from bot.upstream import UpstreamClient
from storage import ImageStore, SqliteStore
from tests.fakes.upstream import FakeUpstream
from tests.fakes.upstream.seeds import IMAGE_CONTENT, TINY_PNG
from tests.services import reply_service

KEY = ThreadKey("console", "", "terminal", "images")
LOCAL = ImageSettings(allow_private_addresses=True)


# -- link parsing (the seed's exact answer) ----------------------------------------


def test_the_seed_answer_has_one_image_with_its_download_link() -> None:
    (link,) = find_image_links(IMAGE_CONTENT)
    assert link.alt == "file-96TSnzJ6MipkZwCmmYEZSA"
    assert link.url == "https://filesystem.site/cdn/20250412/s8EFrYVqeRWc5SfTmF1SbgBS2WFGXb.webp"
    assert link.download_markdown == (
        "[下载⏬](https://filesystem.site/cdn/download/20250412/s8EFrYVqeRWc5SfTmF1SbgBS2WFGXb.webp)"
    )
    text = without_links(IMAGE_CONTENT, [link])
    assert "filesystem.site" not in text
    assert "下载" not in text
    assert text.startswith('{\n  "prompt": "一位长发黑发')
    assert text.endswith("柔和温暖的氛围通过细腻的细节和生动的色彩得以体现。")
    assert '"size": "1024x1024"\n}\n\n这是以吉卜力风格' in text


def test_browsing_links_are_not_images() -> None:
    answer = "See [the docs](https://example.org/docs) and [download](https://example.org/x.zip)."
    assert find_image_links(answer) == []


# -- safe fetching ------------------------------------------------------------------


def test_types_are_sniffed_from_bytes() -> None:
    assert sniff_image(TINY_PNG) == "image/png"
    assert sniff_image(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert sniff_image(b"GIF89a...") == "image/gif"
    assert sniff_image(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff_image(b"<html>not an image</html>") is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/cat.png",
        "http://10.0.0.1/cat.png",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/cat.png",
        "http://localhost/cat.png",
    ],
)
async def test_private_addresses_are_refused_by_default(url: str) -> None:
    async with Fetcher(ImageSettings()) as fetcher:
        with pytest.raises(FetchError) as refused:
            await fetcher.fetch_image(url)
    assert "private address" in refused.value.user_message


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/a.png", "data:,x"])
async def test_only_http_and_https_are_fetched(url: str) -> None:
    async with Fetcher(LOCAL) as fetcher:
        with pytest.raises(FetchError) as refused:
            await fetcher.fetch_image(url)
    assert refused.value.user_message == wording.fetch_refused_scheme(url)


async def test_a_download_is_capped_and_sniffed(upstream: FakeUpstream) -> None:
    url = f"http://127.0.0.1:{upstream.port}/cdn/20250412/a.webp"
    async with Fetcher(LOCAL) as fetcher:
        image = await fetcher.fetch_image(url)
    assert (image.data, image.mime, image.name) == (TINY_PNG, "image/png", "a.png")
    async with Fetcher(LOCAL.model_copy(update=dict(max_image_bytes=10))) as fetcher:
        with pytest.raises(FetchError) as refused:
            await fetcher.fetch_image(url)
    assert refused.value.user_message == wording.image_too_large("a.webp", 10)


async def test_a_page_that_is_not_an_image_is_refused(upstream: FakeUpstream) -> None:
    async with Fetcher(LOCAL) as fetcher:
        with pytest.raises(FetchError) as refused:
            await fetcher.fetch_image(f"http://127.0.0.1:{upstream.port}/_fake/stats")
    assert refused.value.user_message == wording.image_format_unsupported("stats")


# -- the image store ------------------------------------------------------------------


async def test_the_store_is_content_addressed_and_evicts_the_least_recently_used(
    tmp_path: Path,
) -> None:
    store = ImageStore(tmp_path / "img", max_bytes=2 * len(TINY_PNG) + 10)
    first = await store.put(TINY_PNG, "image/png")
    assert await store.put(TINY_PNG, "image/png") == first  # stored once
    second = await store.put(TINY_PNG + b"2", "image/png")
    assert await store.get(first) == (TINY_PNG, "image/png")  # first is now the newest used
    import os

    os.utime(tmp_path / "img" / second.removeprefix("image:sha256:"), (1, 1))
    os.utime(tmp_path / "img" / first.removeprefix("image:sha256:"), (2, 2))
    await store.put(TINY_PNG + b"3", "image/png")
    assert await store.get(second) is None  # the least recently used went
    assert await store.get(first) is not None
    assert await store.get("image:sha256:../../etc/passwd") is None


# -- the service, end to end ------------------------------------------------------


@dataclass
class Sink:
    appended: list[str] = field(default_factory=list)
    footer: str = ""
    files: list[tuple[str, bytes, str]] = field(default_factory=list)
    refuse_uploads: bool = False

    async def start(self) -> None:
        return None

    async def append(self, text: str) -> None:
        self.appended.append(text)

    async def finish(self, footer: str = "") -> tuple[str, ...]:
        self.footer = footer
        return ()

    async def attach(self, name: str, data: bytes, mime: str) -> None:
        if self.refuse_uploads:
            from bot.errors import PlatformError

            raise PlatformError("the platform refused the file")
        self.files.append((name, data, mime))

    @property
    def text(self) -> str:
        return "".join(self.appended)


@pytest.fixture
async def rig(
    tmp_path: Path, client: UpstreamClient, upstream_settings: UpstreamSettings
) -> AsyncIterator[tuple[ReplyService, SqliteStore, ImageStore]]:
    async with (
        await SqliteStore.open(tmp_path / "t.db") as store,
        Fetcher(LOCAL) as fetcher,
    ):
        blobs = ImageStore(tmp_path / "t.db.images", max_bytes=10**8)
        service = reply_service(
            store,
            client,
            upstream_settings,
            images=ImageFlow(
                LOCAL.model_copy(update=dict(context_images=2)), blobs=blobs, fetcher=fetcher
            ),
        )
        yield service, store, blobs


def ask(text: str, *images: Attachment, model: str | None = None) -> Incoming:
    return Incoming(
        KEY, f"m-{text}-{len(images)}", "u1", "Ada", text, attachments=images, model=model
    )


def png(name: str = "cat.png", extra: bytes = b"") -> Attachment:
    return Attachment(name, "image/png", TINY_PNG + extra)


Rig = tuple[ReplyService, SqliteStore, ImageStore]


async def test_an_image_question_goes_to_the_vision_model_and_stays_in_context(
    rig: Rig, upstream: FakeUpstream
) -> None:
    service, store, _ = rig
    first = Sink()
    result = await service.handle(ask("What is this?", png(), model="gpt-4"), first)
    assert result.outcome is Outcome.ANSWERED
    assert upstream.requests[-1]["model"] == "gpt-4o"
    assert first.footer == wording.model_switched("gpt-4o", wording.image_for_vision("gpt-4"))
    (part,) = upstream.parts()
    assert part["type"] == "image_url"
    assert part["image_url"]["url"].startswith("data:image/png;base64,")
    window = await store.history(KEY, token_budget=10**6, max_turns=100)
    stored = window.turns[0].parts[0]
    assert isinstance(stored, ImagePart)
    assert stored.url.startswith("image:sha256:")
    # A follow-up with no image still carries the first one, and still goes to vision.
    await service.handle(ask("And what colour is it?", model="gpt-4"), Sink())
    assert upstream.requests[-1]["model"] == "gpt-4o"
    assert upstream.parts() == [part]


async def test_a_public_lasting_url_is_sent_as_it_is(rig: Rig, upstream: FakeUpstream) -> None:
    service, _, _ = rig
    image = dataclasses.replace(
        png(), source_url="https://cdn.example.org/cat.png", public_until=4_102_444_800.0
    )
    await service.handle(ask("What is this?", image), Sink())
    assert upstream.parts() == [
        {"type": "image_url", "image_url": {"url": "https://cdn.example.org/cat.png"}}
    ]


async def test_image_generation_posts_the_file_and_hides_the_links(
    rig: Rig, upstream: FakeUpstream
) -> None:
    service, store, _blobs = rig
    await service.handle(ask("a hat", png()), Sink())
    sink = Sink()
    result = await service.handle(ask("make the hat red", model="gpt-4o-image"), sink)
    assert result.outcome is Outcome.ANSWERED
    (part,) = upstream.parts()
    assert part["type"] == "file_url"  # the image model takes files
    assert part["file_url"]["url"].startswith("data:image/png;base64,")
    assert sink.files == [("s8EFrYVqeRWc5SfTmF1SbgBS2WFGXb.png", TINY_PNG, "image/png")]
    assert "http" not in sink.text
    assert "下载" not in sink.text
    assert sink.text.endswith("柔和温暖的氛围通过细腻的细节和生动的色彩得以体现。")
    assert sink.footer == ""
    window = await store.history(KEY, token_budget=10**6, max_turns=100)
    made = window.turns[-1]
    assert made.role is Role.ASSISTANT
    assert "filesystem" not in made.text
    assert len(made.parts) == 1
    # The made image is the newest one of the thread: the next /image gets it (and
    # the older one, context_images=2) as input.
    await service.handle(ask("now blue", model="gpt-4o-image"), Sink())
    assert [p["type"] for p in upstream.parts()] == ["file_url", "file_url"]


async def test_a_failed_download_keeps_the_link(rig: Rig, upstream: FakeUpstream) -> None:
    service, _, _ = rig
    upstream.missing_files.add("20250412/s8EFrYVqeRWc5SfTmF1SbgBS2WFGXb.webp")
    sink = Sink()
    await service.handle(ask("a fox", model="gpt-4o-image"), sink)
    assert sink.files == []
    assert f"](http://127.0.0.1:{upstream.port}/cdn/20250412/" in sink.text
    assert sink.footer == wording.image_upload_failed(1)


async def test_a_failed_upload_keeps_the_link(rig: Rig, upstream: FakeUpstream) -> None:
    service, _, _ = rig
    sink = Sink(refuse_uploads=True)
    await service.handle(ask("a fox", model="gpt-4o-image"), sink)
    assert "/cdn/20250412/" in sink.text
    assert sink.footer == wording.image_upload_failed(1)


@pytest.mark.parametrize(
    ("images", "sentence"),
    [
        ((png("big.png", b"x" * 2000),), wording.image_too_large("big.png", 1000)),
        (
            (Attachment("cat.bmp", "image/bmp", b"BM...."),),
            wording.image_format_unsupported("cat.bmp"),
        ),
        (tuple(png(f"{i}.png") for i in range(5)), wording.too_many_images(5, 4)),
    ],
)
async def test_refusals_say_what_to_do(
    rig: Rig, upstream: FakeUpstream, images: tuple[Attachment, ...], sentence: str
) -> None:
    service, store, _ = rig
    service._images.settings = service._images.settings.model_copy(
        update=dict(max_image_bytes=1000)
    )
    sink = Sink()
    result = await service.handle(ask("look", *images), sink)
    assert result.outcome is Outcome.FAILED
    assert sink.footer == f"⚠️ {sentence}"
    assert upstream.requests == []
    assert not await store.has_conversation(KEY)


async def test_an_image_model_that_needs_an_image_says_so(
    tmp_path: Path,
    client: UpstreamClient,
    upstream_settings: UpstreamSettings,
    upstream: FakeUpstream,
) -> None:
    models = dict(upstream_settings.models)
    models["gpt-4o-image"] = ModelSpec(
        image_output=True, file_input=True, image_input_required=True
    )
    settings = upstream_settings.model_copy(update={"models": models})
    async with await SqliteStore.open(tmp_path / "t.db") as store:
        service = ReplyService(
            store=store,
            client=client,
            catalog=ModelCatalog(settings),
            limits=ConversationLimits(),
            upstream=settings,
        )
        sink = Sink()
        result = await service.handle(ask("make it red", model="gpt-4o-image"), sink)
    assert result.outcome is Outcome.FAILED
    assert sink.footer == f"⚠️ {wording.image_model_needs_image('gpt-4o-image')}"
    assert upstream.requests == []


async def test_the_console_saves_made_images(tmp_path: Path) -> None:
    out = io.StringIO()
    sink = ConsoleSink(out, io.StringIO(), image_dir=tmp_path / "made")
    await sink.attach("fox.png", TINY_PNG, "image/png")
    await sink.attach("fox.png", TINY_PNG, "image/png")
    saved = sorted((tmp_path / "made").iterdir())
    assert [p.name for p in saved] == ["fox-2.png", "fox.png"]
    assert out.getvalue().splitlines() == [
        wording.image_saved(str(tmp_path / "made" / "fox.png")),
        wording.image_saved(str(tmp_path / "made" / "fox-2.png")),
    ]
