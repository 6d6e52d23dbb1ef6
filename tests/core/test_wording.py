"""The wording package (issue 17 point 5): every sentence reachable as ``wording.x``
from the package, and each sentence the platforms share written once, with the
platform's own facts (its name, how a user sends a file again, the operator's hint)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot import wording

PACKAGE = Path(wording.__file__).parent


def defined_names() -> dict[str, str]:
    """Every public function and constant the topic modules define, by module."""
    found: dict[str, str] = {}
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name.startswith("_"):  # __init__, and helpers private to the package
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            else:
                continue
            for name in names:
                if not name.startswith("_"):
                    assert name not in found, f"{name} is in {found[name]} and {path.name}"
                    found[name] = path.stem
    return found


def test_every_sentence_is_re_exported_from_the_package() -> None:
    defined = defined_names()
    assert sorted(defined) == sorted(wording.__all__)
    for name, module in defined.items():
        source = __import__(f"bot.wording.{module}", fromlist=[name])
        assert getattr(wording, name) is getattr(source, name)


@pytest.mark.parametrize(
    ("platform", "unreachable", "refused"),
    [
        (
            "discord",
            "threadline could not reach Discord. Please try again in a moment.",
            "Discord refused a request from threadline (HTTP 403, code 50013). Please try again.",
        ),
        (
            "slack",
            "threadline could not reach Slack. Please try again in a moment.",
            "Slack refused a request from threadline (channel_not_found). Please try again.",
        ),
    ],
)
def test_one_outage_sentence_names_each_platform(
    platform: str, unreachable: str, refused: str
) -> None:
    detail = wording.request_detail(403, 50013) if platform == "discord" else "channel_not_found"
    assert wording.platform_unreachable(platform) == unreachable
    assert wording.platform_request_failed(platform, detail) == refused
    assert wording.request_detail(None, None) == "no detail"


def test_one_download_refusal_says_each_platform_s_remedy() -> None:
    assert wording.attachment_unavailable("notes.txt", "discord") == (
        "Discord did not let threadline download notes.txt; please attach it again."
    )
    assert wording.attachment_unavailable("notes.txt", "slack") == (
        "Slack did not let threadline download notes.txt; please share it again. If it keeps "
        "happening, an operator needs to check that the app has the files:read scope."
    )
    # The host refusal takes the same key; the name it shows is the platform's own.
    assert wording.attachment_host_refused("a.txt", "slack") == wording.attachment_host_refused(
        "a.txt", "Slack"
    )
    assert "lead to Slack's own file hosts" in wording.attachment_host_refused("a.txt", "slack")


def test_one_attachment_refusal_for_every_platform() -> None:
    sentence = wording.attachment_refused("report.pdf", "type", 10 * 1024 * 1024, 512 * 1024)
    assert sentence == (
        "threadline cannot read report.pdf (that kind of file is not supported): it reads "
        "PNG, JPEG, WebP and GIF images up to 10 MiB and text files such as code, logs, "
        "CSV and Markdown up to 512 KiB."
    )


def test_one_button_wording_on_both_platforms() -> None:
    """Discord shows the emoji and the word as two fields, Slack as one label."""
    from adapters.discord.views import RegenerateButton, StopButton
    from adapters.slack.buttons import regenerate_blocks, stop_blocks
    from bot.domain import ThreadKey

    stop, regenerate = StopButton("a1b2").item, RegenerateButton(7).item
    assert (stop.label, str(stop.emoji)) == ("Stop", "⏹️")
    assert (regenerate.label, str(regenerate.emoji)) == ("Regenerate", "🔄")
    key = ThreadKey("slack", "T0123ABCD", "C0123ABCD", "1712345678.000100")
    labels = [
        blocks[0]["elements"][0]["text"]["text"]
        for blocks in (stop_blocks("a1b2"), regenerate_blocks(key, 7))
    ]
    assert labels == ["⏹️ Stop", "🔄 Regenerate"]
