"""Run the fake by hand: ``python -m tests.fakes.slack --port 8083``.

Prints the Web API base URL (with its trailing slash) and the tokens to configure the
app with, then serves until interrupted. Drive it with the ``/_fake/`` control API.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from .limits import SlackLimits
from .server import SlackFake


async def _serve(args: argparse.Namespace) -> None:
    limits = SlackLimits.fast() if args.fast else SlackLimits()
    async with SlackFake(
        host=args.host, port=args.port, limits=limits, events_url=args.events_url
    ) as fake:
        print(f"SLACK__API_URL={fake.base_url}")
        print(f"SLACK_BOT_TOKEN={fake.bot_token}")
        print(f"SLACK_APP_TOKEN={fake.app_token}")
        print(f"SLACK_SIGNING_SECRET={fake.signing_secret}")
        print(
            f"# control API: {fake.workspace.origin}/_fake/  (events, messages, stats)", flush=True
        )
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.slack", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8083)
    parser.add_argument("--events-url", default=None, help="the app's Request URL for HTTP mode")
    parser.add_argument(
        "--fast", action="store_true", help="short clocks (2 s streams, 0.5 s acks)"
    )
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
