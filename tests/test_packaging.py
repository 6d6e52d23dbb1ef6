"""The Docker image's steps, without Docker: build the wheel, install it into a fresh
virtual environment, run ``threadline``; and the image's HEALTHCHECK against /healthz."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bot import wording
from bot.health import OpsServer
from bot.metrics import Metrics
from bot.settings import OpsSettings
from storage.sqlite import SqliteStore
from tests.fakes.upstream import FakeUpstream

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()
INDEX = "https://pypi.org/simple/"


def dockerfile_instruction(name: str) -> str:
    """The first ``name`` instruction, continuation lines joined."""
    text = DOCKERFILE.replace("\\\n", " ")
    found = re.search(rf"^{name}\s+(.*)$", text, re.MULTILINE)
    assert found, f"no {name} in the Dockerfile"
    return found.group(1)


def run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise AssertionError(f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def index_reachable() -> bool:
    try:
        with urllib.request.urlopen(INDEX + "pip/", timeout=10):
            return True
    except (urllib.error.URLError, OSError):
        return False


def clean_env(**extra: str) -> dict[str, str]:
    """No threadline settings leak in from the developer's environment."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    names = ("DISCORD", "SLACK", "OPENAI", "UPSTREAM", "STORAGE", "OPS", "LOGGING", "IMAGES")
    return {k: v for k, v in keep.items() if not k.upper().startswith(names)} | extra


@pytest.mark.timeout(900)
def test_the_images_install_steps_work_from_the_built_wheel(tmp_path: Path) -> None:
    # The Dockerfile's two steps; this test runs the same ones.
    assert "COPY pyproject.toml README.md ./" in DOCKERFILE
    assert "python -m pip wheel --no-deps -w /wheels ." in DOCKERFILE
    assert "python -m pip install /wheels/*.whl" in DOCKERFILE
    assert dockerfile_instruction("CMD") == '["threadline", "run"]'
    # COPY: what the build stage copies, so the wheel holds nothing else (and the
    # build leaves no build/ or egg-info behind in the checkout).
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("bot", "adapters", "storage"):
        shutil.copytree(
            ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    wheels = tmp_path / "wheels"
    try:
        run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", wheels, ".", cwd=source)
        run(sys.executable, "-m", "venv", tmp_path / "venv", cwd=tmp_path)
        (wheel,) = wheels.glob("threadline-*.whl")
        python = tmp_path / "venv" / "bin" / "python"
        run(python, "-m", "pip", "install", wheel, cwd=tmp_path, env=clean_env())
    except AssertionError:
        if not index_reachable():
            pytest.skip(
                f"the package index ({INDEX}) is unreachable: dependencies cannot be installed"
            )
        raise
    threadline = tmp_path / "venv" / "bin" / "threadline"
    home = tmp_path / "home"
    home.mkdir()  # no .env here: threadline sees only what the test sets
    assert "run" in run(threadline, "--help", cwd=home, env=clean_env())
    done = subprocess.run(
        [str(threadline), "run"],
        cwd=home,
        env=clean_env(OPS__PORT="off"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert wording.no_platform_configured() in done.stderr
    # The installed package is the wheel's, not this checkout's.
    where = run(python, "-c", "import bot; print(bot.__file__)", cwd=home, env=clean_env())
    assert str(tmp_path / "venv") in where
    # The HEALTHCHECK's probe is in the wheel: with no database yet it says so, exit 1.
    probe = subprocess.run(
        [str(python), "-m", "bot.probe"],
        cwd=home,
        env=clean_env(OPS__PORT="off", OPENAI_BASE_URL="http://127.0.0.1:9/v1"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 1, probe.stderr
    assert wording.probe_no_database("threadline.db") in probe.stdout
    assert not (home / "threadline.db").exists()


async def healthcheck(cwd: Path, **env: str) -> tuple[int, str]:
    """Run the Dockerfile's HEALTHCHECK command as Docker would: its exec form, in
    the image's WORKDIR (here ``cwd``, with no .env), with only the image's settings."""
    command = json.loads(dockerfile_instruction("HEALTHCHECK").split(" CMD ", 1)[1])
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        env=clean_env(PATH=path, **env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 30)
    return process.returncode or 0, output.decode()


async def no_database_trouble() -> None:
    return None


async def test_the_images_healthcheck_follows_healthz(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    link = {"up": True}
    settings = OpsSettings(host="127.0.0.1", port=0, upstream_cache_seconds=0)
    async with OpsServer(
        settings,
        metrics=Metrics(),
        database=no_database_trouble,
        upstream_url=upstream.base_url,
    ) as ops:
        ops.watch("discord", connected=lambda: link["up"], rate_limited=lambda: 0)
        assert ops.address is not None
        port = ops.address[1]
        assert await healthcheck(tmp_path, OPS__PORT=str(port)) == (
            0,
            '{"database": "ok", "upstream": "ok", "platforms": {"discord": "connected"}}\n',
        )
        link["up"] = False  # /healthz answers 503, and the probe shows which part is down
        code, output = await healthcheck(tmp_path, OPS__PORT=str(port))
        assert (code, '"discord": "disconnected"' in output) == (1, True)
    code, output = await healthcheck(tmp_path, OPS__PORT=str(port))  # nothing listening
    assert (code, output.startswith("unhealthy: no answer from http://127.0.0.1:")) == (1, True)


async def test_the_images_healthcheck_works_with_the_endpoint_off(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    """OPS__PORT=off: the database and the upstream are checked from outside the process."""
    database = tmp_path / "threadline.db"
    async with await SqliteStore.open(database):
        pass
    off = {"OPS__PORT": "off", "STORAGE__PATH": str(database), "OPENAI_BASE_URL": upstream.base_url}
    code, output = await healthcheck(tmp_path, **off)
    assert code == 0, output
    report = json.loads(output)
    assert report == {
        "database": "ok",
        "upstream": "ok",
        "platforms": wording.probe_platforms_unseen(),
    }
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{unused.getsockname()[1]}/v1"
    code, output = await healthcheck(tmp_path, **(off | {"OPENAI_BASE_URL": closed}))
    assert (code, json.loads(output)["upstream"].startswith("unreachable")) == (1, True)
    missing = tmp_path / "elsewhere.db"
    code, output = await healthcheck(tmp_path, **(off | {"STORAGE__PATH": str(missing)}))
    assert code == 1
    assert json.loads(output)["database"] == wording.probe_no_database(str(missing))
    assert not missing.exists()  # the probe created nothing


async def test_the_images_healthcheck_asks_a_postgresql_server_with_the_endpoint_off(
    upstream: FakeUpstream, tmp_path: Path, postgres_url: str
) -> None:
    """OPS__PORT=off with STORAGE__URL: the server's port is asked, never the unused file."""
    off = {"OPS__PORT": "off", "STORAGE__URL": postgres_url, "OPENAI_BASE_URL": upstream.base_url}
    code, output = await healthcheck(tmp_path, **off)
    assert code == 0, output
    assert json.loads(output)["database"] == "ok"
    password = postgres_url.split("@")[0].rsplit(":", 1)[1]
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        gone = postgres_url.replace(
            postgres_url.split("@")[1].split("/")[0], f"127.0.0.1:{unused.getsockname()[1]}"
        )
    code, output = await healthcheck(tmp_path, **(off | {"STORAGE__URL": gone}))
    assert code == 1
    assert "does not answer" in json.loads(output)["database"]
    assert password not in output
