"""A YAML loader for untrusted input: team files arrive by pull request.

Beyond yaml.safe_load it rejects anchors/aliases (billion-laughs and hidden sharing),
duplicate keys (the last one would silently win), explicit tags, non-UTF-8 bytes and
oversized files, each with a message naming the file and position.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 64 * 1024


class UnsafeYAML(ValueError):
    """The document is not acceptable input; the message says why and where."""


def _where(mark: yaml.Mark | None) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"


class _StrictLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):  # type: ignore[override]
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise UnsafeYAML(f"YAML aliases are not allowed ({_where(event.start_mark)})")
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise UnsafeYAML(f"YAML anchors are not allowed: &{anchor} ({_where(event.start_mark)})")
        tag = getattr(event, "tag", None)
        implicit = getattr(event, "implicit", True)
        # A scalar's `implicit` is a pair; collections carry a bool. Either way an explicit
        # tag such as !!python/object or !!binary is refused rather than interpreted.
        explicit = tag is not None and not (all(implicit) if isinstance(implicit, tuple) else implicit)
        if explicit and tag != "!":
            raise UnsafeYAML(f"YAML tags are not allowed: {tag} ({_where(event.start_mark)})")
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise UnsafeYAML(f"mapping keys must be plain scalars ({_where(key_node.start_mark)})")
            if key in seen:
                raise UnsafeYAML(
                    f"duplicate key {key!r} ({_where(key_node.start_mark)}; first at {_where(seen[key])})"
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def loads(text: bytes | str) -> Any:
    """Parse one YAML document from untrusted bytes or text."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    if len(raw) > MAX_BYTES:
        raise UnsafeYAML(f"file is {len(raw)} bytes; at most {MAX_BYTES} (64 KiB) are accepted")
    # Validation and the program both read every team file; parse each distinct content once.
    # Results are deep-copied out so callers can never share (or mutate) a cached document.
    return copy.deepcopy(_parse(raw))


@functools.lru_cache(maxsize=4096)
def _parse(raw: bytes) -> Any:
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsafeYAML(f"file is not UTF-8 (invalid byte at offset {exc.start})") from None
    try:
        documents = list(yaml.load_all(decoded, Loader=_StrictLoader))  # noqa: S506 - strict loader above
    except UnsafeYAML:
        raise
    except yaml.YAMLError as exc:
        raise UnsafeYAML(f"not valid YAML: {exc}".replace("\n", " ")) from None
    if len(documents) > 1:
        raise UnsafeYAML(f"expected one YAML document, found {len(documents)}")
    return documents[0] if documents else None


def load_file(path: Path) -> Any:
    """Read and parse a file, checking its size before reading it all."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise UnsafeYAML(f"file is {size} bytes; at most {MAX_BYTES} (64 KiB) are accepted")
    return loads(path.read_bytes())
