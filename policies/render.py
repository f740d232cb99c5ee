"""Rendering the Kyverno policy templates in `policies/templates/` into Kubernetes objects.

The templates are plain YAML with jinja2 placeholders, so a reviewer reads the policy as
Kyverno will see it. Undefined placeholders are errors (StrictUndefined). Config values that
land inside CEL expressions go through the `cel` filter, which writes them as CEL literals,
and those that land in YAML go through `tojson` (a JSON scalar is valid YAML) or `toyaml`:
nothing from the config is pasted into a policy unquoted. What is written as is are the
builder's constants and names already validated as DNS labels (tiers).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import jinja2
import yaml

TEMPLATE_PACKAGE = "policies"
TEMPLATE_DIR = "templates"


def _defined(value: Any) -> Any:
    """Filters see an Undefined as a value; make it fail like any other use of it."""
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    return value


def cel_literal(value: Any) -> str:
    """A CEL literal for a string, bool, int, list or map of those (JSON-style quoting is valid CEL)."""
    value = _defined(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{cel_literal(k)}: {cel_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence):
        return "[" + ", ".join(cel_literal(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as a CEL literal")


def cel_block(value: Any, indent: int) -> str:
    """A list or map as a CEL literal with one item per line (for long, reviewed lists)."""
    value = _defined(value)
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(value, Mapping) and value:
        items = [f"{inner}{cel_literal(k)}: {cel_literal(v)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, Sequence) and not isinstance(value, str) and value:
        return "[\n" + ",\n".join(inner + cel_literal(v) for v in value) + "\n" + pad + "]"
    return cel_literal(value)


def to_yaml(value: Any, indent: int) -> str:
    """A block-style YAML fragment, every line indented by `indent` spaces."""
    text = yaml.safe_dump(_defined(value), default_flow_style=False, sort_keys=False, width=120).rstrip("\n")
    return "\n".join(" " * indent + line for line in text.splitlines())


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(TEMPLATE_PACKAGE, TEMPLATE_DIR),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # YAML, not HTML; values are quoted by the filters below
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.do"],
    )
    env.filters["cel"] = cel_literal
    env.filters["cel_block"] = cel_block
    env.filters["toyaml"] = to_yaml
    env.filters["tojson"] = lambda value: json.dumps(_defined(value), ensure_ascii=False)
    return env


def render_text(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def render(template: str, **context: Any) -> dict:
    """One Kubernetes object from a template; the rendered text must be exactly one YAML mapping."""
    text = render_text(template, **context)
    documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise ValueError(f"template {template} must render exactly one YAML mapping, got {len(documents)} document(s)")
    return documents[0]
