"""docs/settings.md, generated from the ``Settings`` model so the reference cannot drift.

    python -m bot.settings_doc > docs/settings.md

Names, defaults, accepted values and ranges come from the model; the meaning of
each setting comes from its ``Field(description=...)`` or from ``DESCRIPTIONS``
(bot/settings_descriptions.py, keyed by variable name).
tests/test_docs.py fails when docs/settings.md is not this module's output, and
when a setting has no description, so a new setting cannot go undocumented.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from bot.setting_names import STANDARD_NAMES
from bot.settings import ModelSpec, Settings
from bot.settings_descriptions import DESCRIPTIONS, MODEL_SPEC_DESCRIPTIONS, SECTIONS

__all__ = ["DESCRIPTIONS", "MODEL_SPEC_DESCRIPTIONS", "render", "undocumented", "variables"]


def _is_section(field: FieldInfo) -> bool:
    model = field.annotation
    return isinstance(model, type) and issubclass(model, BaseModel)


def _sections() -> Iterator[tuple[str, type[BaseModel]]]:
    for name, field in Settings.model_fields.items():
        if _is_section(field):
            assert isinstance(field.annotation, type)
            yield name, field.annotation


def _top_level() -> Iterator[tuple[str, FieldInfo]]:
    """Settings outside any section (``REDIS_URL``, as issue 18 spells it)."""
    for name, field in Settings.model_fields.items():
        if not _is_section(field):
            yield name.upper(), field


def variables() -> Iterator[tuple[str, str, FieldInfo]]:
    """(section, variable name, field) for every setting, in the model's order."""
    for section, model in _sections():
        for name, field in model.model_fields.items():
            yield section, f"{section}__{name}".upper(), field
    for variable, field in _top_level():
        yield "", variable, field


def _description(variable: str, field: FieldInfo) -> str | None:
    return field.description or DESCRIPTIONS.get(variable)


def undocumented() -> list[str]:
    """Settings without a description, and descriptions of settings that do not exist."""
    known = {variable: field for _, variable, field in variables()}
    missing = [v for v, field in known.items() if not _description(v, field)]
    stale = [f"{v} (no such setting)" for v in DESCRIPTIONS if v not in known]
    specs = ModelSpec.model_fields
    missing += [
        f"UPSTREAM__MODELS {n}"
        for n, field in specs.items()
        if not (field.description or MODEL_SPEC_DESCRIPTIONS.get(n))
    ]
    stale += [
        f"UPSTREAM__MODELS {n} (no such field)" for n in MODEL_SPEC_DESCRIPTIONS if n not in specs
    ]
    return missing + stale


def _flat_names() -> dict[str, str]:
    """``UPSTREAM__API_KEY`` -> ``OPENAI_API_KEY``: the documented flat names."""
    return {f"{s}__{f}".upper(): flat.upper() for flat, (s, f) in STANDARD_NAMES.items()}


