"""Validate generated objects and Helm values against the pinned upstream schemas.

Test support only. The data lives outside the repository, in ``<repo>/../shared/upstream``
(override with ``AGENTPLANE_UPSTREAM``): upstream CRDs, chart ``values.yaml`` files and chart
``values.schema.json`` files at the versions the platform pins. Core Kubernetes kinds come from
the schemas ``kubernetes-validate`` ships for :data:`KUBERNETES_VERSION` (its *strict* variant).

What :func:`validate_object` checks, and why it is close to what the API server does:

* Core kinds: the strict OpenAPI-derived JSON schema (unknown fields are errors, like
  ``kubectl --validate=strict``).
* Custom kinds: the CRD's ``openAPIV3Schema`` for the object's (served) version, converted to
  JSON Schema 2020-12. Like the API server, schema defaults are applied first. Unknown fields are
  errors (the API server would silently prune them) except under
  ``x-kubernetes-preserve-unknown-fields`` or a schema-valued ``additionalProperties``; an
  ``object`` without ``properties`` is an empty struct, as the API server's pruning treats it.
  ``x-kubernetes-int-or-string``, ``nullable``, formats (with the API server's meaning),
  patterns (RE2, like Go) and ``x-kubernetes-list-type`` set/map uniqueness are honoured.
* Metadata of every object: name present, name/namespace/label/annotation syntax as the API
  server validates them, no namespace on cluster-scoped kinds.
* ``x-kubernetes-validations`` (CEL) rules, see below.

CEL rules
---------
Rules are evaluated with the ``common-expression-language`` package (module ``cel``, bindings to
cel-rust): it parses every rule in the pinned CRDs, ships cel-go's extension libraries
(strings, lists, sets, math) and is ~100x faster than ``cel-python``. The Kubernetes-specific
libraries the rules use (URL, IP/CIDR, quantity) are implemented here. Property names are
escaped the way the API server does (``namespace`` -> ``__namespace__``, ``-`` -> ``__dash__``
...), and string formats become CEL ``duration``/``timestamp``/``bytes`` values as in Kubernetes.

* Rules that use ``oldSelf`` are transition rules; there is no old object, so they are skipped.
* A rule that evaluates to ``false``, or fails at run time the way it would in the API server
  (missing key, index out of range, a function rejecting its argument), is reported as an error.
* A rule the library cannot evaluate (compile error, unknown function, a type mismatch that the
  API server's type checker would have ruled out, a non-boolean result) is reported as an error
  ("not evaluated here"): an object this model cannot check is not counted as valid. The fix is
  to teach the model the missing function (citing the Kubernetes CEL library it mirrors) or to
  rely on the API server oracle, which is authoritative. ``(crd name, rule)`` also goes into
  :data:`UNEVALUATED_RULES` (reason in :data:`UNEVALUATED_REASONS`);
  :func:`cel_rule_census` gives the static picture.
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import datetime
import difflib
import functools
import importlib.resources
import ipaddress
import json
import os
import re
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import cel
import cel.stdlib
import jsonschema
import yaml
from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from jsonschema.exceptions import best_match
from referencing import Registry, Resource

from tests.support.cel_errors import CEL_PARSE_ERROR, CEL_RUNTIME_ERRORS

try:  # The API server matches `pattern` with Go's RE2; google-re2 gives the same semantics.
    import re2 as _re2
except ImportError:  # pragma: no cover - fall back to Python's `re`
    _re2 = None

__all__ = [
    "KUBERNETES_VERSION",
    "UNEVALUATED_REASONS",
    "UNEVALUATED_RULES",
    "UPSTREAM_ENV",
    "CelCensus",
    "UpstreamDataMissing",
    "cel_rule_census",
    "crd_kinds",
    "upstream_dir",
    "validate_chart_values",
    "validate_object",
    "validate_objects",
]

#: Kubernetes minor whose core schemas are used (kubernetes-validate ships 1.25 .. 1.37).
KUBERNETES_VERSION = "1.34.0"
#: Environment variable that overrides the location of the upstream data.
UPSTREAM_ENV = "AGENTPLANE_UPSTREAM"

#: (CRD name, rule) pairs that were met during validation but could not be evaluated.
UNEVALUATED_RULES: set[tuple[str, str]] = set()
#: Why each entry of UNEVALUATED_RULES could not be evaluated.
UNEVALUATED_REASONS: dict[tuple[str, str], str] = {}


class UpstreamDataMissing(RuntimeError):
    """The pinned upstream data directory is not where it is expected."""


# --------------------------------------------------------------------------------------------
# Locating data
# --------------------------------------------------------------------------------------------


def upstream_dir() -> Path:
    """The upstream data directory: ``$AGENTPLANE_UPSTREAM`` or ``<repo root>/../shared/upstream``."""
    override = os.environ.get(UPSTREAM_ENV)
    if override:
        path = Path(override).expanduser().resolve()
    else:
        repo_root = Path(__file__).resolve().parents[2]
        path = (repo_root / ".." / "shared" / "upstream").resolve()
    if not (path / "crds").is_dir() or not (path / "charts").is_dir():
        raise UpstreamDataMissing(
            f"upstream schema data not found at {path} (expected crds/ and charts/ there); "
            f"set {UPSTREAM_ENV} to the directory holding the pinned upstream CRDs and charts"
        )
    return path


def _load_yaml_documents(path: Path) -> list[Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader is ~10x faster
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.load_all(handle, Loader=loader) if doc is not None]


def _load_yaml(path: Path) -> Any:
    docs = _load_yaml_documents(path)
    return docs[0] if docs else None


# --------------------------------------------------------------------------------------------
# Error formatting
# --------------------------------------------------------------------------------------------

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
_MAX_MESSAGE = 400


def _path_str(path: Iterable[str | int]) -> str:
    """``spec.rules[0].matches``; keys that are not plain words are quoted: ``labels["a.b/c"]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out or "(root)"


def _shorten(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 1] + "…"


