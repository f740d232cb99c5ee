"""The generated configuration reference: current, complete, and failing loudly when a field has no docs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import Field

from agentplane import reference
from agentplane.config.base import StrictModel

ROOT = Path(__file__).resolve().parents[1]


def test_generated_tables_in_the_docs_are_current():
    stale = [
        page
        for page in reference.pages()
        if reference.render_page((ROOT / page).read_text(), page) != (ROOT / page).read_text()
    ]
    assert stale == [], f"run `python -m agentplane.reference --write`: {stale} are stale"


@pytest.mark.parametrize("name", sorted(reference.TABLES))
def test_every_field_of_a_documented_model_has_a_row(name):
    page, model, prefix, _ = reference.TABLES[name]
    text = (ROOT / page).read_text()
    block = text.split(f"<!-- generated: {name} -->", 1)[1].split(f"<!-- end generated: {name} -->", 1)[0]
    keys = re.findall(r"^\| `([^`]+)` \|", block, re.M)
    assert keys and len(keys) >= len(model.model_fields)
    assert all(key.startswith(prefix) for key in keys)
    # Every field is there: as its own row, or (a section) as rows of its keys.
    for name in model.model_fields:
        from pydantic.alias_generators import to_camel

        assert any(k == f"{prefix}{to_camel(name)}" or k.startswith(f"{prefix}{to_camel(name)}.") for k in keys), name


def test_sections_are_flattened_with_their_pinned_defaults():
    from agentplane.config.sections.workload_identity import SPIRE_CHART

    rows = {r[0]: r for r in reference.rows(*reference.TABLES["spire"][1:])}
    assert rows["`chart.version`"][1] == f"`{SPIRE_CHART.version}`"
    assert rows["`tiers.<tier>.jwtSvidTtl`"][1] == "`jwtSvidTtl`"


def test_the_hand_written_prose_around_the_tables_stays():
    text = (ROOT / "docs" / "configuration.md").read_text()
    assert "Durations are Go durations" in text and "## `agentplane:provenance`" in text


def test_a_field_without_a_docstring_fails_the_generation():
    class Undocumented(StrictModel):
        documented: int = 1
        """Has its docs."""
        bare: bool = Field(default=False)

    with pytest.raises(reference.MissingDoc, match="bare"):
        reference.rows(Undocumented, "", ("key", "type", "default", "meaning"))


def test_a_stated_default_replaces_the_declared_one():
    class Computed(StrictModel):
        url: str | None = None
        """Where it is. Default: `https://<hostname>`."""

    [row] = reference.rows(Computed, "x.", ("key", "type", "default", "meaning"))
    assert row == ["`x.url`", "string", "`https://<hostname>`", "Where it is."]


def test_every_table_of_the_configuration_page_is_generated():
    text = (ROOT / "docs" / "configuration.md").read_text()
    outside = re.sub(r"<!-- generated: (\S+) -->\n.*?<!-- end generated: \1 -->", "", text, flags=re.S)
    assert "<!-- generated:" in text
    assert not re.search(r"^\|", outside, re.M), "a hand-written table on docs/configuration.md: generate it"
    sections = re.findall(r"^## `agentplane:(\w+)`", text, re.M)
    assert sections and all(name in reference.TABLES for name in sections)


def test_a_section_shown_whole_states_its_default_from_the_model():
    from agentplane.config.sections.gateway import GatewayConfig

    rows = {r[0]: r for r in reference.rows(*reference.TABLES["gateway"][1:], reference.LEAVES["gateway"])}
    chart = GatewayConfig().chart
    assert f"version: {chart.version}" in rows["`chart`"][1]
    assert "`guardrails.all`" in rows and not any(k.startswith("`guardrails.all.") for k in rows)
