"""The names settings are read under, and the sentences for names and values that are wrong.

``Settings`` (bot/settings/) reads ``SECTION__FIELD`` and the documented flat
names. What it would silently ignore is caught here before it is built: a
misspelled field of a known section (``UPSTREAM__TYPO``), a misspelled section
(``UPSTRAEM__TIMEOUT_IDLE``) and the single-underscore form of a nested name
(``UPSTREAM_TEMPERATURE``), each with the closest name that exists (difflib).
Names of other programs (``PATH``, ``SLACK_WEBHOOK_URL``) are left alone.
``StandardNamesSource`` reads the flat names (``STANDARD_NAMES``) into their sections.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

from dotenv import dotenv_values
from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from bot import wording

# Standard flat variable -> (section, field). Lower case: sources fold case.
STANDARD_NAMES: dict[str, tuple[str, str]] = {
    "openai_api_key": ("upstream", "api_key"),
    "openai_base_url": ("upstream", "base_url"),
    "discord_token": ("discord", "token"),
    "slack_bot_token": ("slack", "bot_token"),
    "slack_app_token": ("slack", "app_token"),
    "slack_signing_secret": ("slack", "signing_secret"),
    "slack_client_id": ("slack", "client_id"),
    "slack_client_secret": ("slack", "client_secret"),
    # The names issues 6 and 7 spelled for the platforms' endpoints (tests, proxies).
    "discord_api_base_url": ("discord", "api_base"),
    "discord_gateway_url": ("discord", "gateway_url"),
    "slack_api_base_url": ("slack", "api_url"),
}

# How difflib must resemble a known name before it is offered as "did you mean".
_CLOSE_FIELD, _CLOSE_SECTION = 0.6, 0.8


def unquote(value: object) -> object:
    """``"sk-xxx"`` -> ``sk-xxx``: one pair of matching quotes, and a ``# comment`` after it.

    Docker's ``--env-file`` passes a line's value as it is written, so the
    documented ``.env`` line ``OPENAI_BASE_URL="https://…"  # Reminder …`` arrives
    with its quotes and its comment. For a URL or a token neither can be meant.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if len(text) >= 2 and text[0] in "\"'":
        end = text.find(text[0], 1)
        rest = text[end + 1 :] if end > 0 else ""
        if end > 0 and (not rest.strip() or (rest[0].isspace() and rest.lstrip()[0] == "#")):
            return text[1:end]
    if " #" in text or "\t#" in text:  # an unquoted value with a comment after it
        return text.split("#", 1)[0].rstrip()
    return text


def environment(env_file: str | None) -> dict[str, str]:
    """Every name the settings could be read from (upper case); the environment wins."""
    found: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        values = dotenv_values(env_file, encoding="utf-8")
        found |= {k.upper(): v for k, v in values.items() if v is not None}
    return found | {k.upper(): v for k, v in os.environ.items()}


def sections(settings_cls: type[BaseModel]) -> dict[str, dict[str, Any]]:
    """``{"UPSTREAM": {"TIMEOUT_IDLE": <annotation>, …}, …}``."""
    found: dict[str, dict[str, Any]] = {}
    for name, field in settings_cls.model_fields.items():
        model = field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            found[name.upper()] = {f.upper(): i.annotation for f, i in model.model_fields.items()}
    return found


# Names an older threadline read: still accepted (a working .env keeps working), not read;
# ``retired_in`` says what replaced each, for a warning at start.
RETIRED = {"SLACK__RECENT_EVENTS": "SLACK__DEDUP_SECONDS"}


def retired_in(names: Mapping[str, str]) -> dict[str, str]:
    """The retired names set, each with the setting that replaced it."""
    return {name: RETIRED[name] for name in sorted(names) if name in RETIRED}


def name_problems(settings_cls: type[BaseModel], names: Mapping[str, str]) -> list[str]:
    """A sentence for each name that looks meant for threadline but is not read."""
    known = sections(settings_cls)
    standard = {n.upper() for n in STANDARD_NAMES} | set(RETIRED)
    problems = []
    for name in sorted(names):
        if name in standard:
            continue
        problem = _nested_problem(name, known) if "__" in name else _flat_problem(name, known)
        if problem is not None:
            problems.append(problem)
    return problems


def _nested_problem(name: str, known: dict[str, dict[str, Any]]) -> str | None:
    section, _, rest = name.partition("__")
    field = rest.split("__", 1)[0]
    if section not in known:
        close = difflib.get_close_matches(section, list(known), n=1, cutoff=_CLOSE_SECTION)
        if not close:
            return None  # another program's name
        section = close[0]
    elif field in known[section]:
        return None
    fields = known[section]
    best = difflib.get_close_matches(field, list(fields), n=1, cutoff=_CLOSE_FIELD)
    suggestion = f"{section}__{best[0]}" if best else None
    return wording.unknown_setting(name, suggestion, section)


def _flat_problem(name: str, known: dict[str, dict[str, Any]]) -> str | None:
    for section, fields in known.items():
        field = name.removeprefix(section + "_")
        if field != name and field in fields:
            return wording.single_underscore_setting(name, f"{section}__{field}")
    return None


def shown_name(section: str, field: str, names: Mapping[str, str]) -> str:
    """The variable a value came from: the flat standard name when that was the one set."""
    nested = f"{section}__{field}".upper()
    if nested in names:
        return nested
    for flat, where in STANDARD_NAMES.items():
        if where == (section, field) and flat.upper() in names:
            return flat.upper()
    return nested


def describe_validation_error(exc: ValidationError, names: Mapping[str, str]) -> list[str]:
    """One sentence per problem pydantic found, naming the variable."""
    problems = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        name = shown_name(loc[0], loc[1], names) if len(loc) >= 2 else "__".join(loc).upper()
        where = ".".join(loc[2:])
        rule = wording.setting_rule(error["type"], error.get("ctx") or {}, error["msg"])
        problems.append(wording.setting_problem(name, where, rule))
    return problems


def unparsed_json(settings_cls: type[BaseModel], names: Mapping[str, str]) -> list[str]:
    """Sentences for JSON-valued settings (lists, ``UPSTREAM__MODELS``) that are not JSON."""
    problems = []
    for section, fields in sections(settings_cls).items():
        if section in names and not _is_json(names[section]):  # a whole section as JSON
            problems.append(wording.setting_not_json(section, is_list=False))
        for field, annotation in fields.items():
            name = f"{section}__{field}"
            kind = _json_kind(annotation)
            if name not in names or kind is None:
                continue
            if not _is_json(names[name]):
                problems.append(wording.setting_not_json(name, is_list=kind is list))
    return problems


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _json_kind(annotation: Any) -> type | None:
    """``list`` or ``dict`` for a setting written as JSON, else None."""
    origin = get_origin(annotation)
    if origin in (list, dict):
        return list if origin is list else dict
    kinds = [_json_kind(arg) for arg in get_args(annotation)]
    return next((kind for kind in kinds if kind is not None), None)


class StandardNamesSource(PydanticBaseSettingsSource):
    """Reads the documented flat names (``OPENAI_API_KEY`` …) into their sections."""

    def __init__(
        self, settings_cls: type[BaseSettings], source: PydanticBaseSettingsSource
    ) -> None:
        super().__init__(settings_cls)
        self._source = source

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ builds the whole dict

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        env_vars = getattr(self._source, "env_vars", {})
        for name, (section, key) in STANDARD_NAMES.items():
            value = env_vars.get(name)
            if value:
                found.setdefault(section, {})[key] = value
        return found
