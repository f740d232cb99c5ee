"""The configuration reference tables, generated from the config models' field docstrings.

Each generated table sits in a docs page between `<!-- generated: NAME -->` and
`<!-- end generated: NAME -->`; everything around them is hand-written prose and stays.
A field's docstring (see StrictModel's `use_attribute_docstrings`) is its meaning; a sentence
starting with "Default:" replaces the default the model declares (for computed defaults).

  python -m agentplane.reference           exit 1 and name the stale pages
  python -m agentplane.reference --write   rewrite them (a test fails while a page is stale)
"""

from __future__ import annotations

import argparse
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from agentplane.config.environment import EnvironmentConfig, Tier
from agentplane.config.sections.adopt import AdoptConfig
from agentplane.config.sections.certificates import CertificatesConfig
from agentplane.config.sections.gateway import GatewayConfig
from agentplane.config.sections.identity import IdentityConfig
from agentplane.config.sections.images import ImagesConfig
from agentplane.config.sections.provenance import ProvenanceConfig
from agentplane.config.sections.telemetry import TelemetryConfig
from agentplane.config.sections.tenants import TenancyConfig
from agentplane.config.sections.workload_identity import WorkloadIdentityConfig
from agentplane.config.team import Agent, TeamFile

PIECE = ("key", "default", "meaning")
# name -> (page, model, key prefix, columns). A table with the columns of PIECE flattens
# nested sections into dotted keys (`rootCa.duration`, `tiers.<tier>.jwtSvidTtl`).
TABLES: dict[str, tuple[str, type[BaseModel], str, tuple[str, ...]]] = {
    "certificates": ("docs/configuration.md", CertificatesConfig, "", PIECE),
    "images": ("docs/configuration.md", ImagesConfig, "", PIECE),
    "adopt": ("docs/configuration.md", AdoptConfig, "", PIECE),
    "spire": ("docs/configuration.md", WorkloadIdentityConfig, "", PIECE),
    "identity": ("docs/configuration.md", IdentityConfig, "", PIECE),
    "gateway": ("docs/configuration.md", GatewayConfig, "", PIECE),
    "telemetry": ("docs/configuration.md", TelemetryConfig, "", PIECE),
    "provenance": ("docs/configuration.md", ProvenanceConfig, "", PIECE),
    "environment": ("docs/configuration.md", EnvironmentConfig, "agentplane:", ("key", "type", "default", "meaning")),
    "tier": ("docs/configuration.md", Tier, "", ("key", "type", "default", "meaning")),
    "tenancy": ("docs/configuration.md", TenancyConfig, "agentplane:tenancy.", ("key", "type", "default", "meaning")),
    "team": ("docs/teams.md", TeamFile, "", ("field", "type", "required", "meaning")),
    "agent": ("docs/teams.md", Agent, "agents[].", ("field", "type", "required", "meaning")),
}
# Keys of a PIECE table shown as one row (their own docstring states the shape) instead of
# one row per nested key: where the nested keys would repeat or say less than the whole.
LEAVES: dict[str, frozenset[str]] = {
    "gateway": frozenset(
        {"guardrails.all", "guardrails.tiers", "providerKeys", "providerOptions", "crdsChart", "chart"}
    ),
    "telemetry": frozenset({"chart", "collector.resources"}),
    "provenance": frozenset({"chart"}),
}
_BLOCK = "<!-- generated: {name} -->\n{body}<!-- end generated: {name} -->"
_DEFAULT = re.compile(r"\s*Default: (?P<text>[^\n]*?)\s*$")


class MissingDoc(ValueError):
    """A documented model has a field without a docstring."""