def _kinds(annotation: Any) -> tuple[list[Any], bool]:
    """The non-None members of a union, and whether None (unset) is allowed."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = list(typing.get_args(annotation))
        return [m for m in members if m is not type(None)], type(None) in members
    return [annotation], False


def _kind(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:  # ``Secret``, ``Url``: the type under the validator
        return _kind(typing.get_args(annotation)[0])
    if origin is Literal:
        return " or ".join(f"`{value}`" for value in typing.get_args(annotation))
    if origin is list:
        return "JSON list of ids" if typing.get_args(annotation) == (int,) else "JSON list"
    if origin is dict:
        return "JSON object"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " or ".join(f"`{member.value}`" for member in annotation)
    names = {
        bool: "`true` or `false`",
        int: "whole number",
        float: "number",
        str: "text",
        Path: "path",
        SecretStr: "secret",
    }
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _range(field: FieldInfo) -> str:
    bounds: list[str] = []
    for item in field.metadata:
        for attribute, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            value = getattr(item, attribute, None)
            if isinstance(item, annotated_types.BaseMetadata) and value is not None:
                bounds.append(f"{sign} {_number(value)}")
    return ", ".join(bounds)


def _accepts(field: FieldInfo) -> str:
    kinds, optional = _kinds(field.annotation)
    text = " or ".join(_kind(kind) for kind in kinds)
    bounds = _range(field)
    if bounds:
        text += f", {bounds}"
    if optional:
        text += ", or unset"
    return text


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _default(variable: str, field: FieldInfo) -> str:
    if variable == "UPSTREAM__MODELS":
        return "the documented families (below)"
    return _value(field.get_default(call_default_factory=True))


def _value(value: object) -> str:
    if value is None or isinstance(value, SecretStr):
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, float | int):
        return f"`{_number(value)}`"
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _section_table(section: str, model: type[BaseModel]) -> list[str]:
    flat = _flat_names()
    lines = [
        f"## {section.upper()}__*",
        "",
        SECTIONS.get(section, ""),
        "",
        "| variable | default | accepts | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for name, field in model.model_fields.items():
        variable = f"{section}__{name}".upper()
        shown = f"`{variable}`"
        if variable in flat:
            shown = f"`{flat[variable]}` or {shown}"
        meaning = _description(variable, field) or ""
        row = [shown, _default(variable, field), _accepts(field), meaning]
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return [*lines, ""]


def _models_table() -> list[str]:
    specs = ModelSpec.model_fields
    lines = [
        "### `UPSTREAM__MODELS`: the model catalog",
        "",
        "Each model's abilities are declared, never guessed from its name. Fields:",
        "",
        "| field | default | meaning |",
        "| --- | --- | --- |",
    ]
    for name, field in specs.items():
        meaning = field.description or MODEL_SPEC_DESCRIPTIONS.get(name, "")
        lines.append(f"| `{name}` | {_value(field.default)} | {_cell(meaning)} |")
    lines += [
        "",
        "The default catalog, the families in the API documentation:",
        "",
        "| model | " + " | ".join(specs) + " |",
        "| --- |" + " --- |" * len(specs),
    ]
    for model, spec in _default_catalog().items():
        values = [_value(getattr(spec, name)) for name in specs]
        lines.append(f"| `{model}` | " + " | ".join(values) + " |")
    return [*lines, ""]


def _default_catalog() -> dict[str, ModelSpec]:
    """The default catalog, read from the model rather than copied."""
    upstream = dict(_sections())["upstream"]
    value = upstream.model_fields["models"].get_default(call_default_factory=True)
    assert isinstance(value, dict)
    return value


HEADER = """\
<!-- Generated by `python -m bot.settings_doc > docs/settings.md`; edit bot/settings_descriptions.py
     (descriptions) or bot/settings/ (names, defaults, ranges), not this file. -->
# Settings

Every setting comes from the environment or from a `.env` file in the working directory
(`threadline --env-file PATH` reads another). Nested settings are `SECTION__FIELD`, two
underscores: `UPSTREAM__TIMEOUT_IDLE=30`. The API's and the platforms' own variable names
work as they are documented (`OPENAI_API_KEY`, `OPENAI_BASE_URL`, `DISCORD_TOKEN`,
`SLACK_BOT_TOKEN`, `SLACK_APP_TOKEN`, `SLACK_SIGNING_SECRET`, `SLACK_CLIENT_ID`,
`SLACK_CLIENT_SECRET`). A bad value stops start-up
with a sentence naming the variable. Tokens are secrets: they never appear in a log, an
error or a repr, and a log filter redacts any configured secret that slips into a message.
"""


def _top_level_table() -> list[str]:
    lines = [
        "## Several workers",
        "",
        "Settings outside any section. Unset, one process keeps everything itself.",
        "",
        "| variable | default | accepts | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for variable, field in _top_level():
        row = [f"`{variable}`", _default(variable, field), _accepts(field)]
        row.append(_description(variable, field) or "")
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return [*lines, ""]


def render() -> str:
    """The whole of docs/settings.md."""
    lines = [HEADER]
    for section, model in _sections():
        lines += _section_table(section, model)
        if section == "upstream":
            lines += _models_table()
    lines += _top_level_table()
    return "\n".join(lines).rstrip("\n") + "\n"


if __name__ == "__main__":
    print(render(), end="")
