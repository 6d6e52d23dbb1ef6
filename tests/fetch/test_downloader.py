"""Issue 22, 7: platform attachments come from the platform's own file hosts only, the
token goes nowhere else, and a body is capped while it is read (bot/fetch.py)."""

from __future__ import annotations

import pytest
from aiohttp import web

from bot.fetch import Downloader, DownloadRefused, DownloadTooLarge, FileHosts
from tests.fetch.trap import trap

TOKEN = "xoxb-downloader-test-token"
FIFTY_MB = 50 * 1024 * 1024


def test_only_the_platforms_hosts_over_https_are_allowed() -> None:
    discord, slack = FileHosts.discord(), FileHosts.slack()
    assert discord.allows("https://cdn.discordapp.com/attachments/1/2/a.txt?ex=1&is=2&hm=3&")
    assert discord.allows("https://media.discordapp.net/attachments/1/2/a.png")
    assert slack.allows("https://files.slack.com/files-pri/T1-F1/a.txt")
    for refused in (
        "http://cdn.discordapp.com/attachments/1/2/a.txt",  # not https
        "https://cdn.discordapp.com:8443/attachments/1/2/a.txt",  # another port
        "https://cdn.discordapp.com.example.net/a.txt",
        "https://127.0.0.1/attachments/1/2/a.txt",
        "file:///etc/passwd",
    ):
        assert not discord.allows(refused), refused
    assert not slack.allows("https://files.slack.com.example.net/a.txt")
    assert not slack.allows("https://notslack.com/a.txt")
    # A configured API base (a proxy, the loopback fakes) is trusted: that exact origin.
    local = FileHosts.discord("http://127.0.0.1:8082/api/v10")
    assert local.allows("http://127.0.0.1:8082/attachments/1/2/a.txt")
    assert not local.allows("http://127.0.0.1:8083/attachments/1/2/a.txt")
    assert not local.allows("http://localhost:8082/attachments/1/2/a.txt")


async def test_a_file_on_an_allowed_host_is_read() -> None:
    async with trap() as files, Downloader(FileHosts(origins=[files.origin])) as downloader:
        downloaded = await downloader.download(f"{files.origin}/notes.txt", 1024)
    assert downloaded.status == 200
    assert downloaded.data == b"the private text an outsider wanted in the prompt"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_another_host_is_refused_and_never_asked(host: str) -> None:
    async with trap() as allowed, trap(host="127.0.0.1") as other:
        hosts = FileHosts(origins=[allowed.origin])
        url = other.origin.replace("127.0.0.1", host) + "/notes.txt"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with Downloader(hosts, headers=headers) as downloader:
            with pytest.raises(DownloadRefused):
                await downloader.download(url, 1024)
    assert other.requests == []  # nothing fetched, and the token never sent


async def test_a_redirect_off_the_hosts_is_refused_before_the_token_goes_there() -> None:
    async with trap() as other:

        async def redirect(request: web.Request) -> web.Response:
            raise web.HTTPFound(f"{other.origin}/stolen")

        async with trap(redirect) as allowed:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with Downloader(FileHosts(origins=[allowed.origin]), headers=headers) as d:
                with pytest.raises(DownloadRefused):
                    await d.download(f"{allowed.origin}/file", 1024)
    assert [path for path, _ in allowed.requests] == ["/file"]
    assert other.requests == []


async def test_a_large_body_is_cut_off_while_it_is_read() -> None:
    """A 50 MB body without Content-Length: reading stops at the cap, the sender is
    cut off long before it has sent everything."""
    sent = 0

    async def endless(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = b"x" * 65536
        try:
            while sent < FIFTY_MB:
                await response.write(chunk)
                sent += len(chunk)
        except (ConnectionError, RuntimeError):
            pass
        return response

    async with trap(endless) as files, Downloader(FileHosts(origins=[files.origin])) as d:
        with pytest.raises(DownloadTooLarge):
            await d.download(f"{files.origin}/big.txt", 32 * 1024)
    assert sent < FIFTY_MB // 2
