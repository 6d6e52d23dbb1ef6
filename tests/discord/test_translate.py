"""The pure translation functions: names, prompts, files, conversations."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from adapters.discord.translate import (
    MAX_THREAD_NAME,
    clean_text,
    started_here_key,
    thread_key,
    thread_name,
)
from bot.domain import ThreadKey
from bot.files import FileKind, decode_text, file_kind, sniff_image, with_files

BOT, BOT_ROLE = 1000, 2000


def clean(content: str) -> str:
    return clean_text(
        content,
        bot_id=BOT,
        bot_role_id=BOT_ROLE,
        users={7: "Ada"},
        roles={8: "mods"},
        channels={9: "general"},
    )


def test_the_prompt_loses_the_bots_mention_and_names_the_others() -> None:
    assert clean(f"<@{BOT}> hi") == "hi"
    assert clean(f"<@!{BOT}>   what   about <@7> and <@&8> in <#9>?") == (
        "what about @Ada and @mods in #general?"
    )
    assert clean(f"<@&{BOT_ROLE}> ping") == "ping"
    assert clean("<@12345> is unknown") == "<@12345> is unknown"


def test_thread_names_are_one_line_of_at_most_100_characters() -> None:
    assert thread_name("What is  WAL\nmode?", "fallback") == "What is WAL mode?"
    assert thread_name("   ", "Question from Ada") == "Question from Ada"
    long = "word " * 60
    name = thread_name(long, "x")
    assert len(name) <= MAX_THREAD_NAME
    assert name.endswith("word…")


@given(st.text())
def test_any_prompt_makes_a_valid_thread_name(prompt: str) -> None:
    name = thread_name(prompt, "Question")
    assert 1 <= len(name) <= MAX_THREAD_NAME
    assert "\n" not in name


def test_files_are_fenced_longer_than_any_fence_inside() -> None:
    text = with_files("look", [("notes.md", "```py\nx = 1\n```\n")])
    assert text == "look\n\nnotes.md:\n````md\n```py\nx = 1\n```\n````"
    assert with_files("", [("Dockerfile", "FROM python")]) == "Dockerfile:\n```\nFROM python\n```"


def test_file_kinds_come_from_type_and_name() -> None:
    assert file_kind("cat.png", "image/png") is FileKind.IMAGE
    assert file_kind("photo", "image/jpeg; charset=binary") is FileKind.IMAGE
    assert file_kind("server.log", None) is FileKind.TEXT
    assert file_kind("data.csv", "text/csv; charset=utf-8") is FileKind.TEXT
    assert file_kind("main.rs", "application/octet-stream") is FileKind.TEXT
    assert file_kind("Makefile", None) is FileKind.TEXT
    assert file_kind("report.pdf", "application/pdf") is FileKind.UNSUPPORTED
    assert file_kind("song.mp3", None) is FileKind.UNSUPPORTED
    assert file_kind("icon.bmp", "image/bmp") is FileKind.UNSUPPORTED


def test_images_are_what_their_bytes_say() -> None:
    assert sniff_image(b"\x89PNG\r\n\x1a\n...") == "image/png"
    assert sniff_image(b"\xff\xd8\xff\xe0...") == "image/jpeg"
    assert sniff_image(b"GIF89a...") == "image/gif"
    assert sniff_image(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff_image(b"<html>") is None
    assert decode_text("héllo".encode()) == "héllo"
    assert decode_text(b"\xef\xbb\xbfbom") == "bom"
    assert decode_text(b"\xff\xfe\x00") is None
    assert decode_text(b"a\x00b") is None


def test_a_mentions_conversation_has_the_same_key_in_a_thread_or_in_place() -> None:
    place = ThreadKey("discord", "10", "20", "")
    assert started_here_key(place, 30) == thread_key(10, 20, 30)
