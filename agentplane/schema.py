"""The JSON Schema of a team file (stacks/teams/<team>.yaml), generated from the config models.

Editors read it for completion and inline errors: VS Code's YAML extension (yaml-language-server)
via the `# yaml-language-server: $schema=...` line `agentplane onboard` writes. It covers the
shape (fields, types, required, enums, camelCase names); rules the loader checks against the
stack config (known tiers and environments, the tier ceiling, reserved names) stay the loader's.

  python -m agentplane.schema            print it
  python -m agentplane.schema --write    write schemas/team.schema.json (committed; a test fails when stale)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path("schemas") / "team.schema.json"
SCHEMA_ID = "https://agentplane.dev/schemas/team.schema.json"


def team_schema() -> dict[str, Any]:
    from agentplane.config.team import TeamFile

    body = _one_paragraph_fields(TeamFile.model_json_schema(by_alias=True, mode="validation"))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "description": "An agentplane team file (stacks/teams/<team>.yaml). Generated from "
        "agentplane/config/team.py by `python -m agentplane.schema --write`; do not edit.",
        **{k: v for k, v in body.items() if k != "description"},
    }


def _one_paragraph_fields(schema: Any) -> Any:
    """Each field's description as one line: a field docstring is one paragraph wrapped to the source's
    line width (docs/configuration.md joins it the same way); model docstrings keep their layout."""
    if isinstance(schema, list):
        return [_one_paragraph_fields(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _one_paragraph_fields(value) for key, value in schema.items()}
    for field in (out.get("properties") or {}).values():
        if isinstance(field, dict) and isinstance(field.get("description"), str):
            field["description"] = " ".join(field["description"].split())
    return out


def render() -> str:
    return json.dumps(team_schema(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agentplane.schema", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {SCHEMA_PATH} instead of printing")
    args = parser.parse_args(argv)
    if args.write:
        SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
        SCHEMA_PATH.write_text(render(), encoding="utf-8")
        print(f"wrote {SCHEMA_PATH}")
    else:
        sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
