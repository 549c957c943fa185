"""A child process serving the real app, so the export test can read this process's peak memory.

Run as `python -m tests.web.audit.export_server [chunk]` with DATABASE_URL in the environment. It
prints its port, then answers stdin lines: "reset" clears the kernel's peak-RSS mark (VmHWM) and
prints the current RSS; "peak" prints the peak since. Both in KiB. It exits at EOF.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from werkzeug.serving import make_server

from web import create_app
from web.audit import services


def _status_kib(name: str) -> int:
    """One memory figure (VmRSS, VmHWM) of this process from /proc, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise LookupError(name)


def _answer(command: str) -> int:
    """Reset the peak and report the current RSS, or report the peak since the last reset."""
    if command == "reset":
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return _status_kib("VmRSS")
    return _status_kib("VmHWM")


def main() -> None:
    """Serve the app on a free loopback port and report peak RSS on request."""
    if len(sys.argv) > 1:
        services.EXPORT_CHUNK = int(sys.argv[1])
    server = make_server("127.0.0.1", 0, create_app(), threaded=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_port, flush=True)
    for line in sys.stdin:
        print(_answer(line.strip()), flush=True)
    server.shutdown()


if __name__ == "__main__":
    main()
