"""`shared/` is the contract both sides import, so it may import neither side nor what drives them."""

from __future__ import annotations

import ast
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
# The two sides, what starts them, and the frameworks each side alone needs.
FORBIDDEN = {"web", "streams", "devstack", "tests", "bench", "flask", "faust", "click", "aiosmtpd"}


def imported_roots(path: Path) -> set[str]:
    """The top-level package of every module a source file imports, however nested the import."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_shared_imports_nothing_from_either_side():
    offenders = {
        str(path.relative_to(SHARED.parent)): sorted(imported_roots(path) & FORBIDDEN)
        for path in SHARED.rglob("*.py")
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_scan_sees_imports_inside_functions(tmp_path):
    # The old CLI imported web lazily inside a function; the scan must catch that shape too.
    source = tmp_path / "lazy.py"
    source.write_text("def run():\n    from web.outbox.service import run_relay\n    import streams.app\n")
    assert imported_roots(source) == {"web", "streams"}


# Each module shared/ may hold, and what both sides agree on through it. A module only one side uses
# belongs to that side; a new entry here needs a reason as good as these.
CONTRACT = {
    "settings": "the one reader of the environment",
    "events": "the event schema",
    "models": "the tables",
    "db": "engines and sessions",
    "driver": "hot-path statements run on psycopg: the web's create and the worker's mail claim",
    "kafka": "one Kafka connection config for relay, worker and dev stack",
    "retry": "one transient-failure backoff for relay and worker",
    "logs": "one log format, ids and redaction for web, relay and worker",
    "audit_chain": "the canonical JSON and hash the worker writes and verify recomputes",
    "activity": "the activity ranges and buckets the worker serves and the web falls back to",
    "webhooks": "the secret format and the addresses web accepts and the worker sends to",
    "counts": "the counts shape",
    "mail": "one SMTP delivery (STARTTLS verified) for the worker's mail and the web's links",
}


def test_shared_holds_only_the_contract():
    modules = {path.stem for path in SHARED.glob("*.py")} - {"__init__"}
    assert not [path for path in SHARED.iterdir() if path.is_dir() and path.name != "__pycache__"]
    assert modules - CONTRACT.keys() == set(), "not contract: move it to the side that uses it"