def _unknown_keys(instance: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    known = schema.get("properties") or {}
    patterns = list((schema.get("patternProperties") or {}).keys())
    return [k for k in instance if k not in known and not any(re.search(p, k) for p in patterns)]


def _schema_errors(validator: Any, instance: Any, prefix: Sequence[str | int] = ()) -> list[tuple[str, str]]:
    """(path, message) pairs; unknown fields are reported one by one at their own path."""
    found: list[tuple[str, str]] = []
    for error in validator.iter_errors(instance):
        path = [*prefix, *error.absolute_path]
        if error.validator == "additionalProperties" and error.validator_value is False:
            for key in _unknown_keys(error.instance, error.schema):
                found.append((_path_str([*path, key]), f'unknown field "{key}"'))
            continue
        message = error.message
        if error.validator in ("anyOf", "oneOf") and error.context:
            closest = best_match(error.context)
            where = _path_str([*path, *closest.relative_path])
            message = f"{error.validator}: no alternative matches; closest: {where}: {closest.message}"
        found.append((_path_str(path), _shorten(message)))
    return found


# --------------------------------------------------------------------------------------------
# Formats, patterns, durations, quantities (shared by schema checks and CEL)
# --------------------------------------------------------------------------------------------

_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
_DURATION_PART = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|μs|ms|s|m|h|d|w)")


def _parse_duration(text: str) -> datetime.timedelta | None:
    """Go-style duration (plus d/w, which the API server's ``duration`` format also accepts)."""
    body = text.strip()
    sign = -1.0 if body.startswith("-") else 1.0
    body = body.lstrip("+-")
    if body == "0":
        return datetime.timedelta(0)
    seconds, pos = 0.0, 0
    for match in _DURATION_PART.finditer(body):
        if match.start() != pos:
            return None
        seconds += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(body):
        return None
    return datetime.timedelta(seconds=sign * seconds)


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _parse_datetime(text: str) -> datetime.datetime | None:
    if _RFC3339.match(text):
        try:
            return datetime.datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
        except ValueError:
            return None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC)
        except ValueError:
            return None
    return None


_QUANTITY = re.compile(
    r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$"
)
_QUANTITY_SUFFIX = {
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


def _parse_quantity(text: str) -> Decimal | None:
    match = _QUANTITY.match(text.strip()) if isinstance(text, str) else None
    if not match:
        return None
    number, suffix = Decimal(match.group(1)), match.group(2) or ""
    if len(suffix) > 1 and suffix[0] in "eE":  # an exponent; a bare "E" is exa
        return number * (Decimal(10) ** int(suffix[1:]))
    return number * _QUANTITY_SUFFIX[suffix]


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _is_ip(text: str, version: int | None = None) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return version is None or address.version == version


def _is_cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return "/" in text


_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$"
)


def _build_format_checker() -> FormatChecker:
    """Only the formats the API server checks, with its meaning (jsonschema's defaults differ
    and silently depend on optional packages)."""
    checker = FormatChecker(formats=())

    def is_int(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    def on_strings(check: Callable[[str], bool]) -> Callable[[Any], bool]:
        return lambda value: not isinstance(value, str) or check(value)

    checker.checks("int32")(lambda v: not is_int(v) or -(2**31) <= v < 2**31)
    checker.checks("int64")(lambda v: not is_int(v) or -(2**63) <= v < 2**63)
    checker.checks("byte")(on_strings(_is_base64))
    checker.checks("date-time")(on_strings(lambda s: _RFC3339.match(s) is not None and _parse_datetime(s) is not None))
    checker.checks("date")(
        on_strings(lambda s: re.fullmatch(r"\d{4}-\d{2}-\d{2}", s) is not None and _parse_datetime(s) is not None)
    )
    checker.checks("duration")(on_strings(lambda s: _parse_duration(s) is not None))
    checker.checks("ipv4")(on_strings(lambda s: _is_ip(s, 4)))
    checker.checks("ipv6")(on_strings(lambda s: _is_ip(s, 6)))
    checker.checks("cidr")(on_strings(_is_cidr))
    checker.checks("hostname")(on_strings(lambda s: _HOSTNAME.match(s) is not None))
    checker.checks("uuid")(on_strings(lambda s: _is_uuid(s)))
    checker.checks("uri")(on_strings(lambda s: _k8s_is_url(s)))
    return checker


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=4096)
def _compile_pattern(pattern: str) -> Callable[[str], Any]:
    if _re2 is not None:
        try:
            return _re2.compile(pattern).search
        except _re2.error as exc:
            # The API server compiles every schema pattern with Go's RE2 when the CRD is written
            # and refuses the CRD when it fails (kubernetes/apiextensions-apiserver@v0.34.10:
            # pkg/apiserver/schema/validation.go, "must be a valid regular expression"): such
            # a pattern cannot be in a served CRD, so it is not emulated.
            raise ValueError(f"schema pattern {pattern!r} is not RE2 syntax: {exc}") from exc
    return re.compile(pattern).search


