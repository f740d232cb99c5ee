"""A YAML loader for untrusted input: team files arrive by pull request.

Beyond yaml.safe_load it rejects anchors/aliases (billion-laughs and hidden sharing),
duplicate keys (the last one would silently win), explicit tags, non-UTF-8 bytes, nesting
deeper than MAX_DEPTH (checked on the event stream, before the recursive composer runs),
integers longer than MAX_INT_DIGITS and oversized files. Files are opened without
following symlinks and must be regular files; their size is checked before reading.
Messages name the position, never quote the file's content (a file that is not the team's
own, such as a credential behind a symlink, must not leak into a CI log).
"""

from __future__ import annotations

import copy
import errno
import functools
import os
import stat
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 64 * 1024
# No configuration of this project nests deeper than about 8; 32 leaves room and stops
# 20,000 brackets long before Python's recursion limit.
MAX_DEPTH = 32
# Every number in the configuration fits in 64 bits (20 digits); longer integers are refused
# before Python converts them (conversion of huge literals is slow, or refused by Python).
MAX_INT_DIGITS = 20


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
            raise UnsafeYAML(f"YAML anchors are not allowed ({_where(event.start_mark)})")
        tag = getattr(event, "tag", None)
        implicit = getattr(event, "implicit", True)
        # A scalar's `implicit` is a pair; collections carry a bool. Either way an explicit
        # tag such as !!python/object or !!binary is refused rather than interpreted.
        explicit = tag is not None and not (all(implicit) if isinstance(implicit, tuple) else implicit)
        if explicit and tag != "!":
            raise UnsafeYAML(f"YAML tags are not allowed ({_where(event.start_mark)})")
        return super().compose_node(parent, index)

    def construct_yaml_int(self, node):  # type: ignore[override]
        digits = sum(c.isdigit() for c in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise UnsafeYAML(
                f"a number with {digits} digits; at most {MAX_INT_DIGITS} are accepted ({_where(node.start_mark)})"
            )
        return super().construct_yaml_int(node)

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise UnsafeYAML(f"YAML merge keys (<<) are not allowed ({_where(key_node.start_mark)})")
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise UnsafeYAML(f"mapping keys must be plain scalars ({_where(key_node.start_mark)})")
            if key in seen:
                shown = (
                    f" {key!r}"
                    if isinstance(key, str) and key.isascii() and key.isprintable() and len(key) <= 64
                    else ""
                )
                raise UnsafeYAML(f"duplicate key{shown} ({_where(key_node.start_mark)}; first at {_where(seen[key])})")
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_yaml_int)


def _check_depth(text: str) -> None:
    """Walk the event stream (PyYAML's scanner and parser are iterative) and refuse deep nesting
    before the recursive composer sees it."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise UnsafeYAML(f"nesting deeper than {MAX_DEPTH} levels ({_where(event.start_mark)})")
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's message without the snippet of the file it normally quotes."""
    problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or type(exc).__name__
    mark = getattr(exc, "problem_mark", None)
    if isinstance(exc, yaml.reader.ReaderError):
        return (
            f"not valid YAML: unacceptable character #x{exc.character:04x} at position {exc.position}"
            if isinstance(exc.character, int)
            else "not valid YAML: unacceptable byte"
        )
    return f"not valid YAML: {problem} ({_where(mark)})"


def loads(text: bytes | str) -> Any:
    """Parse one YAML document from untrusted bytes or text."""
    if isinstance(text, str):
        try:
            raw = text.encode("utf-8")
        except UnicodeEncodeError:
            raise UnsafeYAML("text is not valid Unicode (lone surrogate)") from None
    else:
        raw = text
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
        _check_depth(decoded)
        documents = list(yaml.load_all(decoded, Loader=_StrictLoader))  # noqa: S506 - strict loader above
    except UnsafeYAML:
        raise
    except yaml.YAMLError as exc:
        raise UnsafeYAML(_yaml_problem(exc)) from None
    except (ValueError, OverflowError, RecursionError, MemoryError) as exc:
        # A scalar the resolver accepted but Python cannot convert (say, a timestamp out of range).
        raise UnsafeYAML(f"a value cannot be read ({type(exc).__name__})") from None
    if len(documents) > 1:
        raise UnsafeYAML(f"expected one YAML document, found {len(documents)}")
    return documents[0] if documents else None


def read_regular_file(path: Path, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of a regular file, opened without following a symlink, its size checked first.

    Raises UnsafeYAML for a symlink, a directory, a device or FIFO, or an oversized file.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeYAML("is a symbolic link; only regular files are read") from None
        if exc.errno == errno.ENOENT:
            raise FileNotFoundError(errno.ENOENT, "no such file", str(path)) from None
        if exc.errno == errno.EISDIR:
            raise UnsafeYAML("is a directory, not a file") from None
        raise UnsafeYAML(f"cannot be opened ({os.strerror(exc.errno or 0)})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UnsafeYAML("is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeYAML("is not a regular file (a device, FIFO or socket); only regular files are read")
        if info.st_size > max_bytes:
            raise UnsafeYAML(
                f"file is {info.st_size} bytes; at most {max_bytes} ({max_bytes // 1024} KiB) are accepted"
            )
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:  # grew while being read
                raise UnsafeYAML(f"file is more than {max_bytes} bytes; at most {max_bytes} are accepted")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def load_file(path: Path) -> Any:
    """Read (see read_regular_file) and parse a file."""
    return loads(read_regular_file(path))
