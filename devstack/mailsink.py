"""A local SMTP server that keeps every message as an .eml file, so people (and tests) can read the mail.

Run it as `python -m devstack.mailsink --dir var/mail --port 1025`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class SaveToDirectory:
    """aiosmtpd handler: write each message, as received, to DIR/<time>-<id>.eml."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.count = 0

    async def handle_DATA(  # noqa: N802  (aiosmtpd looks the hook up by this name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        """Save the message with the envelope recipients prepended, and accept it."""
        content = envelope.original_content or b""
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.eml"
        recipients = ", ".join(envelope.rcpt_tos)
        partial = self.directory / f".{name}.part"
        partial.write_bytes(f"X-Envelope-To: {recipients}\r\n".encode() + content)
        partial.rename(self.directory / name)  # readers never see half a file
        self.count += 1
        return "250 Message accepted for delivery"

    def messages(self) -> list[Path]:
        """The saved .eml files, oldest first."""
        return sorted(self.directory.glob("*.eml"))


def start_sink(
    directory: Path, host: str = "127.0.0.1", port: int = 1025
) -> tuple[Controller, SaveToDirectory]:
    """Start the SMTP server in a background thread; stop it with `controller.stop()`."""
    handler = SaveToDirectory(directory)
    controller = Controller(handler, hostname=host, port=port)
    controller.start()
    return controller, handler


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until interrupted, printing one line per saved message."""
    parser = argparse.ArgumentParser(prog="mailsink", description=__doc__)
    parser.add_argument("--dir", type=Path, default=Path("var/mail"), help="where .eml files go")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    args = parser.parse_args(argv)
    controller, handler = start_sink(args.dir, args.host, args.port)
    print(f"SMTP sink on {args.host}:{args.port}, saving mail to {args.dir}/", flush=True)
    stop = threading.Event()

    def _stop(_signum: int, _frame: Any) -> None:
        """Stop serving on SIGTERM or Ctrl-C."""
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    seen = 0
    while not stop.wait(0.2):
        if handler.count != seen:
            seen = handler.count
            print(f"saved message {seen}: {handler.messages()[-1]}", flush=True)
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