def _pattern_keyword(
    validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if isinstance(instance, str) and not _compile_pattern(pattern)(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# --------------------------------------------------------------------------------------------
# Kubernetes CEL libraries the rules use (https://kubernetes.io/docs/reference/using-api/cel/)
# --------------------------------------------------------------------------------------------


def _require_str(value: Any, function: str) -> str:
    if not isinstance(value, str):
        # TypeError (not ValueError) so the evaluator classifies it as a library mismatch.
        raise TypeError(f"{function}() expects a string, got {type(value).__name__}")
    return value


def _k8s_is_url(value: Any) -> bool:
    """Go's url.ParseRequestURI: an absolute URI or an absolute path, no whitespace."""
    text = _require_str(value, "isURL")
    if not text or any(ch.isspace() or ord(ch) < 0x20 for ch in text):
        return False
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    return bool(parts.scheme) or text.startswith("/")


def _k8s_url(value: Any) -> str:
    # The URL "object" is its string; the accessors below parse it again.
    if not _k8s_is_url(value):
        raise ValueError(f"URL parse error: {value!r} is not an absolute URI or absolute path")
    return str(value)


def _url_host(value: Any) -> str:
    return urllib.parse.urlsplit(_require_str(value, "getHost")).netloc.rpartition("@")[2]


def _url_hostname(value: Any) -> str:
    host = _url_host(value)
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host[1:]
    return host.partition(":")[0]


def _url_port(value: Any) -> str:
    host = _url_host(value)
    tail = host[host.find("]") + 1 :] if host.startswith("[") else host
    return tail.partition(":")[2]


def _k8s_quantity(value: Any) -> str:
    # The quantity "object" is its canonical string; comparisons parse it again.
    text = _require_str(value, "quantity")
    if _parse_quantity(text) is None:
        raise ValueError(f"quantities must match the regular expression: {text!r}")
    return text


def _quantity_value(value: Any) -> Decimal:
    parsed = _parse_quantity(_require_str(value, "quantity"))
    if parsed is None:
        raise ValueError(f"invalid quantity {value!r}")
    return parsed


def _k8s_cel_functions() -> dict[str, Callable[..., Any]]:
    return {
        # CEL's standard library declares `matches` both as `s.matches(re)` and as the global
        # `matches(s, re)` (overloads matches_string / string_matches_string in
        # google/cel-go@v0.26.0:common/stdlib/standard.go): an RE2 search, unanchored.
        "matches": lambda s, pattern: bool(
            _compile_pattern(_require_str(pattern, "matches"))(_require_str(s, "matches"))
        ),
        "isURL": _k8s_is_url,
        "url": _k8s_url,
        "getScheme": lambda u: urllib.parse.urlsplit(_require_str(u, "getScheme")).scheme,
        "getHost": _url_host,
        "getHostname": _url_hostname,
        "getPort": _url_port,
        "getEscapedPath": lambda u: urllib.parse.urlsplit(_require_str(u, "getEscapedPath")).path,
        "isIP": lambda s: _is_ip(_require_str(s, "isIP")),
        "isCIDR": lambda s: _is_cidr(_require_str(s, "isCIDR")),
        "quantity": _k8s_quantity,
        "isQuantity": lambda s: _parse_quantity(_require_str(s, "isQuantity")) is not None,
        "isGreaterThan": lambda a, b: _quantity_value(a) > _quantity_value(b),
        "isLessThan": lambda a, b: _quantity_value(a) < _quantity_value(b),
        "compareTo": lambda a, b: (_quantity_value(a) > _quantity_value(b)) - (_quantity_value(a) < _quantity_value(b)),
        "asApproximateFloat": lambda q: float(_quantity_value(q)),
    }


# Functions cel-rust provides natively (macros are expanded by its parser and never show up).
_CEL_NATIVE_FUNCTIONS = frozenset(
    "size contains startsWith endsWith matches int uint double string bytes bool duration "
    "timestamp type dyn has max min getFullYear getMonth getDayOfYear getDayOfMonth getDate "
    "getDayOfWeek getHours getMinutes getSeconds getMilliseconds".split()
)


@functools.lru_cache(maxsize=1)
def _cel_context() -> cel.Context:
    """One shared context: the library and Kubernetes functions; `self` is rebound per rule."""
    context = cel.Context()
    cel.stdlib.add_stdlib_to_context(context)
    for name, function in _k8s_cel_functions().items():
        context.add_function(name, function)
    return context


@functools.cache
def _compile_rule(rule: str) -> Any:
    """A compiled program, or the compile error message (cached either way)."""
    try:
        return cel.compile(rule)
    except CEL_PARSE_ERROR as exc:  # "Failed to parse expression ..."
        return f"compile error: {exc}"


_OLD_SELF = re.compile(r"\boldSelf\b")
_CEL_RESERVED = frozenset(
    "true false null in as break const continue else for function if import let loop package "
    "namespace return var void while".split()
)
_CEL_ESCAPES = re.compile(r"__|[./-]")


@functools.lru_cache(maxsize=4096)
def _cel_property_name(name: str) -> str | None:
    """The API server's escaping of property names for CEL; None when not accessible."""
    if not name or name[0].isdigit():
        return None
    if name in _CEL_RESERVED:
        return f"__{name}__"
    if not re.fullmatch(r"[A-Za-z0-9_./-]+", name):
        return None
    if not re.search(r"[./-]", name):
        return name
    names = {"__": "__underscores__", ".": "__dot__", "-": "__dash__", "/": "__slash__"}
    return _CEL_ESCAPES.sub(lambda m: names[m.group(0)], name)


def _schema_types(schema: Mapping[str, Any]) -> list[str]:
    declared = schema.get("type")
    if declared is None:
        return []
    return list(declared) if isinstance(declared, list) else [declared]


def _to_cel(value: Any, schema: Mapping[str, Any]) -> Any:
    """Object value -> CEL input, typed like the API server types it from the schema."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        converted: dict[str, Any] = {}
        for key, item in value.items():
            if key in properties:
                escaped = _cel_property_name(key)
                if escaped is not None:
                    converted[escaped] = _to_cel(item, properties[key])
            elif isinstance(additional, dict):
                converted[key] = _to_cel(item, additional)
            else:
                converted[key] = item
        return converted
    if isinstance(value, list):
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        return [_to_cel(item, items) for item in value]
    if isinstance(value, int) and "number" in _schema_types(schema):
        return float(value)
    if isinstance(value, str):
        fmt = schema.get("format")
        if fmt == "byte" and _is_base64(value):
            return base64.b64decode(value)
        if fmt == "duration":
            parsed = _parse_duration(value)
            return value if parsed is None else parsed
        if fmt in ("date", "date-time"):
            parsed_time = _parse_datetime(value)
            return value if parsed_time is None else parsed_time
    return value


def _note_unevaluated(crd: str, rule: str, reason: str) -> tuple[bool, str]:
    """Register the rule and fail the object: what cannot be checked here is not valid here."""
    key = (crd, rule)
    UNEVALUATED_RULES.add(key)
    UNEVALUATED_REASONS.setdefault(key, reason)
    return False, f"CEL rule not evaluated here ({reason}): {rule}"


def _run_rule(crd: str, rule: str, value: Any) -> tuple[bool, str | None]:
    """(passed, error). Unevaluable rules fail and are registered."""
    program = _compile_rule(rule)
    if isinstance(program, str):
        return _note_unevaluated(crd, rule, program)
    context = _cel_context()
    context.add_variable("self", value)
    try:
        result = program.execute(context)
    except KeyError as exc:  # the API server fails the same way on a missing field
        return False, f"no such key: {exc.args[0] if exc.args else exc}"
    except (IndexError, ZeroDivisionError) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    except RuntimeError as exc:
        text = str(exc)
        genuine = "Undefined variable or function" not in text and (
            "Python function call failed" not in text or "ValueError" in text
        )
        if genuine:  # e.g. duration('1x'), url('not a url'): invalid input, not a library gap
            return False, text.split(". Check function arguments")[0]
        return _note_unevaluated(crd, rule, text.splitlines()[0])
    except TypeError as exc:  # a type mismatch: the library differs from the API server's checker
        return _note_unevaluated(crd, rule, f"TypeError: {str(exc).splitlines()[0] if str(exc) else ''}")
    if isinstance(result, bool):
        return result, None
    return _note_unevaluated(crd, rule, f"non-boolean result {result!r}")


def _rule_message(spec: Mapping[str, Any], value: Any) -> str:
    expression = spec.get("messageExpression")
    if expression:
        program = _compile_rule(expression)
        if not isinstance(program, str):
            context = _cel_context()
            context.add_variable("self", value)
            try:
                message = program.execute(context)
            except CEL_RUNTIME_ERRORS:
                # A messageExpression that fails at run time falls back to `message`
                # (kubernetes/apiextensions-apiserver@v0.34.10:pkg/apiserver/schema/cel/
                # validation.go: "messageExpression evaluation failed" is logged and
                # ruleMessageOrDefault reported).
                message = None
            if isinstance(message, str) and message.strip():
                return message
    return spec.get("message") or f"failed rule: {spec['rule']}"


_FIELD_PATH_PART = re.compile(r"\.([A-Za-z0-9_-]+)|\['([^']*)'\]|\[(\d+)\]")


def _parse_field_path(field_path: str) -> list[str | int]:
    """A rule's fieldPath (".spec.foo", "['a.b']", "[0]") as path segments."""
    parts: list[str | int] = []
    for match in _FIELD_PATH_PART.finditer(field_path):
        name, quoted, index = match.groups()
        parts.append(int(index) if index is not None else (name if name is not None else quoted))
    return parts


def _cel_keyword(
    validator: Any, spec: Mapping[str, Any], instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if instance is None:
        return
    types = _schema_types(schema)
    # The API server does not run CEL on a value whose type is already wrong.
    if types and not any(validator.is_type(instance, t) for t in types):
        return
    crd = spec["crd"]
    value = _to_cel(instance, schema)
    for rule_spec in spec["rules"]:
        rule = rule_spec["rule"]
        if _OLD_SELF.search(rule):
            continue  # transition rule: needs the previous version of the object
        passed, failure = _run_rule(crd, rule, value)
        if passed:
            continue
        message = failure or _rule_message(rule_spec, value)
        error = ValidationError(_shorten(f"{message} (x-kubernetes-validations rule: {rule.strip()})"))
        error.path.extend(_parse_field_path(rule_spec.get("fieldPath") or ""))
        yield error


def _list_type_keyword(
    validator: Any, list_type: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    """x-kubernetes-list-type set/map: the API server rejects duplicates."""
    if not isinstance(instance, list) or list_type not in ("set", "map"):
        return
    keys = schema.get("x-kubernetes-list-map-keys") or []
    seen: set[str] = set()
    for index, item in enumerate(instance):
        if list_type == "map" and isinstance(item, dict):
            identity: Any = {k: item.get(k) for k in keys}
        else:
            identity = item
        marker = json.dumps(identity, sort_keys=True, default=str)
        if marker in seen:
            error = ValidationError(f"duplicate entry {marker} in a list of type {list_type}")
            error.path.append(index)
            yield error
        seen.add(marker)


_FORMATS = _build_format_checker()
_CoreValidator = jsonschema.validators.extend(Draft202012Validator, {"pattern": _pattern_keyword})
_CrdValidator = jsonschema.validators.extend(
    Draft202012Validator,
    {
        "pattern": _pattern_keyword,
        "x-agentplane-cel": _cel_keyword,
        "x-kubernetes-list-type": _list_type_keyword,
    },
)


# --------------------------------------------------------------------------------------------
# Core Kubernetes schemas (kubernetes-validate)
# --------------------------------------------------------------------------------------------

_K8S_DEFS_ID = "https://kubernetes.io/api/_definitions.json"
# k8s.io/apimachinery/pkg/api/resource: sign, digits, then a binary/decimal suffix or an exponent.
_QUANTITY_PATTERN = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
_OBJECT_META_REF = f"{_K8S_DEFS_ID}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


@functools.lru_cache(maxsize=1)
def _core_definitions() -> tuple[dict[tuple[str, str, str], str], Registry]:
    """(group, version, kind) -> definition name, and a registry holding the definitions.

    Indexed by the definitions' own x-kubernetes-group-version-kind rather than by
    kubernetes-validate's file naming, which drops the group's domain (so it could confuse
    e.g. networking.k8s.io with a custom networking.example.com)."""
    schema_dir = f"v{KUBERNETES_VERSION}-local-strict"
    resource = importlib.resources.files("kubernetes_validate").joinpath(
        "kubernetes-json-schema", schema_dir, "_definitions.json"
    )
    if not resource.is_file():
        raise UpstreamDataMissing(f"kubernetes-validate has no strict schemas for {KUBERNETES_VERSION} ({schema_dir})")
    definitions = json.loads(resource.read_text(encoding="utf-8"))
    # The bundled schema accepts any string as a Quantity; the API server accepts only the
    # apimachinery grammar, so a quota of "ten" pods must fail here as it would there.
    definitions["$defs"]["io.k8s.apimachinery.pkg.api.resource.Quantity"] = {
        "oneOf": [{"type": "string", "pattern": _QUANTITY_PATTERN}, {"type": "number"}]
    }
    index: dict[tuple[str, str, str], str] = {}
    for name, definition in definitions["$defs"].items():
        for gvk in definition.get("x-kubernetes-group-version-kind") or []:
            index.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    registry = Registry().with_resource(_K8S_DEFS_ID, Resource.from_contents(definitions))
    return index, registry


@functools.cache
def _core_validator(definition: str) -> Any:
    _, registry = _core_definitions()
    schema = {"$ref": f"{_K8S_DEFS_ID}#/$defs/{definition}"}
    return _CoreValidator(schema, registry=registry, format_checker=_FORMATS)


# Cluster-scoped built-in kinds (a namespace on them is dropped by the API server: a bug here).
_CLUSTER_SCOPED_CORE = frozenset(
    {
        ("", "Namespace"),
        ("", "Node"),
        ("", "PersistentVolume"),
        ("", "ComponentStatus"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSINode"),
        ("storage.k8s.io", "VolumeAttachment"),
        ("storage.k8s.io", "VolumeAttributesClass"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("apiregistration.k8s.io", "APIService"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("node.k8s.io", "RuntimeClass"),
        ("networking.k8s.io", "IngressClass"),
        ("networking.k8s.io", "IPAddress"),
        ("networking.k8s.io", "ServiceCIDR"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("certificates.k8s.io", "ClusterTrustBundle"),
        ("resource.k8s.io", "DeviceClass"),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
    }
)


# --------------------------------------------------------------------------------------------
# CRDs
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _CrdVersion:
    name: str
    served: bool
    storage: bool
    deprecated: bool
    deprecation_warning: str | None
    schema: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class _Crd:
    name: str
    group: str
    kind: str
    scope: str
    versions: Mapping[str, _CrdVersion]
    source: Path


@functools.cache
def _crd_index(root: Path) -> dict[tuple[str, str], _Crd]:
    """(group, kind) -> CRD, from every document of every file under crds/."""
    index: dict[tuple[str, str], _Crd] = {}
    for path in sorted((root / "crds").rglob("*.y*ml")):
        for doc in _load_yaml_documents(path):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            versions = {
                v["name"]: _CrdVersion(
                    name=v["name"],
                    served=bool(v.get("served")),
                    storage=bool(v.get("storage")),
                    deprecated=bool(v.get("deprecated")),
                    deprecation_warning=v.get("deprecationWarning"),
                    # Since apiextensions/v1 schemas are per version; v1beta1 had one shared.
                    schema=(v.get("schema") or spec.get("validation") or {}).get("openAPIV3Schema") or {},
                )
                for v in spec["versions"]
            }
            key = (spec["group"], spec["names"]["kind"])
            if key in index:
                raise ValueError(f"{path}: CRD for {key[0]} {key[1]} also defined in {index[key].source}")
            index[key] = _Crd(
                name=doc["metadata"]["name"],
                group=spec["group"],
                kind=spec["names"]["kind"],
                scope=spec.get("scope", "Namespaced"),
                versions=versions,
                source=path,
            )
    return index


_DROPPED_KEYS = frozenset({"description", "default", "example", "externalDocs", "title"})
_REBUILT_KEYS = frozenset(
    {
        "properties",
        "additionalProperties",
        "items",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "type",
        "x-kubernetes-validations",
    }
)


def _to_json_schema(node: Mapping[str, Any], crd: str, *, closed: bool = True) -> dict[str, Any]:
    """Structural OpenAPI v3 (CRD dialect) -> JSON Schema 2020-12 with our keywords.

    `closed` is False inside allOf/anyOf/oneOf/not: those hold value validations only, the
    fields themselves are declared (and closed) on the enclosing structural node."""
    out: dict[str, Any] = {k: v for k, v in node.items() if k not in _DROPPED_KEYS and k not in _REBUILT_KEYS}
    if isinstance(node.get("properties"), dict):
        out["properties"] = {k: _to_json_schema(v, crd, closed=closed) for k, v in node["properties"].items()}
    additional = node.get("additionalProperties")
    if isinstance(additional, dict):
        out["additionalProperties"] = _to_json_schema(additional, crd, closed=closed)
    elif additional is not None:
        out["additionalProperties"] = additional
    if isinstance(node.get("items"), dict):
        out["items"] = _to_json_schema(node["items"], crd, closed=closed)
    for combinator in ("allOf", "anyOf", "oneOf"):
        if combinator in node:
            out[combinator] = [_to_json_schema(s, crd, closed=False) for s in node[combinator]]
    if "not" in node:
        out["not"] = _to_json_schema(node["not"], crd, closed=False)

    types: list[str] = []
    if node.get("x-kubernetes-int-or-string"):
        types = ["integer", "string"]
    elif "type" in node:
        types = [node["type"]]
    if types and node.get("nullable"):
        types.append("null")
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    if types:
        out["type"] = types[0] if len(types) == 1 else types

    if node.get("x-kubernetes-embedded-resource"):
        properties = out.setdefault("properties", {})
        properties.setdefault("apiVersion", {"type": "string"})
        properties.setdefault("kind", {"type": "string"})
        properties["metadata"] = {**properties.get("metadata", {}), "$ref": _OBJECT_META_REF}
        properties["metadata"].pop("additionalProperties", None)
    if (
        closed
        and node.get("type") == "object"
        and additional is None
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        # Unknown fields would be pruned by the API server; strict validation rejects them.
        out["additionalProperties"] = False
    if node.get("x-kubernetes-validations"):
        out["x-agentplane-cel"] = {"crd": crd, "rules": list(node["x-kubernetes-validations"])}
    return out


def _root_schema(raw: Mapping[str, Any], crd: str) -> dict[str, Any]:
    raw_properties = raw.get("properties") or {}
    body = {**raw, "properties": {k: v for k, v in raw_properties.items() if k != "metadata"}}
    schema = _to_json_schema(body, crd)
    properties = schema["properties"]
    properties.setdefault("apiVersion", {"type": "string"})
    properties.setdefault("kind", {"type": "string"})
    # Root metadata is always an ObjectMeta, whatever (little) the CRD says about it.
    metadata = _to_json_schema(raw_properties.get("metadata") or {}, crd, closed=False)
    metadata.pop("type", None)
    properties["metadata"] = {**metadata, "$ref": _OBJECT_META_REF}
    return schema


@functools.cache
def _crd_validator(root: Path, group: str, kind: str, version: str) -> Any:
    crd = _crd_index(root)[(group, kind)]
    _, registry = _core_definitions()
    schema = _root_schema(crd.versions[version].schema, crd.name)
    return _CrdValidator(schema, registry=registry, format_checker=_FORMATS)


def _apply_defaults(value: Any, schema: Mapping[str, Any]) -> None:
    """Structural defaulting, as the API server does before validating a custom resource."""
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for key, sub in properties.items():
            if "default" in sub and (key not in value or (value[key] is None and not sub.get("nullable"))):
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                _apply_defaults(value[key], sub)
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            for key, item in value.items():
                if key not in properties:
                    _apply_defaults(item, additional)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _apply_defaults(item, schema["items"])


def crd_kinds() -> set[tuple[str, str]]:
    """(apiVersion, kind) for every served version of every upstream CRD."""
    return {
        (f"{crd.group}/{version.name}", crd.kind)
        for crd in _crd_index(upstream_dir()).values()
        for version in crd.versions.values()
        if version.served
    }


# --------------------------------------------------------------------------------------------
# Metadata (apimachinery ValidateObjectMeta, the parts a generator can get wrong)
# --------------------------------------------------------------------------------------------

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_RBAC_KINDS = frozenset({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"})
_ANNOTATIONS_MAX_BYTES = 256 * 1024


def _name_problem(group: str, kind: str, name: str) -> str | None:
    if group == "rbac.authorization.k8s.io" and kind in _RBAC_KINDS:
        # RBAC names are path segments (e.g. "system:aggregate-to-view").
        if name in (".", "..") or "/" in name or "%" in name:
            return f"{name!r} is not a valid path segment name"
        return None
    if group == "" and kind == "Service":
        if len(name) > 63 or not _DNS1035_LABEL.match(name):
            return (
                f"{name!r} must be a DNS-1035 label (lowercase alphanumerics and '-', starting with a letter, at "
                "most 63 characters)"
            )
        return None
    if group == "" and kind == "Namespace":
        if len(name) > 63 or not _DNS1123_LABEL.match(name):
            return f"{name!r} must be a DNS-1123 label (lowercase alphanumerics and '-', at most 63 characters)"
        return None
    if len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        return f"{name!r} must be a DNS-1123 subdomain (lowercase alphanumerics, '-' and '.', at most 253 characters)"
    if group == "batch" and kind == "CronJob" and len(name) > 52:
        return f"{name!r} must be no more than 52 characters (job names get a suffix)"
    return None


def _qualified_name_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        return f"prefix of {key!r} must be a DNS-1123 subdomain"
    if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
        return (
            f"{key!r} is not a qualified name (alphanumerics, '-', '_', '.', at most 63 characters, optional DNS "
            "prefix)"
        )
    return None


def _metadata_errors(
    obj: Mapping[str, Any], group: str, kind: str, cluster_scoped: bool | None
) -> list[tuple[str, str]]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return [("metadata", "metadata is required")]
    errors: list[tuple[str, str]] = []
    name = meta.get("name")
    if name is None or name == "":
        if not meta.get("generateName"):
            errors.append(("metadata.name", "name or generateName is required"))
    elif isinstance(name, str):
        problem = _name_problem(group, kind, name)
        if problem:
            errors.append(("metadata.name", problem))
    namespace = meta.get("namespace")
    if isinstance(namespace, str) and namespace:
        if cluster_scoped:
            errors.append(("metadata.namespace", f"{kind} is cluster-scoped; the API server drops metadata.namespace"))
        elif len(namespace) > 63 or not _DNS1123_LABEL.match(namespace):
            errors.append(("metadata.namespace", f"{namespace!r} must be a DNS-1123 label"))
    labels = meta.get("labels")
    if isinstance(labels, dict):
        for key, value in labels.items():
            path = _path_str(["metadata", "labels", key])
            problem = _qualified_name_problem(str(key))
            if problem:
                errors.append((path, f"label key: {problem}"))
            if isinstance(value, str) and (len(value) > 63 or not _LABEL_VALUE.match(value)):
                errors.append(
                    (
                        path,
                        f"label value {value!r} must be at most 63 alphanumerics, '-', '_' or '.', starting "
                        "and ending alphanumeric",
                    )
                )
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        for key in annotations:
            problem = _qualified_name_problem(str(key).lower())  # annotation keys are case-insensitive here
            if problem:
                errors.append((_path_str(["metadata", "annotations", key]), f"annotation key: {problem}"))
        size = sum(len(str(k)) + len(str(v)) for k, v in annotations.items())
        if size > _ANNOTATIONS_MAX_BYTES:
            errors.append(
                ("metadata.annotations", f"annotations total {size} bytes, more than {_ANNOTATIONS_MAX_BYTES}")
            )
    return errors


# --------------------------------------------------------------------------------------------
# Objects
# --------------------------------------------------------------------------------------------


def _split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def validate_object(obj: dict) -> list[str]:
    """Errors of one Kubernetes object against the pinned upstream schemas; [] when valid.

    Each error reads ``"<apiVersion> <kind> <namespace>/<name>: <path>: <message>"`` (the
    namespace is empty for cluster-scoped objects). See the module docstring for what is
    checked, and for how CEL rules that cannot be evaluated are handled (registered in
    UNEVALUATED_RULES and warned about, not returned as errors)."""
    if not isinstance(obj, Mapping):
        return [f"? ? /?: (root): expected a mapping, got {type(obj).__name__}"]
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
    prefix = f"{api_version} {kind} {meta.get('namespace') or ''}/{meta.get('name') or meta.get('generateName') or ''}"

    def report(found: Iterable[tuple[str, str]]) -> list[str]:
        return [f"{prefix}: {path}: {message}" for path, message in found]

    if not isinstance(api_version, str) or not isinstance(kind, str) or not api_version or not kind:
        return report([("(root)", "apiVersion and kind must be non-empty strings")])
    group, version = _split_api_version(api_version)

    crd = _crd_index(upstream_dir()).get((group, kind))
    if crd is not None:
        crd_version = crd.versions.get(version)
        if crd_version is None or not crd_version.served:
            served = sorted(v.name for v in crd.versions.values() if v.served)
            state = "not defined" if crd_version is None else "not served"
            return report(
                [("apiVersion", f"version {version!r} is {state} by CRD {crd.name} (served: {', '.join(served)})")]
            )
        if crd_version.deprecated:
            # The API server serves it with a Warning header; the platform must not render a
            # version its pinned CRD already deprecates, so here that is an error, not a warning.
            return report(
                [
                    (
                        "apiVersion",
                        f"{api_version} {kind} is deprecated: {crd_version.deprecation_warning or 'see the CRD'}",
                    )
                ]
            )
        defaulted = copy.deepcopy(dict(obj))
        body_schema = {k: v for k, v in (crd_version.schema.get("properties") or {}).items() if k != "metadata"}
        _apply_defaults(defaulted, {"properties": body_schema})
        validator = _crd_validator(upstream_dir(), group, kind, version)
        found = _metadata_errors(obj, group, kind, crd.scope == "Cluster") + _schema_errors(validator, defaulted)
        return report(_dedupe(found))

    index, _ = _core_definitions()
    definition = index.get((group, version, kind))
    if definition is None:
        return report([("(root)", f"no known schema for {api_version} {kind}")])
    found = _metadata_errors(obj, group, kind, (group, kind) in _CLUSTER_SCOPED_CORE)
    found += _schema_errors(_core_validator(definition), obj)
    return report(_dedupe(found))


def _dedupe(found: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(found))


def validate_objects(objs: Iterable[dict]) -> list[str]:
    """validate_object over many objects, errors concatenated in input order."""
    errors: list[str] = []
    for obj in objs:
        errors.extend(validate_object(obj))
    return errors


# --------------------------------------------------------------------------------------------
# CEL census
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CelCensus:
    """Static view of the CEL rules of every served CRD version, per distinct (crd, rule)."""

    total: int
    transition: tuple[tuple[str, str], ...]  # use oldSelf: skipped, no old object
    compile_errors: tuple[tuple[str, str, str], ...]  # (crd, rule, error)
    missing_functions: tuple[tuple[str, str, str], ...]  # (crd, rule, function names)

    @property
    def evaluable(self) -> int:
        return self.total - len(self.transition) - len(self.compile_errors) - len(self.missing_functions)


def _iter_rules(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for rule in node.get("x-kubernetes-validations") or []:
            yield rule["rule"]
        for key, value in node.items():
            if key != "x-kubernetes-validations":
                yield from _iter_rules(value)
    elif isinstance(node, list):
        for item in node:
            yield from _iter_rules(item)


def cel_rule_census() -> CelCensus:
    """Which rules can be evaluated at all: compiled, and only using functions we provide."""
    pairs = sorted(
        {
            (crd.name, rule)
            for crd in _crd_index(upstream_dir()).values()
            for version in crd.versions.values()
            if version.served
            for rule in _iter_rules(version.schema)
        }
    )
    known = _CEL_NATIVE_FUNCTIONS | set(_cel_context().functions)
    transition, compile_errors, missing = [], [], []
    for crd, rule in pairs:
        if _OLD_SELF.search(rule):
            transition.append((crd, rule))
            continue
        program = _compile_rule(rule)
        if isinstance(program, str):
            compile_errors.append((crd, rule, program))
            continue
        unknown = sorted(f for f in program.functions() if f not in known and not f.startswith(("_", "@", "!")))
        if unknown:
            missing.append((crd, rule, ", ".join(unknown)))
    return CelCensus(len(pairs), tuple(transition), tuple(compile_errors), tuple(missing))


# --------------------------------------------------------------------------------------------
# Helm chart values
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Chart:
    label: str
    defaults: Mapping[str, Any]
    validator: Any | None  # for values.schema.json, when shipped
    dependencies: tuple[Mapping[str, Any], ...]


@functools.cache
def _load_chart(directory: Path) -> _Chart:
    defaults = _load_yaml(directory / "values.yaml") or {}
    validator = None
    schema_path = directory / "values.schema.json"
    if schema_path.is_file():
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
        # Helm's validator defaults to the latest draft when $schema is absent or generic.
        cls = jsonschema.validators.validator_for(schema, default=Draft202012Validator)
        validator = cls(schema)
    chart_yaml = directory / "Chart.yaml"
    metadata = (_load_yaml(chart_yaml) or {}) if chart_yaml.is_file() else {}
    return _Chart(directory.name, defaults, validator, tuple(metadata.get("dependencies") or ()))


@dataclasses.dataclass(frozen=True)
class _Subchart:
    alias: str
    chart: _Chart
    condition: str | None


def _subcharts(root: Path, label: str, parent: _Chart) -> dict[str, _Subchart]:
    """Shipped subcharts of `label`, keyed by the name (or alias) the parent's values use."""
    directory = root / "charts" / f"{label}-subcharts"
    if not directory.is_dir():
        return {}
    by_name: dict[str, _Chart] = {}
    for sub_dir in sorted(p for p in directory.iterdir() if p.is_dir()):
        chart_yaml = sub_dir / "Chart.yaml"
        name = (_load_yaml(chart_yaml) or {}).get("name") if chart_yaml.is_file() else None
        by_name[name or sub_dir.name.rsplit("-", 1)[0]] = _load_chart(sub_dir)
    if not parent.dependencies:
        return {name: _Subchart(name, chart, None) for name, chart in by_name.items()}
    result: dict[str, _Subchart] = {}
    for dependency in parent.dependencies:
        chart = by_name.get(dependency.get("name", ""))
        if chart is not None:
            alias = dependency.get("alias") or dependency["name"]
            result[alias] = _Subchart(alias, chart, dependency.get("condition"))
    return result


def _coalesce(base: Any, override: Any) -> Any:
    """Helm's merge of user values over defaults: maps merge, null deletes, the rest replaces
    (helm/helm@v3.19.0:pkg/chartutil/coalesce.go coalesceTablesFullKey: a user value of null
    deletes the chart's key, a table merges into a table, anything else wins over the default)."""
    if not isinstance(base, Mapping) or not isinstance(override, Mapping):
        return override
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif key in merged:
            merged[key] = _coalesce(merged[key], value)
        else:
            merged[key] = value
    return merged


def _lookup(values: Mapping[str, Any], dotted: str) -> Any:
    current: Any = values
    for part in dotted.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def _enabled(condition: str | None, values: Mapping[str, Any]) -> bool:
    """Helm's dependency condition: first path that resolves to a bool wins; default enabled."""
    for path in (condition or "").split(","):
        value = _lookup(values, path.strip()) if path.strip() else None
        if isinstance(value, bool):
            return value
    return True


def _kind_of(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__} ({value!r})"


def _key_errors(
    values: Mapping[str, Any],
    defaults: Any,
    path: tuple[str, ...],
    free_form: Sequence[tuple[str, ...]],
) -> Iterator[tuple[str, str]]:
    """Every key the project sets must exist in the chart's defaults (see validate_chart_values)."""
    for key, value in values.items():
        here = (*path, str(key))
        if any(here[: len(prefix)] == prefix for prefix in free_form):
            continue
        if not isinstance(defaults, Mapping) or key not in defaults:
            siblings = list(defaults.keys()) if isinstance(defaults, Mapping) else []
            hint = difflib.get_close_matches(str(key), [str(s) for s in siblings], n=1)
            suggestion = f"; did you mean {'.'.join((*path, hint[0]))!r}?" if hint else ""
            yield _path_str(here), f"key not present in the chart's default values.yaml{suggestion}"
            continue
        default = defaults[key]
        if value is None or default is None or isinstance(default, list):
            continue  # null deletes / unknown structure / list items are free-form
        if isinstance(default, Mapping):
            if isinstance(value, Mapping):
                if default:  # an empty {} default is a free-form map
                    yield from _key_errors(value, default, here, free_form)
            elif default:
                yield _path_str(here), f"chart default is a mapping, project sets {_kind_of(value)}"
        elif isinstance(value, Mapping):
            yield _path_str(here), f"chart default is {_kind_of(default)}, project sets a mapping"


def validate_chart_values(chart: str, version: str, values: dict, *, free_form: Iterable[str] = ()) -> list[str]:
    """Errors in the values the project passes to a pinned upstream chart; [] when valid.

    * values.schema.json, where shipped, is checked like Helm does: against the chart defaults
      with the project's values merged over them (so ``required`` top-level keys are satisfied).
    * Every key path the project sets must exist in the chart's values.yaml, except below a
      dotted prefix in `free_form`, below an empty-mapping default ``{}`` or a null default,
      and inside lists.
    * Subcharts shipped in ``charts/<chart>-<version>-subcharts/`` (spire): keys under a
      subchart's name or alias are checked against that subchart's values (plus what the parent
      sets for it) and schema; ``global`` and everything else against the parent.

    Each error reads ``"chart <chart>-<version>: <dotted.key.path>: <problem>"``."""
    root = upstream_dir()
    label = f"{chart}-{version}"
    directory = root / "charts" / label
    if not (directory / "values.yaml").is_file():
        available = sorted(p.name for p in (root / "charts").iterdir() if (p / "values.yaml").is_file())
        raise FileNotFoundError(f"no pinned chart {label} in {root / 'charts'}; available: {', '.join(available)}")
    if not isinstance(values, Mapping):
        return [f"chart {label}: (root): values must be a mapping, got {type(values).__name__}"]
    parent = _load_chart(directory)
    subcharts = _subcharts(root, label, parent)
    prefixes = [tuple(p.split(".")) for p in free_form]

    found: list[tuple[str, str]] = []
    for key, value in values.items():
        sub = subcharts.get(key)
        if sub is not None and isinstance(value, Mapping):
            # What the parent's values.yaml sets for the subchart is part of its defaults.
            sub_defaults = _coalesce(sub.chart.defaults, parent.defaults.get(key) or {})
            found.extend(_key_errors(value, sub_defaults, (key,), prefixes))
        else:
            found.extend(_key_errors({key: value}, parent.defaults, (), prefixes))

    merged = _coalesce(parent.defaults, values)
    if parent.validator is not None:
        found.extend(_schema_errors(parent.validator, merged))
    for alias, sub in subcharts.items():
        if sub.chart.validator is None or not _enabled(sub.condition, merged):
            continue
        sub_values = _coalesce(sub.chart.defaults, merged.get(alias) or {})
        sub_values = {**sub_values, "global": _coalesce(sub_values.get("global") or {}, merged.get("global") or {})}
        found.extend(_schema_errors(sub.chart.validator, sub_values, (alias,)))
    return [f"chart {label}: {path}: {message}" for path, message in _dedupe(found)]
