"""Issue 22, 7: a ``url_private`` off Slack's hosts is refused with a sentence; nothing
is fetched from there and the bot token is never sent there."""

from __future__ import annotations

from bot import wording
from bot.render import render_slack
from tests.fakes.slack import SlackFake
from tests.fakes.upstream import FakeUpstream
from tests.fetch.trap import trap
from tests.slack.conftest import GENERAL, MakeBot, shown


async def test_a_file_on_another_host_is_refused_and_gets_no_token(
    slack_fake: SlackFake, make_bot: MakeBot, upstream: FakeUpstream
) -> None:
    bot = await make_bot()
    stored = slack_fake.workspace.add_file("notes.txt", b"the real file", "text/plain")
    file_json = slack_fake.workspace.file_json(stored)
    async with trap() as elsewhere:
        # SLACK__API_URL's origin (the fake) stands for Slack; another loopback port is
        # "another host", as 127.0.0.1 was in the probe.
        for field in ("url_private", "url_private_download"):
            file_json[field] = file_json[field].replace(
                slack_fake.workspace.origin, elsewhere.origin
            )
        event = slack_fake.payloads.app_mention("summarise this")
        event |= {"files": [file_json], "upload": True}
        await slack_fake.send_event(event)
        sentence = render_slack(wording.attachment_host_refused("notes.txt", "Slack"))
        await slack_fake.wait_for(
            lambda: elsewhere.requests or shown(slack_fake, GENERAL, event["ts"]) == sentence,
            what="the refusal (or a request to the other host)",
        )
        await bot.idle()

    assert elsewhere.requests == []  # never asked: no file read, no token sent
    assert shown(slack_fake, GENERAL, event["ts"]) == sentence
    assert slack_fake.files.downloads == []
    assert upstream.requests == []
