"""The dev-stack supervisor: prefixed output, a death reported by name, everything stopped together."""

import io
import os
import sys
import time

import pytest

from devstack.supervisor import Service, ServiceDied, Supervisor


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _wait_for_output(out: io.StringIO, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in out.getvalue():
        assert time.monotonic() < deadline, out.getvalue()
        time.sleep(0.05)


def _check_until_it_raises(sup: Supervisor, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sup.check()
        time.sleep(0.05)


def test_output_is_prefixed_with_the_service_name():
    out = io.StringIO()
    sup = Supervisor(out)
    sup.start(Service("greeter", _python("print('hello', flush=True); import time; time.sleep(30)")))
    try:
        _wait_for_output(out, "hello")
        assert any(
            line.startswith("greeter") and line.endswith("| hello") for line in out.getvalue().splitlines()
        )
    finally:
        sup.stop()


def test_a_service_that_dies_is_reported_by_name_and_code():
    sup = Supervisor(io.StringIO())
    sup.start(Service("doomed", _python("import sys; sys.exit(3)")))
    try:
        with pytest.raises(ServiceDied, match="doomed exited with code 3"):
            _check_until_it_raises(sup)
    finally:
        sup.stop()


# A parent that starts a long-lived child, like gunicorn or faust, and says the child's pid.
PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print("child", child.pid, flush=True)
time.sleep(60)
"""


def test_stop_ends_every_service_and_its_children():
    out = io.StringIO()
    sup = Supervisor(out)
    services = [sup.start(Service(f"svc{i}", _python(PARENT))) for i in range(2)]
    _wait_for_output(out, "svc0")
    _wait_for_output(out, "svc1")
    children = [int(line.rsplit(" ", 1)[1]) for line in out.getvalue().splitlines() if "| child" in line]
    sup.stop(timeout=5)
    for service in services:
        assert service.process is not None
        assert service.process.poll() is not None
    for pid in children:
        # Signals land asynchronously: give a busy machine a moment to finish each child off.
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid), f"child {pid} outlived its service"
    assert "stopping svc1" in out.getvalue()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        # A zombie (exited, not yet reaped by init) no longer runs.
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False
