"""Run several processes as one: prefixed output, all stopped together, a death never silent."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import IO

COLOURS = itertools.cycle(["36", "33", "35", "32", "34", "31"])


@dataclass
class Service:
    """One supervised command."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    relay: threading.Thread | None = None
    colour: str = field(default_factory=lambda: next(COLOURS))

    def relay_alive(self) -> bool:
        """Whether the thread copying this service's output is still running."""
        return self.relay is not None and self.relay.is_alive()


class ServiceDied(RuntimeError):
    """A supervised process exited while the stack was meant to be running."""


class Supervisor:
    """Starts services, relays their output, and stops them all on exit."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self.services: list[Service] = []
        self.out = out or sys.stdout
        self._lock = threading.Lock()
        self._stopping = False

    def say(self, name: str, line: str, colour: str = "1") -> None:
        """Print one line with the service's coloured prefix."""
        width = max([len(s.name) for s in self.services] + [len(name), 10])
        prefix = f"\x1b[{colour}m{name:<{width}} |\x1b[0m" if self.out.isatty() else f"{name:<{width}} |"
        with self._lock:
            self.out.write(f"{prefix} {line}\n")
            self.out.flush()

    def start(self, service: Service) -> Service:
        """Launch a service in its own process group and relay its output."""
        service.process = subprocess.Popen(  # noqa: S603
            service.argv,
            env=service.env or None,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.services.append(service)
        service.relay = threading.Thread(target=self._relay, args=(service,), daemon=True)
        service.relay.start()
        return service

    def _relay(self, service: Service) -> None:
        """Copy a service's output line by line under its prefix."""
        stream = service.process.stdout if service.process else None
        if stream is None:
            return
        for raw in stream:
            self.say(service.name, raw.decode(errors="replace").rstrip(), service.colour)

    def check(self) -> None:
        """Raise ServiceDied if any service has exited."""
        for service in self.services:
            code = service.process.poll() if service.process else None
            if code is not None and not self._stopping:
                raise ServiceDied(f"{service.name} exited with code {code}")

    def wait(self) -> None:
        """Block until a service dies (raises) or the user interrupts."""
        while True:
            self.check()
            time.sleep(0.2)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every service (newest first), then SIGKILL what is left after the timeout."""
        self._stopping = True
        for service in reversed(self.services):
            if service.process and service.process.poll() is None:
                self.say("supervisor", f"stopping {service.name}")
                _signal_group(service.process, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for service in reversed(self.services):
            if not service.process:
                continue
            try:
                service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say("supervisor", f"{service.name} did not stop in {timeout:.0f}s; killing it")
                _signal_group(service.process, signal.SIGKILL)
                service.process.wait()
        for service in self.services:
            if service.process:
                # The leader has exited; nothing it started may outlive it as an orphan.
                _signal_group(service.process, signal.SIGKILL)
            _close_output(service)


def _close_output(service: Service) -> None:
    """Let the relay thread drain what the service printed, then close its pipe."""
    if service.relay is not None:
        service.relay.join(timeout=2)
    if service.process is not None and service.process.stdout is not None and not service.relay_alive():
        service.process.stdout.close()


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    """Signal the process group a service leads (gunicorn and faust have children)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
