"""Every Procfile command resolves: its executable exists and its module and app object import."""

from __future__ import annotations

import importlib
import importlib.util
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def procfile() -> dict[str, list[str]]:
    """Process type -> argv of the Procfile."""
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip():
            name, command = line.split(":", 1)
            entries[name] = shlex.split(command.replace("${PORT:-8000}", "8000"))
    return entries


def test_procfile_has_the_four_process_types():
    assert set(procfile()) == {"web", "worker", "release", "relay"}


@pytest.mark.parametrize("process", ["web", "worker", "release", "relay"])
def test_executables_are_installed(process):
    assert (BIN / procfile()[process][0]).exists()


def test_web_app_factory_imports():
    argv = procfile()["web"]
    module_name, factory = argv[-1].split(":")
    module = importlib.import_module(module_name)
    assert callable(getattr(module, factory.removesuffix("()")))


def test_worker_app_imports():
    argv = procfile()["worker"]
    module_name = argv[argv.index("-A") + 1]
    if importlib.util.find_spec(module_name) is None:
        pytest.skip(f"{module_name} does not exist yet (streams/app.py is being written)")
    import faust

    module = importlib.import_module(module_name)
    assert isinstance(module.app, faust.App)


def test_release_command_resolves_the_migrate_cli():
    argv = procfile()["release"]
    assert argv == ["flask", "--app", "web", "db", "upgrade"]
    env = {key: value for key, value in os.environ.items() if key != "APP_ENV"}
    # --help builds the app but never connects, so any well-formed URL will do.
    env["DATABASE_URL"] = "postgresql://todo@127.0.0.1:1/todo"
    result = subprocess.run(
        [str(BIN / "flask"), *argv[1:], "--help"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "Upgrade to a later version" in result.stdout


def test_relay_command_resolves_the_flask_relay_command():
    argv = procfile()["relay"]
    assert argv == ["flask", "--app", "web", "relay"]
    env = {key: value for key, value in os.environ.items() if key != "APP_ENV"}
    env["DATABASE_URL"] = "postgresql://todo@127.0.0.1:1/todo"  # --help never connects
    result = subprocess.run(
        [str(BIN / argv[0]), *argv[1:], "--help"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "Usage: flask relay" in result.stdout


def test_image_compose_and_chart_run_the_procfile_commands(render, find):
    commands = {name: shlex.join(argv) for name, argv in procfile().items()}
    raw = {
        line.split(":", 1)[0]: line.split(":", 1)[1].strip()
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line
    }
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert raw["web"] in dockerfile
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert services["web"]["command"][-1] == "exec " + raw["web"].replace("$", "$$")
    assert shlex.join(services["worker"]["command"]) == commands["worker"]
    assert shlex.join(services["migrations"]["command"]) == commands["release"]
    docs = render("production")
    web = find(docs, "Deployment", "todo-platform-web")["spec"]["template"]["spec"]["containers"][0]
    assert web["command"][-1] == "exec " + raw["web"]
    worker = find(docs, "StatefulSet", "todo-platform-worker")["spec"]["template"]["spec"]["containers"][0]
    assert shlex.join(worker["command"]) == commands["worker"]
    job = find(docs, "Job", "todo-platform-migrations")["spec"]["template"]["spec"]["containers"][0]
    assert raw["release"] in job["command"][-1]
    docs = render("production", typed=("relay.separate=true",))
    relay = find(docs, "Deployment", "todo-platform-relay")["spec"]["template"]["spec"]["containers"][0]
    assert shlex.join(relay["command"]) == commands["relay"]
