"""The terminal's parameter flags: ``--temperature --max-tokens --json -n``.

They apply to the questions of one ``ask`` or ``chat`` run (nothing is stored);
bot/params.py checks their ranges like every front end's.
"""

from __future__ import annotations

import argparse

from bot.domain import Params


def param_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--temperature", type=float, help="0 to 2: higher is more varied")
    parser.add_argument("--max-tokens", type=int, help="at most this many tokens per answer")
    parser.add_argument("--json", action="store_true", help="ask for answers as a JSON object")
    parser.add_argument("-n", type=int, help="how many candidate answers to show (1 to 4)")


def params_from(args: argparse.Namespace) -> Params:
    return Params(
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        response_format="json_object" if args.json else None,
        n=args.n,
    )
