"""The doctl commands this project uses, with their arguments and flags as doctl defines them.

No doctl binary can be installed here (it is released only on GitHub), so this table stands in for
`doctl ... --help`. It was read from doctl's own source at v1.166.0 (the version the deploy workflow
installs): `CmdBuilder(...)` usage strings and the `Add*Flag(...)` calls in commands/kubernetes.go,
commands/databases.go, commands/registry.go and commands/vpcs.go, with flag names resolved through
args.go. Update it with DOCTL_VERSION.
"""

from __future__ import annotations

from tests.deploy.commands import Command

DOCTL_VERSION = "1.166.0"
# Root persistent flags (commands/doit.go) plus the output flags every listing command has.
GLOBAL_FLAGS = frozenset(
    {"config", "c", "api-url", "u", "access-token", "t", "output", "o", "context", "trace", "verbose", "v"}
    | {"interactive", "http-retry-max", "format", "no-header"}
)
# doctl's boolean flags among those used (every other flag takes the next word as its value).
BOOLEAN_FLAGS = frozenset(
    {
        "no-header",
        "wait",
        "private",
        "force",
        "f",
        "ha",
        "auto-upgrade",
        "surge-upgrade",
        "set-current-context",
    }
    | {"update-kubeconfig", "never-expire", "read-only", "dangerous", "trace", "verbose", "v", "interactive"}
)
ALIASES = {"k8s": "kubernetes", "d": "databases", "db": "databases", "r": "registry"}

# (subcommand path) -> (positional argument placeholders, flags)
COMMANDS: dict[tuple[str, ...], tuple[tuple[str, ...], frozenset[str]]] = {
    ("auth", "init"): ((), frozenset({"token-validation-server"})),
    ("account", "get"): ((), frozenset()),
    ("kubernetes", "cluster", "create"): (
        ("<name>",),
        frozenset(
            {"1-clicks", "auto-upgrade", "count", "ha", "maintenance-window", "node-pool", "region", "size"}
            | {
                "set-current-context",
                "surge-upgrade",
                "tag",
                "update-kubeconfig",
                "version",
                "vpc-uuid",
                "wait",
            }
        ),
    ),
    ("kubernetes", "cluster", "get"): (("<id|name>",), frozenset()),
    ("kubernetes", "cluster", "list"): ((), frozenset()),
    ("kubernetes", "cluster", "delete"): (
        ("<id|name>",),
        frozenset({"dangerous", "force", "f", "update-kubeconfig"}),
    ),
    ("kubernetes", "cluster", "kubeconfig", "save"): (
        ("<cluster-id|cluster-name>",),
        frozenset({"alias", "expiry-seconds", "set-current-context", "type"}),
    ),
    ("kubernetes", "cluster", "registry", "add"): (("<cluster-id|cluster-name>",), frozenset()),
    ("kubernetes", "1-click", "install"): (("<cluster-id>",), frozenset({"1-clicks"})),
    ("kubernetes", "1-click", "list"): ((), frozenset({"type"})),
    ("registry", "create"): (("<registry-name>",), frozenset({"region", "subscription-tier"})),
    ("registry", "get"): ((), frozenset()),
    ("registry", "delete"): ((), frozenset({"force", "f"})),
    ("registry", "login"): ((), frozenset({"expiry-seconds", "never-expire", "read-only"})),
    ("registry", "kubernetes-manifest"): ((), frozenset({"name", "namespace"})),
    ("databases", "create"): (
        ("<name>",),
        frozenset({"engine", "num-nodes", "private-network-uuid", "region", "size", "storage-size-mib"})
        | frozenset({"tag", "version", "wait"}),
    ),
    ("databases", "list"): ((), frozenset()),
    ("databases", "get"): (("<database-cluster-id>",), frozenset()),
    ("databases", "delete"): (("<database-cluster-id>",), frozenset({"force", "f"})),
    ("databases", "connection"): (("<database-cluster-id>",), frozenset({"private"})),
    ("databases", "get-ca"): (("<database-cluster-id>",), frozenset()),
    ("databases", "db", "create"): (("<database-cluster-id>", "<database-name>"), frozenset()),
    ("databases", "firewalls", "append"): (("<database-cluster-id>",), frozenset({"rule"})),
    ("databases", "topics", "create"): (
        ("<database-uuid>", "<topic-name>"),
        frozenset(
            {"partition-count", "replication-factor", "cleanup-policy", "retention-ms", "min-insync-replicas"}
        ),
    ),
    ("databases", "topics", "update"): (
        ("<database-uuid>", "<topic-name>"),
        frozenset(
            {"partition-count", "replication-factor", "cleanup-policy", "retention-ms", "min-insync-replicas"}
        ),
    ),
    ("vpcs", "list"): ((), frozenset()),
    ("vpcs", "get"): (("<vpc-id>",), frozenset()),
}


def _split(words: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Positional words and flag names; a non-boolean flag without `=` takes the next word."""
    positional: list[str] = []
    flags: list[str] = []
    takes_value = False
    for word in words:
        if word.startswith("-") and len(word) > 1:
            name = word.lstrip("-").split("=", 1)[0]
            flags.append(name)
            takes_value = "=" not in word and name not in BOOLEAN_FLAGS
        elif takes_value:
            takes_value = False
        else:
            positional.append(word)
    return positional, flags


def resolve(command: Command) -> tuple[tuple[str, ...], list[str], list[str]]:
    """The known subcommand path of a doctl command, its positional arguments and its flags."""
    positional, flags = _split(command.words[1:])
    words = [ALIASES.get(positional[0], positional[0]), *positional[1:]] if positional else []
    for length in range(len(words), 0, -1):
        if tuple(words[:length]) in COMMANDS:
            return tuple(words[:length]), positional[length:], flags
    raise LookupError(f"doctl command not in the table (tests/deploy/doctl.py): {command.source}")


def problems(command: Command) -> list[str]:
    """What is wrong with one doctl command line: unknown flags, wrong argument count or kind."""
    path, arguments, flags = resolve(command)
    placeholders, known = COMMANDS[path]
    found = [
        f"--{flag} is not a flag of doctl {' '.join(path)}"
        for flag in flags
        if flag not in known | GLOBAL_FLAGS
    ]
    if len(arguments) != len(placeholders) and not (path[-1] == "add" and arguments):
        found.append(f"doctl {' '.join(path)} takes {placeholders}, given {arguments}")
    for placeholder, argument in zip(placeholders, arguments, strict=False):
        # An argument documented as an id (not "id|name") must be one: a variable or placeholder naming an ID.
        names_an_id = "ID" in argument or "-id" in argument.lower() or "uuid" in argument.lower()
        if "id" in placeholder.lower() and "name" not in placeholder and not names_an_id:
            found.append(f"doctl {' '.join(path)} takes {placeholder}, given {argument!r} (a name?)")
    return found
