"""Configuration errors that name the file, the field and what is allowed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class ConfigIssue:
    file: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        return f"{where}: {self.message}"


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
