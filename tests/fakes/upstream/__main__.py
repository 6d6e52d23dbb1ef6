"""Run the fake upstream by hand: ``python -m tests.fakes.upstream --port 8081``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from tests.fakes.upstream import API_KEY, Answer, FakeUpstream


async def _serve(args: argparse.Namespace) -> None:
    answer = Answer(tokens=args.tokens, tokens_per_s=args.tokens_per_s)
    async with FakeUpstream(port=args.port, host=args.host, answer=answer) as fake:
        print(f"OPENAI_BASE_URL={fake.base_url}", flush=True)
        print(f"OPENAI_API_KEY={API_KEY}", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--tokens", type=int, default=0, help="tokens per generated answer")
    parser.add_argument("--tokens-per-s", type=float, default=0.0, help="0 = unthrottled")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
