"""Agents that crashed: counted per agent, and the worker reported not live once one has.

Faust restarts a crashed agent at once, and the worker stays Ready whatever the restarted agent
then does. When a counts changelog had been created with the wrong partition count, the tally
raised PartitionsMismatch on its first take, was restarted, and counted nothing from then on:
rows and mail went on, every user's counts froze, and neither /ready/ nor a TCP liveness probe
could tell.

Our agents settle what they can (a bad message is dead-lettered, a dependency that is down is
retried), so a crash is a defect or a broken deployment, and what the restarted agent holds is not
known. Each crash is counted (`todo_worker_agent_crashes_total{agent}`), and GET /live/ answers 503
from the first one until the process ends: Kubernetes restarts the pod, which reads again from the
committed offsets (at least once; every agent's work is idempotent), and a cause that outlives the
restart shows as a crash loop rather than as counts that stopped.

Nothing here imports the app: the consumer (streams/transport.py, imported by the app) records.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import Counter

AGENT_CRASHES = Counter(
    "todo_worker_agent_crashes", "Agent crashes (Faust restarted the agent), by agent.", ["agent"]
)


@dataclass
class CrashLog:
    """How often each agent crashed in this process, and its last error."""

    _count: dict[str, int] = field(default_factory=dict)
    _last_error: dict[str, str] = field(default_factory=dict)

    def record(self, agent: str, exc: BaseException) -> None:
        """Note one crash of `agent`."""
        AGENT_CRASHES.labels(agent).inc()
        self._count[agent] = self._count.get(agent, 0) + 1
        self._last_error[agent] = f"{type(exc).__name__}: {exc}"[:500]

    def crashed(self) -> dict[str, dict[str, int | str]]:
        """Each agent that crashed: how often, and its last error."""
        return {
            agent: {"crashes": n, "last_error": self._last_error[agent]} for agent, n in self._count.items()
        }


crashes = CrashLog()
