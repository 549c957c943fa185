"""What the worker keeps of its agents' crashes: each agent's count and last error, for /live/.

tests/streams/test_worker_live.py shows a real worker's tally crashing and /live/ saying so.
"""

from __future__ import annotations

from streams.crashes import AGENT_CRASHES, CrashLog


def test_no_crash_leaves_nothing_to_report() -> None:
    assert CrashLog().crashed() == {}


def test_each_agent_keeps_its_count_and_last_error() -> None:
    log = CrashLog()
    log.record("streams.counts.tally", KeyError("first"))
    log.record("streams.counts.tally", ValueError("second"))
    log.record("streams.activity.count_activity", RuntimeError("boom"))
    assert log.crashed() == {
        "streams.counts.tally": {"crashes": 2, "last_error": "ValueError: second"},
        "streams.activity.count_activity": {"crashes": 1, "last_error": "RuntimeError: boom"},
    }


def test_a_long_error_is_cut_to_500_characters() -> None:
    log = CrashLog()
    log.record("streams.counts.tally", RuntimeError("x" * 2000))
    assert len(str(log.crashed()["streams.counts.tally"]["last_error"])) == 500


def test_each_crash_is_counted_against_its_agent() -> None:
    before = AGENT_CRASHES.labels("streams.audit.agents.audit")._value.get()
    CrashLog().record("streams.audit.agents.audit", RuntimeError("boom"))
    assert AGENT_CRASHES.labels("streams.audit.agents.audit")._value.get() == before + 1
