"""The Dockerfile's shape (no Docker engine here to build it): stages, user, healthcheck, context."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
STAGES = re.split(r"^FROM ", DOCKERFILE, flags=re.MULTILINE)[1:]


def test_multi_stage_with_a_clean_final_stage():
    assert len(STAGES) >= 2
    final = STAGES[-1]
    assert "COPY --from=builder /opt/venv /opt/venv" in final
    for tool in ("build-essential", "gcc", "apt-get install"):
        assert tool not in final, tool


def test_runs_as_a_non_root_user_with_a_healthcheck():
    final = STAGES[-1]
    users = re.findall(r"^USER (\S+)", final, flags=re.MULTILINE)
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert "HEALTHCHECK" in final
    assert "/healthz" in final


def test_image_keeps_frontend_beside_the_web_package():
    final = STAGES[-1]
    for folder in ("shared", "web", "streams", "frontend"):
        assert f"COPY {folder} ./{folder}" in final
    assert "WORKDIR /app" in final
    assert "PYTHONPATH=/app" in final
    assert '"rocksdb"' in DOCKERFILE


def test_dockerignore_keeps_secrets_and_clutter_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", ".env", ".cache", "tests", "var"):
        assert entry in ignored, entry
    for needed in ("shared", "web", "streams", "frontend", "pyproject.toml"):
        assert needed not in ignored


def test_image_writes_the_todo_platform_script_the_relay_role_runs(tmp_path):
    # The image runs the source tree, not an installed distribution, so it writes the console
    # script itself; run that exact script here (with this venv's python) to prove it resolves.
    final = STAGES[-1]
    match = re.search(r"printf '([^']+)'\s*\\\s*\n\s*> /opt/venv/bin/todo-platform", final)
    assert match, "the final stage no longer writes /opt/venv/bin/todo-platform"
    script = match[1].replace("\\n", "\n")
    assert script.startswith("#!/opt/venv/bin/python\n")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = scripts["todo-platform"].split(":")
    assert f"from {module} import {function}" in script
    path = tmp_path / "todo-platform"
    path.write_text(script)
    result = subprocess.run(
        [sys.executable, str(path), "relay", "--help"], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert "usage: todo-platform relay" in result.stdout
