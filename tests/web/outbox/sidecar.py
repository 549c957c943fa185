"""A stand-in for the Dapr sidecar (daprd), because no daprd can run here.

It is a real gRPC server implementing the SDK's generated `DaprServicer` (PublishEvent) plus
the sidecar's HTTP health endpoint the SDK probes, on loopback ports that survive a
stop/start, so tests can take "the sidecar" down and bring it back. It records what was
published instead of forwarding it to a broker.
"""

from __future__ import annotations

import threading
from concurrent import futures
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from dapr.proto.runtime.v1 import dapr_pb2_grpc
from google.protobuf import empty_pb2


@dataclass(frozen=True)
class Published:
    """One PublishEvent request as the sidecar received it."""

    pubsub_name: str
    topic: str
    data: bytes
    data_content_type: str
    metadata: dict[str, str]


class _Servicer(dapr_pb2_grpc.DaprServicer):
    """Records PublishEvent calls."""

    def __init__(self, sink: list[Published]) -> None:
        self._sink = sink

    def PublishEvent(self, request: Any, context: grpc.ServicerContext) -> empty_pb2.Empty:
        """Accept the event as daprd would once the broker acked it."""
        self._sink.append(
            Published(
                request.pubsub_name,
                request.topic,
                request.data,
                request.data_content_type,
                dict(request.metadata),
            )
        )
        return empty_pb2.Empty()


class _Health(BaseHTTPRequestHandler):
    """GET /v1.0/healthz/outbound -> 204, as a ready sidecar answers."""

    def do_GET(self) -> None:
        """Answer the SDK's readiness probe."""
        self.send_response(204 if self.path.startswith("/v1.0/healthz") else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


class StandInSidecar:
    """The stand-in's two listeners; `stop()` and `start()` model the sidecar going away and coming back."""

    def __init__(self) -> None:
        # 0 until the first start, which binds free ports (asking the kernel, not probing first:
        # a probed port could be taken by a parallel test before the bind); restarts reuse them.
        self.grpc_port = 0
        self.http_port = 0
        self.published: list[Published] = []
        self._grpc: grpc.Server | None = None
        self._http: ThreadingHTTPServer | None = None

    @classmethod
    def not_yet_up(cls) -> StandInSidecar:
        """A stand-in whose ports are chosen but which does not answer yet (a sidecar still starting)."""
        return cls().start().stop()

    def start(self) -> StandInSidecar:
        """Listen on free ports the first time and on the same ports every time after."""
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        dapr_pb2_grpc.add_DaprServicer_to_server(_Servicer(self.published), self._grpc)
        self.grpc_port = self._grpc.add_insecure_port(f"127.0.0.1:{self.grpc_port}")
        self._grpc.start()
        ThreadingHTTPServer.allow_reuse_address = True
        self._http = ThreadingHTTPServer(("127.0.0.1", self.http_port), _Health)
        self.http_port = self._http.server_address[1]
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self

    def stop(self) -> StandInSidecar:
        """Stop answering on both ports."""
        if self._grpc is not None:
            self._grpc.stop(grace=None).wait()
            self._grpc = None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        return self
