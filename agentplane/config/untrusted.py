"""The first look at a team file, before any model sees it: the alphabet of team files.

A team file is untrusted. Every string in it ends up in some other program's configuration
(Kubernetes names and labels, Keycloak groups, the gateway's CEL and route paths, the
collector's configuration, Kyverno policies), and several of those expand syntax of their
own (`${...}` in the collector, `{{...}}` in Kyverno, `%` escapes in URLs). Instead of
listing dangerous sequences, every key and value must come from a small alphabet that no
field needs more than: ASCII letters, digits and `. _ - : / *`. That also rules out NUL
bytes, lone surrogates, whitespace, look-alike Unicode letters and right-to-left tricks.

Values shaped like credentials are refused anywhere, and no message here ever quotes a value.
"""

from __future__ import annotations

import re
from typing import Any

# Every key or value of a team file fits this alphabet (individual fields are stricter).
_ALPHABET = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:/*")
MAX_STRING = 512
MAX_KEY = 128
MAX_ITEMS = 256
# Shapes of well-known credentials; refused wherever they appear (never echoed).
_CREDENTIALS = (
    re.compile(r"(^|[^a-z0-9])sk-[A-Za-z0-9_-]{16,}"),  # OpenAI, Anthropic (sk-ant-...)
    re.compile(r"(^|[^a-z0-9])(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}"),  # GitHub tokens
    re.compile(r"github_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"(^|[^a-z0-9])xox[abprs]-[A-Za-z0-9-]{10,}"),  # Slack
    re.compile(r"(^|[^A-Z0-9])(AKIA|ASIA)[A-Z0-9]{16}"),  # AWS access keys
    re.compile(r"AIza[0-9A-Za-z_-]{35}"),  # Google API keys
    re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),  # a JWT
    re.compile(r"glpat-[A-Za-z0-9_-]{20}"),  # GitLab
)


def looks_like_credential(value: str) -> bool:
    return any(pattern.search(value) for pattern in _CREDENTIALS)


def credential_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every credential-shaped run in `text`, merged, for masking."""
    spans = sorted(m.span() for pattern in _CREDENTIALS for m in pattern.finditer(text))
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _char(c: str) -> str:
    return repr(c) if c.isascii() and c.isprintable() and c not in "'\"" else f"U+{ord(c):04X}"


def _string_problem(value: str, limit: int) -> str | None:
    if looks_like_credential(value):
        return (
            "looks like a credential (an API key or token); credentials never belong in a team file: keep them in "
            "secret stack config"
        )
    if len(value) > limit:
        return f"is {len(value)} characters long; at most {limit} are accepted"
    for position, c in enumerate(value):
        if c not in _ALPHABET:
            if c == "$" or c in "{}%":
                why = "expansion syntax and escapes are never passed on to another program"
            elif c.isspace():
                why = "whitespace"
            elif not c.isascii():
                why = "only ASCII is accepted (no look-alike letters)"
            else:
                why = "not used by any field"
            return (
                f"contains {_char(c)} at position {position + 1} ({why}); team files use ASCII letters, digits and "
                ". _ - : / * only"
            )
    return None


def scan(document: Any) -> list[tuple[str, str]]:
    """(field, problem) for every key or value outside the alphabet of team files."""
    problems: list[tuple[str, str]] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if len(node) > MAX_ITEMS:
                problems.append((path, f"has {len(node)} entries; at most {MAX_ITEMS} are accepted"))
                return
            for index, (key, value) in enumerate(node.items()):
                if not isinstance(key, str):
                    problems.append(
                        (
                            f"{path}.<key {index + 1}>" if path else f"<key {index + 1}>",
                            "keys must be names (strings), not numbers, booleans or null",
                        )
                    )
                    continue
                problem = _string_problem(key, MAX_KEY)
                if problem:
                    problems.append(
                        (f"{path}.<key {index + 1}>" if path else f"<key {index + 1}>", f"the key {problem}")
                    )
                    continue
                walk(value, f"{path}.{key}" if path else key)
        elif isinstance(node, list):
            if len(node) > MAX_ITEMS:
                problems.append((path, f"has {len(node)} items; at most {MAX_ITEMS} are accepted"))
                return
            for index, item in enumerate(node):
                walk(item, f"{path}[{index}]")
        elif isinstance(node, str):
            problem = _string_problem(node, MAX_STRING)
            if problem:
                problems.append((path, problem))
        elif isinstance(node, float) and node != node or node in (float("inf"), float("-inf")):
            problems.append((path, "is not a finite number"))

    walk(document, "")
    return problems
