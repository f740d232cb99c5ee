"""How the loader words a problem for operators: file names as they know them, values safe to
print, and pydantic's errors as a field path and what is allowed there."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from agentplane.errors import ConfigIssue, field_path


def printable(text: str, limit: int = 80) -> str:
    """`text` safe to print in a log: printable ASCII, escapes for anything else, cut at `limit`."""
    shown = text.encode("ascii", "backslashreplace").decode("ascii") if not text.isascii() else text
    shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in shown)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def display(path: Path, root: Path | None = None) -> str:
    """A path as the operator knows it: relative to the project root (or the working directory)."""
    for base in (root, Path.cwd()):
        if base is None:
            continue
        try:
            return printable(str(path.absolute().relative_to(base.absolute())), 200)
        except ValueError:
            continue
    return printable(str(path), 200)


def _allowed_fields(model: type[BaseModel], loc: tuple) -> list[str]:
    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        if isinstance(part, int):
            continue
        field = next((f for n, f in current.model_fields.items() if (f.alias or n) == part or n == part), None)
        if field is None:
            continue  # a dict key such as an environment name
        current = _unwrap(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(f.alias or n for n, f in current.model_fields.items())
    return []


def _unwrap(annotation: Any) -> Any:
    """Optional[X], tuple[X, ...], dict[str, X], Annotated[X, ...] -> X."""
    for _ in range(6):
        origin = typing.get_origin(annotation)
        if origin is None:
            return annotation
        args = [a for a in typing.get_args(annotation) if a is not type(None) and a is not Ellipsis]
        if origin is dict:
            annotation = args[-1]
        elif args:
            annotation = args[0]
        else:
            return annotation
    return annotation


def pydantic_issues(exc: ValidationError, model: type[BaseModel], file: str) -> list[ConfigIssue]:
    """Pydantic's errors as ConfigIssues, worded for operators (field path, what is allowed)."""
    issues = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        path = field_path(loc)
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            allowed = _allowed_fields(model, loc[:-1])
            message = "unknown field" + (f" (allowed here: {', '.join(allowed)})" if allowed else "")
        elif error["type"] == "missing":
            message = "required field is missing"
        elif error["type"] == "too_short":
            message = f"must have at least {error['ctx']['min_length']} item(s)"
        elif error["type"] in ("int_type", "int_from_float"):
            message = "must be a whole number (an integer, not a string or a fraction)"
        elif error["type"] == "bool_type":
            message = "must be true or false (a boolean)"
        elif error["type"] == "model_type" or error["type"] == "dict_type":
            message = "must be a mapping of fields"
        issues.append(ConfigIssue(file, path, message))
    return issues
