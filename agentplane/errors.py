"""Configuration errors that name the file, the field and what is allowed."""

from __future__ import annotations

import re
from dataclasses import dataclass

# The last line of defence for secrets in messages: whatever a check quotes, a URL's user-info
# and query string and anything shaped like a credential are masked before it is shown.
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s'\"]*@")
_QUERY = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s'\"?#]*)[?#][^\s'\"]*")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    from agentplane.config.untrusted import credential_spans

    text = _USERINFO.sub(rf"\1{REDACTED}@", text)
    text = _QUERY.sub(rf"\1?{REDACTED}", text)
    for start, end in sorted(credential_spans(text), reverse=True):
        text = text[:start] + REDACTED + text[end:]
    return text


@dataclass(frozen=True, order=True)
class ConfigIssue:
    file: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        return redact(f"{where}: {self.message}")


class ConfigError(Exception):
    """Every issue found in every input file, raised together so one run shows them all."""

    def __init__(self, issues: list[ConfigIssue]):
        self.issues = sorted(set(issues))
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"{len(self.issues)} configuration error(s):"]
        lines += [f"  - {issue}" for issue in self.issues]
        return "\n".join(lines)


def field_path(parts: tuple | list) -> str:
    """('agents', 0, 'name') -> 'agents[0].name'."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
