"""Properties of validation over generated inputs (hypothesis).

1. For any team file at all, `agentplane validate` returns (never raises), exits 0 or 1, and
   every error line names a file.
2. `validate` and `plan` agree: on generated sets of team files built from collision-prone
   names, both accept or both refuse, with the same error lines.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentplane.cli import main
from tests.support.plans import ROOT

# Strings an attacker would try, mixed with ordinary ones.
HOSTILE_STRINGS = [
    "system:masters",
    "kubeadm:cluster-admins",
    "platform-admins",
    "${env:X}",
    "${file:/etc/passwd}",
    "{{x}}",
    "../../etc",
    "default",
    "kube-system",
    "9lives",
    "a" * 300,
    "x\x00y",
    "pаyments",
    "\ud800",
    "169.254.169.254",
    "http://169.254.169.254/",
    "https://u:p@h.example.com",
    "https://h.example.com/?k=v",
    "sk-proj-abcdefghijklmnopqrst",
    "1e999999999",
    "1E",
    "-1",
    "NaN",
    "models",
    "sales-agent",
    "agent:ghost/bot",
    "payments/payments-devs",
    "",
]
NAMES = st.sampled_from(["gen", "sales", "sales-agent", "models", "admins", "group", "a", "payments-devs"])
SCALARS = st.one_of(
    NAMES,
    st.sampled_from(HOSTILE_STRINGS),
    st.text(max_size=30),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
FIELDS = [
    "name",
    "owners",
    "members",
    "environments",
    "agents",
    "models",
    "egress",
    "dailyTokenBudget",
    "mcpServers",
    "telemetry",
    "offboard",
    "access",
    "promote",
    "tier",
    "quota",
    "cpu",
    "memory",
    "pods",
    "endpoint",
    "headers",
    "service",
    "port",
    "path",
]
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), inner, max_size=5),
    ),
    max_leaves=25,
)
TEAM_DOCS = st.fixed_dictionaries(
    {
        "name": st.one_of(st.just("gen"), SCALARS),
        "owners": VALUES,
        "environments": st.one_of(st.just({"dev": {"tier": "restricted"}}), VALUES),
    },
    optional={field: VALUES for field in FIELDS if field not in ("name", "owners", "environments")},
)


def _dump(doc: object) -> bytes:
    try:
        return yaml.safe_dump(doc, allow_unicode=True).encode("utf-8", "surrogatepass")
    except (yaml.YAMLError, UnicodeError):
        return b"name: [unencodable\n"


TEAM_FILES = st.one_of(
    TEAM_DOCS.map(_dump),
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
)


@contextlib.contextmanager
def _project():
    with tempfile.TemporaryDirectory(prefix="agentplane-prop-") as tmp:
        project = Path(tmp)
        shutil.copytree(ROOT / "stacks", project / "stacks")
        previous = Path.cwd()
        os.chdir(project)
        try:
            yield project
        finally:
            os.chdir(previous)


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def _error_lines(err: str) -> list[str]:
    return [line[4:] for line in err.splitlines() if line.startswith("  - ")]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(content=TEAM_FILES)
def test_validate_never_raises_and_every_error_names_its_file(content: bytes) -> None:
    with _project() as project:
        (project / "stacks/teams/gen.yaml").write_bytes(content)
        files = {f"stacks/teams/{p.name}" for p in (project / "stacks/teams").iterdir()} | {"stacks/Pulumi.dev.yaml"}
        code, out, err = _run(["validate", "--stack", "dev"])
    assert code in (0, 1), err
    assert "Traceback" not in out + err
    if code == 1:
        lines = _error_lines(err)
        assert lines, err
        for line in lines:
            assert line.split(": ", 1)[0] in files, line


TEAM_NAMES = st.sampled_from(["sales", "sales-agent", "sales-mcp", "sales-owner", "foo", "foo-agent-x"])
AGENT_NAMES = st.sampled_from(["models", "x", "x-egress", "egress", "agent", "y", "default"])
GROUPS = st.sampled_from(["group", "admins", "devs", "agent-models"])


@st.composite
def team_sets(draw) -> dict[str, str]:
    files = {}
    for name in draw(st.lists(TEAM_NAMES, min_size=1, max_size=3, unique=True)):
        doc = {
            "name": name,
            "owners": [f"{name}-{g}" for g in draw(st.lists(GROUPS, min_size=1, max_size=2, unique=True))],
            "environments": {"dev": {"tier": draw(st.sampled_from(["restricted", "standard"]))}},
            "agents": [{"name": a} for a in draw(st.lists(AGENT_NAMES, max_size=2))],
            "mcpServers": [
                {"name": m, "service": "tools", "port": 8000} for m in draw(st.lists(AGENT_NAMES, max_size=1))
            ],
        }
        files[f"{name}.yaml"] = yaml.safe_dump(doc)
    return files


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(teams=team_sets())
def test_validate_and_plan_agree(teams: dict[str, str]) -> None:
    with _project() as project:
        for name, text in teams.items():
            (project / "stacks/teams" / name).write_text(text, encoding="utf-8")
        validated = _run(["validate", "--stack", "dev"])
        planned = _run(["plan", "--stack", "dev", "--out", "out"])
        assert validated[0] in (0, 1) and planned[0] == validated[0], (validated, planned)
        assert _error_lines(planned[2]) == _error_lines(validated[2])
        assert (project / "out/plan.json").exists() == (validated[0] == 0)
