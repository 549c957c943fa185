"""Shell commands as written in the workflows and DEPLOY.md, and the flags helm, kubectl and doctl accept."""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SEPARATORS = {"|", "||", "&&", ";", "&", "(", ")"}
SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")
REDIRECTION = re.compile(r"\s\d?(?:>>?|<)&?\s*[^\s|;&]+")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class Command:
    """One simple command: its words after quote removal, and the text it came from."""

    words: tuple[str, ...]
    source: str

    @property
    def program(self) -> str:
        """The executable's name."""
        return Path(self.words[0]).name if self.words else ""


def _lines(script: str) -> list[str]:
    """Logical lines: backslash continuations joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", script)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def commands(script: str) -> list[Command]:
    """Every simple command of a shell script, including those inside $(...)."""
    found: list[Command] = []
    for line in _lines(script):
        inner = SUBSTITUTION.findall(line)
        for text in [*inner, SUBSTITUTION.sub("SUBSTITUTED", line)]:
            lexer = shlex.shlex(REDIRECTION.sub(" ", text), posix=True, punctuation_chars="|&;()")
            lexer.whitespace_split = True
            try:
                tokens = list(lexer)
            except ValueError:
                continue
            words: list[str] = []
            for token in [*tokens, ";"]:
                if token in SEPARATORS:
                    while words and ASSIGNMENT.match(words[0]):
                        words.pop(0)
                    if words:
                        found.append(Command(tuple(words), text))
                    words = []
                else:
                    words.append(token)
    return found


def shell_blocks(markdown: str) -> list[str]:
    """The ```sh code blocks of a Markdown document."""
    return re.findall(r"```(?:sh|bash|shell)\n(.*?)```", markdown, flags=re.DOTALL)


def split_flags(words: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Positional words and flag names (without dashes or =value) of a command line, up to a bare `--`
    (what follows is another program's command line, as in `kubectl exec POD -- faust -A ...`)."""
    positional, flags = [], []
    for word in words:
        if word == "--":
            break
        if word.startswith("--") and len(word) > 2:
            flags.append(word[2:].split("=", 1)[0])
        elif word.startswith("-") and len(word) > 1 and not word[1].isdigit():
            flags.append(word[1:].split("=", 1)[0])
        else:
            positional.append(word)
    return positional, flags


@cache
def _help(tool: str, path: tuple[str, ...]) -> str:
    """`tool path --help` (kubectl: plus its global options)."""
    result = subprocess.run([tool, *path, "--help"], capture_output=True, text=True, check=False)
    text = result.stdout + result.stderr
    if Path(tool).name == "kubectl":
        text += subprocess.run([tool, "options"], capture_output=True, text=True, check=False).stdout
    return text


def _subcommands(help_text: str) -> set[str]:
    """Names listed under "Available Commands" (cobra's help, as helm and kubectl print it)."""
    names: set[str] = set()
    for block in re.findall(r"(?:Available Commands|Commands)[^:\n]*:\n((?:[ \t]+\S.*\n)+)", help_text):
        names |= {line.split()[0] for line in block.splitlines() if line.strip()}
    return names


def real_flags(tool: str, words: tuple[str, ...]) -> tuple[tuple[str, ...], set[str]]:
    """The subcommand path a command runs, and every flag the real binary's help lists for it."""
    path: list[str] = []
    after_flag = False
    for word in words[1:]:
        names = _subcommands(_help(tool, tuple(path)))
        if word.startswith("-"):
            after_flag = "=" not in word
            continue
        if word in names:
            path.append(word)
        elif not after_flag:
            break
        after_flag = False
    text = _help(tool, tuple(path))
    longs = set(re.findall(r"--([a-z0-9][a-z0-9-]*)", text))
    shorts = set(re.findall(r"(?:^|\s)-([a-zA-Z]),", text, flags=re.MULTILINE))
    return tuple(path), longs | shorts


def unknown_flags(tool: str, command: Command) -> list[str]:
    """Flags a helm or kubectl command passes that its binary does not list (deprecated ones are hidden)."""
    path, known = real_flags(tool, command.words)
    _, used = split_flags(command.words[1 + len(path) :])
    return [flag for flag in used if flag not in known]
