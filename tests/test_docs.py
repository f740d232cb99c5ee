"""The documentation: README.md is the map, docs/ holds the rest.

Every relative link and #anchor in README.md and docs/**/*.md must resolve: the target file
exists and, where an anchor is given, a heading of that file produces it. Anchors are computed
as GitHub renders them (lowercased heading text, punctuation dropped, spaces to hyphens, a
repeated heading gets -1, -2, ...). Every docs page is reachable from the README, and the
README stays a map (under 200 lines).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 200

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
# [text](target) or [text](target "title"); images too. Nested brackets in the text are rare
# in this project and not needed.
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # https:, mailto:, ...


def doc_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    assert len(files) > 1, "no docs/ pages found"
    return files


def prose_lines(text: str):
    """(line number, line) outside fenced code blocks."""
    fenced = False
    for number, line in enumerate(text.split("\n"), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: rendered text, lowercased, every character that is
    not a letter, digit, space, '-' or '_' removed, spaces turned into '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links: their text
    text = INLINE_CODE.sub(lambda m: m.group(2), text)  # code spans: their content
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags
    text = text.replace("**", "").replace("__", "").replace("*", "")  # emphasis markers
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for _, line in prose_lines(path.read_text()):
        match = HEADING.match(line)
        if not match:
            continue
        slug = github_slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def links(path: Path):
    """(line number, target) of every Markdown link outside code."""
    for number, line in prose_lines(path.read_text()):
        line = INLINE_CODE.sub("", line)
        for match in LINK.finditer(line):
            yield number, match.group(1)


def broken_links(files: list[Path], root: Path) -> list[str]:
    problems = []
    for path in files:
        for number, target in links(path):
            if not target or EXTERNAL.match(target):
                continue
            file_part, _, anchor = target.partition("#")
            destination = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(root)}:{number}: {target}"
            if not destination.exists():
                problems.append(f"{where}: no such file")
                continue
            if anchor:
                if destination.suffix != ".md":
                    problems.append(f"{where}: anchor into a file that is not Markdown")
                elif anchor not in anchors(destination):
                    problems.append(f"{where}: no heading gives #{anchor} in {destination.name}")
    return problems


def test_every_relative_link_and_anchor_resolves():
    files = doc_files()
    assert any(True for path in files for _ in links(path)), "no links found at all"
    problems = broken_links(files, ROOT)
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_the_readme_is_a_map():
    lines = (ROOT / "README.md").read_text().split("\n")
    assert len(lines) < README_MAX_LINES, (
        f"README.md has {len(lines)} lines; keep it under {README_MAX_LINES} and move details into docs/"
    )


def test_the_readme_starts_with_the_two_commands():
    head = "\n".join((ROOT / "README.md").read_text().split("\n")[:8])
    assert ".venv/bin/agentplane plan --stack dev" in head
    assert ".venv/bin/python -m pytest -q" in head


def test_every_docs_page_is_reachable_from_the_readme():
    reachable, todo = set(), [(ROOT / "README.md").resolve()]
    while todo:
        page = todo.pop()
        if page in reachable:
            continue
        reachable.add(page)
        for _, target in links(page):
            file_part = target.partition("#")[0]
            if not file_part or EXTERNAL.match(target):
                continue
            destination = (page.parent / file_part).resolve()
            if destination.suffix == ".md" and destination.exists():
                todo.append(destination)
    orphans = sorted(str(p.relative_to(ROOT)) for p in doc_files() if p.resolve() not in reachable)
    assert not orphans, f"docs pages no link from README.md leads to: {orphans}"


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("Identity (OIDC)", "identity-oidc"),
        ("The `agentplane` command", "the-agentplane-command"),
        ("`agentplane:certificates`", "agentplanecertificates"),
        ("Configuration reference (`agentplane:gateway`)", "configuration-reference-agentplanegateway"),
        ("1. The change", "1-the-change"),
        ("Telemetry opt-out and webhook order", "telemetry-opt-out-and-webhook-order"),
        ("The offline plan's output", "the-offline-plans-output"),
        ("**Bold** and [a link](x.md)", "bold-and-a-link"),
        ("snake_case stays", "snake_case-stays"),
    ],
)
def test_github_slug(heading, slug):
    assert github_slug(heading) == slug


def test_the_checker_finds_a_missing_file_a_missing_anchor_and_ignores_code(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("# Page\n\n## Section\n\n## Section\n")
    readme = tmp_path / "README.md"
    readme.write_text(
        "[ok](docs/page.md#section-1) [ok](#top) [ok](https://example.com/x#y)\n"
        "# Top\n"
        "`[ignored](nowhere.md)`\n"
        "```\n[ignored](nowhere.md)\n```\n"
        "[bad file](docs/missing.md) [bad anchor](docs/page.md#section-2) [bad local](#nope)\n"
    )
    problems = broken_links([readme, tmp_path / "docs" / "page.md"], tmp_path)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "docs/missing.md: no such file",
        "docs/page.md#section-2: no heading gives #section-2 in page.md",
        "#nope: no heading gives #nope in README.md",
    ]
