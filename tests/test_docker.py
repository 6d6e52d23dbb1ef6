"""The Dockerfile, deploy/compose.yaml and the docs agree: one volume name, the ports
the settings listen on, and a .env that reaches threadline as the app reads it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.setting_names import name_problems
from bot.settings import OpsSettings, Settings, SlackSettings, load_settings

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
COMPOSE = (ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8")
DOCS = ("README.md", "docs/operations.md")
VOLUME_FLAG = re.compile(r"-v ([\w.-]+):/data\b")


def read(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def instruction(name: str) -> str:
    """The Dockerfile's ``name`` instruction, continuation lines joined."""
    found = re.search(rf"^{name}\s+(.*)$", DOCKERFILE.replace("\\\n", " "), re.MULTILINE)
    assert found, f"no {name} in the Dockerfile"
    return found.group(1)


def docker_runs(text: str) -> list[str]:
    """The ``docker run -d …`` command lines (not prose about ``docker run``)."""
    return re.findall(r"docker run -d [^`\n]*", text)


def image_env() -> str:
    """Every ``ENV`` of the Dockerfile, as one line."""
    text = DOCKERFILE.replace("\\\n", " ")
    return " ".join(re.findall(r"^ENV\s+(.*)$", text, re.MULTILINE))


def test_one_volume_name_in_the_dockerfile_compose_and_docs() -> None:
    names = {"Dockerfile": set(VOLUME_FLAG.findall(DOCKERFILE))}
    names |= {doc: set(VOLUME_FLAG.findall(read(doc))) for doc in DOCS}
    names["deploy/compose.yaml"] = set(re.findall(r"^\s+- ([\w.-]+):/data$", COMPOSE, re.M))
    assert names == {place: {"threadline-data"} for place in names}
    assert re.search(r"^volumes:\n  threadline-data:$", COMPOSE, re.MULTILINE)
    # The volume is where the image keeps the database.
    assert instruction("VOLUME") == '["/data"]'
    assert "STORAGE__PATH=/data/threadline.db" in image_env()


def test_the_image_exposes_the_ops_port_and_slacks_http_port() -> None:
    exposed = {int(port) for port in instruction("EXPOSE").split()}
    assert exposed == {OpsSettings().port, SlackSettings().http_port}
    assert f"OPS__PORT={OpsSettings().port}" in image_env()


def test_every_documented_docker_path_reads_the_env_file() -> None:
    runs = [run for doc in ("Dockerfile", *DOCS) for run in docker_runs(read(doc))]
    assert len(runs) >= 3
    for run in runs:
        assert "--env-file .env" in run, run
        assert run.endswith(" threadline"), run
    assert "env_file: ../.env" in COMPOSE
    assert "build: .." in COMPOSE
    assert '"8080:8080"' in COMPOSE


def docker_env_file(text: str) -> dict[str, str]:
    """What ``docker run --env-file`` puts in the environment: ``NAME=VALUE`` taken
    literally (quotes kept), comment and blank lines skipped
    (https://docs.docker.com/reference/cli/docker/container/run/#env)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            found[name.strip()] = value
    return found


def test_the_readmes_env_file_works_through_docker_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    readme = read("README.md")
    env_file = re.search(r"works as it is:\n\n```sh\n(.*?)```", readme, re.DOTALL)
    assert env_file
    environment = docker_env_file(env_file.group(1))
    assert environment["OPENAI_API_KEY"] == '"sk-xxx"'  # Docker keeps the quotes
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(env_file=None)
    assert settings.upstream.api_key is not None
    assert settings.upstream.api_key.get_secret_value() == "sk-xxx"
    assert settings.upstream.base_url == "https://api.acedata.cloud/openai"


def compose_workers() -> dict[str, dict[str, Any]]:
    """deploy/compose.yaml's services in the ``workers`` profile, merge keys applied."""
    services: dict[str, dict[str, Any]] = yaml.safe_load(COMPOSE)["services"]
    return {n: s for n, s in services.items() if "workers" in s.get("profiles", [])}


def test_the_workers_profile_runs_every_shard_once_on_shared_engines() -> None:
    workers = compose_workers()
    threadline = {n: s for n, s in workers.items() if s.get("image") == "threadline"}
    assert set(workers) - set(threadline) == {"postgres", "valkey", "slack-lb"}
    shards: list[int] = []
    for name, service in threadline.items():
        env = {k: str(v) for k, v in service["environment"].items()}
        assert name_problems(Settings, env) == [], name
        assert env["STORAGE__URL"].startswith("postgresql://threadline:")
        assert env["REDIS_URL"] == "redis://valkey:6379/0"
        platform = service["command"][service["command"].index("--platform") + 1]
        assert name.startswith(platform), name
        if platform == "discord":
            assert env["DISCORD__SHARD_COUNT"] == "2"
            shards += json.loads(env["DISCORD__SHARD_IDS"])
        assert set(service["depends_on"]) == {"postgres", "valkey"}
    assert sorted(shards) == [0, 1]  # every shard run, none twice


def test_the_load_balancer_sends_slack_to_every_slack_worker() -> None:
    workers = compose_workers()
    config = yaml.safe_load(COMPOSE)["configs"]["slack-lb"]["content"]
    slack = [n for n, s in workers.items() if s.get("command", [None])[-1] == "slack"]
    assert len(slack) == 2
    for name in slack:
        assert f"server {name}:{SlackSettings().http_port};" in config
        assert workers[name]["environment"]["SLACK__HTTP_PORT"] == str(SlackSettings().http_port)
    assert set(workers["slack-lb"]["depends_on"]) == set(slack)