def _type(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is typing.Annotated:
        return _type(args[0])
    if origin in (typing.Union, types.UnionType):
        kept = [a for a in args if a is not type(None)]
        return " or ".join(_type(a) for a in kept)
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin is tuple:
        return f"list of {_type(args[0])}"
    if origin is dict:
        return f"map of {_type(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = [f"{to_camel(n)}{'' if f.is_required() else '?'}" for n, f in annotation.model_fields.items()]
        return "{" + ", ".join(fields) + "}"
    return {bool: "bool", int: "integer", str: "string"}.get(
        annotation, getattr(annotation, "__name__", str(annotation))
    )


def _default(field) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "none"
    if isinstance(value, BaseModel):
        return "each key's default" if type(value).model_fields else "`{}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, (tuple, list)):
        return "`[]`" if not value else f"`{list(value)}`"
    if isinstance(value, dict):
        return "`{}`" if not value else f"`{value}`"
    if value == "":
        return '`""`'
    return f"`{value}`"


def _nested(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """(the section model a field holds, whether it is a map of them); (None, False) for a plain value."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is typing.Annotated:
        return _nested(args[0])
    if origin is dict and isinstance(args[1], type) and issubclass(args[1], BaseModel):
        return args[1], True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None, False


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, (tuple, list)):
        return f"`{list(value)}`"
    if isinstance(value, BaseModel):
        return "`{" + ", ".join(f"{to_camel(k)}: {v}" for k, v in value.model_dump().items()) + "}`"
    return f"`{value}`"


def flat_rows(
    model: type[BaseModel], prefix: str = "", defaults: BaseModel | None = None, leaves: frozenset[str] = frozenset()
) -> list[list[str]]:
    """[key, default, meaning] per leaf; a section's default values come from its default instance.
    A key in `leaves` is one row even when it holds a section."""
    out = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{to_camel(name)}"
        sub, is_map = _nested(field.annotation)
        if sub is not None and not field.is_required() and key not in leaves:
            if is_map:
                out += flat_rows(sub, f"{key}.<{name.rstrip('s')}>.", leaves=leaves)
                continue
            instance = getattr(defaults, name) if defaults is not None else field.get_default(call_default_factory=True)
            if isinstance(instance, BaseModel):
                out += flat_rows(sub, f"{key}.", instance, leaves)
                continue
        if not (field.description or "").strip():
            raise MissingDoc(f"{model.__module__}.{model.__name__}: no docstring for {name}")
        meaning = " ".join(field.description.split())
        value = getattr(defaults, name) if defaults is not None else field.get_default(call_default_factory=True)
        default = _shown(value) if defaults is not None or isinstance(value, BaseModel) else _default(field)
        if m := _DEFAULT.search(meaning):
            default, meaning = m["text"].rstrip("."), meaning[: m.start()].rstrip()
        out.append([f"`{key}`", default, meaning])
    return out


def rows(
    model: type[BaseModel], prefix: str, columns: tuple[str, ...], leaves: frozenset[str] = frozenset()
) -> list[list[str]]:
    if columns == PIECE:
        return flat_rows(model, prefix, leaves=leaves)
    out = []
    missing = [n for n, f in model.model_fields.items() if not (f.description or "").strip()]
    if missing:
        raise MissingDoc(f"{model.__module__}.{model.__name__}: no docstring for {', '.join(missing)}")
    for name, field in model.model_fields.items():
        meaning = " ".join((field.description or "").split())
        default = _default(field)
        if m := _DEFAULT.search(meaning):
            default, meaning = m["text"].rstrip("."), meaning[: m.start()].rstrip()
        key = f"`{prefix}{to_camel(name)}`"
        third = default if columns[2] == "default" else ("yes" if field.is_required() else "no")
        if columns[2] == "required" and m:  # no default column: the stated default stays in the meaning
            meaning = f"{meaning} Default: {default}."
        out.append([key, _type(field.annotation), third, meaning])
    return out


def table(name: str) -> str:
    _, model, prefix, columns = TABLES[name]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    typed = columns[1] == "type"  # the type column holds its own escaped `|`
    lines += [
        "| " + " | ".join(cell if typed and i == 1 else cell.replace("|", "\\|") for i, cell in enumerate(r)) + " |"
        for r in rows(model, prefix, columns, LEAVES.get(name, frozenset()))
    ]
    return "\n".join(lines) + "\n"


def render_page(text: str, page: str) -> str:
    for name, (where, *_rest) in TABLES.items():
        if where != page:
            continue
        pattern = re.compile(
            re.escape(f"<!-- generated: {name} -->\n") + r".*?" + re.escape(f"<!-- end generated: {name} -->"), re.S
        )
        if not pattern.search(text):
            raise ValueError(f"{page} has no `<!-- generated: {name} -->` block")
        block = _BLOCK.format(name=name, body=table(name))
        # A function as the replacement, so backslashes in the table stay literal.
        text = pattern.sub(lambda _m, block=block: block, text)
    return text


def pages() -> list[str]:
    return sorted({page for page, *_ in TABLES.values()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agentplane.reference", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the generated tables in place")
    args = parser.parse_args(argv)
    stale = []
    for page in pages():
        path = Path(page)
        current = path.read_text(encoding="utf-8")
        wanted = render_page(current, page)
        if wanted != current:
            stale.append(page)
            if args.write:
                path.write_text(wanted, encoding="utf-8")
    if stale and not args.write:
        print(f"stale: {', '.join(stale)}; run `python -m agentplane.reference --write`", file=sys.stderr)
        return 1
    print(f"{'rewrote' if args.write else 'current'}: {', '.join(stale) if args.write else ', '.join(pages())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
