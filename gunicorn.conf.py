"""Gunicorn's configuration (read from the working directory): metrics that add up, our log format.

Each worker is a process with its own counters; prometheus_client's multiprocess mode has them write
to files in one directory that any worker's /metrics merges. The variable must be in the environment
before a worker imports prometheus_client, so it is set here, in the master, through `raw_env`, and
this file must not import prometheus_client at module level.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from shared.logs import log_config
from shared.settings import get_settings

_settings = get_settings()
_own_dir = not _settings.prometheus_multiproc_dir
_metrics_dir = Path(_settings.prometheus_multiproc_dir or tempfile.mkdtemp(prefix="todo-metrics-"))

raw_env = [f"PROMETHEUS_MULTIPROC_DIR={_metrics_dir}"]
# Gunicorn's own lines (and the access log, with the request id the app echoes) in our format.
logconfig_dict = log_config(
    _settings,
    loggers={
        "gunicorn.error": {"level": _settings.log_level, "handlers": ["default"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["default"], "propagate": False},
    },
)
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'


def on_starting(server: Any) -> None:
    """Start from empty metric files: a previous run's counters must not add to this one's."""
    _metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in _metrics_dir.glob("*.db"):
        stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges (its counters stay: they are history)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, str(_metrics_dir))


def on_exit(server: Any) -> None:
    """Remove the metrics directory this file made up (one set by PROMETHEUS_MULTIPROC_DIR stays)."""
    if _own_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
