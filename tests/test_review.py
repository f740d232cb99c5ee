"""What reviewers and operators read: diffs with old → new values, the per-team review summary,
blocked deletions of protected teams, no-op warnings, --json, exit codes, catalog, completion.

Everything runs through `agentplane.cli.main` (exit codes, stdout, stderr); nothing touches a
network or a cluster (`catalog --live` runs against a stand-in kubectl and recorded JSON).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agentplane.cli import EXIT_BLOCKED, EXIT_CHANGES, main
from tests.support.plans import ROOT

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "catalog"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def edit_yaml(path: Path, change) -> None:
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


# --------------------------------------------------------------------------- synthetic plans (fast)


def resource(
    urn_name: str, team: str | None, inputs: dict, *, protect: bool = False, component: str = "tenants"
) -> dict:
    return {
        "urn": f"urn:pulumi:dev::agentplane::kubernetes:core/v1:ConfigMap::{urn_name}",
        "type": "kubernetes:core/v1:ConfigMap",
        "name": urn_name,
        "parent": "",
        "protect": protect,
        "retainOnDelete": False,
        "dependsOn": [],
        "provider": "",
        "component": component,
        "team": team,
        "inputs": inputs,
    }


def write_plan_dir(
    path: Path, stack: str, resources: list[dict], teams: dict | None = None, review: dict | None = None
) -> Path:
    path.mkdir(parents=True)
    doc = {"stack": stack, "teams": teams or {}, "resources": resources}
    if review is not None:
        doc["review"] = review
    (path / "plan.json").write_text(json.dumps(doc))
    return path


def cm(name: str, namespace: str, data: dict) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": data}


def test_changed_fields_show_old_and_new_values_and_secrets_stay_redacted(tmp_path, capsys):
    old = write_plan_dir(
        tmp_path / "old",
        "dev",
        [
            resource(
                "budget",
                "payments",
                {
                    **cm("budget", "payments", {"limit": "100000", "token": "[secret]"}),
                    "metadata": {
                        "name": "budget",
                        "namespace": "payments",
                        "labels": {"agentplane.io/tier": "restricted"},
                    },
                },
            ),
        ],
    )
    new = write_plan_dir(
        tmp_path / "new",
        "dev",
        [
            resource(
                "budget",
                "payments",
                {
                    **cm("budget", "payments", {"limit": "150000", "token": "[secret]", "key": "[secret]"}),
                    "metadata": {
                        "name": "budget",
                        "namespace": "payments",
                        "labels": {"agentplane.io/tier": "standard"},
                    },
                },
            ),
        ],
    )
    assert main(["diff", str(old), str(new)]) == 0
    out = capsys.readouterr().out
    assert '`inputs.metadata.labels.agentplane.io/tier`: `"restricted"` → `"standard"`' in out
    assert '`inputs.data.limit`: `"100000"` → `"150000"`' in out
    assert '`inputs.data.key`: `(absent)` → `"[secret]"`' in out
    assert "inputs.data.token" not in out, "an unchanged (redacted) secret is no change"


def test_diff_refuses_a_missing_a_foreign_and_another_stacks_directory(tmp_path, capsys):
    dev = write_plan_dir(tmp_path / "dev", "dev", [])
    prod = write_plan_dir(tmp_path / "prod", "prod", [])
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("x")
    assert main(["diff", str(dev), str(tmp_path / "dve")]) == 2
    assert "dve does not exist" in capsys.readouterr().err
    assert main(["diff", str(dev), str(tmp_path / "notes")]) == 2
    assert "holds no plan.json" in capsys.readouterr().err
    assert main(["diff", str(dev), str(prod)]) == 2
    err = capsys.readouterr().err
    assert "stack 'dev'" in err and "'prod'" in err and "same stack" in err


def test_diff_exit_code_and_json(tmp_path, capsys):
    old = write_plan_dir(tmp_path / "old", "dev", [resource("a", "t", cm("a", "t", {"k": "1"}))])
    same = write_plan_dir(tmp_path / "same", "dev", [resource("a", "t", cm("a", "t", {"k": "1"}))])
    new = write_plan_dir(tmp_path / "new", "dev", [resource("a", "t", cm("a", "t", {"k": "2"}))])
    assert main(["diff", str(old), str(same), "--exit-code"]) == 0
    assert main(["diff", str(old), str(new), "--exit-code"]) == EXIT_CHANGES == 3
    assert main(["diff", str(old), str(new)]) == 0, "without --exit-code changes are success"
    capsys.readouterr()
    assert main(["diff", str(old), str(new), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["counts"] == {"added": 0, "changed": 1, "removed": 0, "moved": 0}
    field = doc["changes"][0]["fields"][0]
    assert (field["path"], field["old"], field["new"]) == ("inputs.data.k", "1", "2")


def test_deleting_a_protected_teams_objects_is_blocked(tmp_path, capsys):
    review = {
        "stack": "prod",
        "protect": True,
        "teams": {"payments": {"tier": "production", "agents": {}, "protected": True, "offboard": False}},
    }
    old = write_plan_dir(
        tmp_path / "old",
        "prod",
        [resource("ns", "payments", cm("ns", "payments", {}), protect=True)],
        teams={"payments": {}},
        review=review,
    )
    new = write_plan_dir(tmp_path / "new", "prod", [], review={"stack": "prod", "protect": True, "teams": {}})
    assert main(["diff", str(old), str(new)]) == EXIT_BLOCKED == 4
    captured = capsys.readouterr()
    assert "BLOCKED: this change deletes team `payments` from the protected stack `prod`" in captured.out
    assert "offboard: true" in captured.err and "payments" in captured.err


def test_an_offboarded_team_may_go(tmp_path, capsys):
    review = {
        "stack": "prod",
        "protect": True,
        "teams": {"payments": {"tier": "production", "agents": {}, "protected": False, "offboard": True}},
    }
    old = write_plan_dir(
        tmp_path / "old",
        "prod",
        [resource("ns", "payments", cm("ns", "payments", {}), protect=False)],
        teams={"payments": {}},
        review=review,
    )
    new = write_plan_dir(tmp_path / "new", "prod", [], review={"stack": "prod", "protect": True, "teams": {}})
    assert main(["diff", str(old), str(new)]) == 0
    assert "BLOCKED" not in capsys.readouterr().out


def test_shared_entries_of_an_added_team_are_not_a_change_in_meaning(tmp_path, capsys):
    base_table = [{"condition": 'tenant == "payments"', "pipelines": ["logs/tenant-payments"]}]
    grown = [{"condition": 'tenant == "ledger"', "pipelines": ["logs/tenant-ledger"]}, *base_table]
    old = write_plan_dir(
        tmp_path / "old",
        "dev",
        [resource("collector", None, cm("collector", "tel", {"table": base_table}), component="telemetry")],
        teams={"payments": {}},
    )
    new = write_plan_dir(
        tmp_path / "new",
        "dev",
        [resource("collector", None, cm("collector", "tel", {"table": grown}), component="telemetry")],
        teams={"payments": {}, "ledger": {}},
    )
    assert main(["diff", str(old), str(new)]) == 0
    out = capsys.readouterr().out
    assert "only entries for `ledger`" in out and "change in meaning" not in out.replace("no change in meaning", "")
    # The same entry added while no team is added or removed: a shared change in meaning.
    same_teams = write_plan_dir(
        tmp_path / "new2",
        "dev",
        [resource("collector", None, cm("collector", "tel", {"table": grown}), component="telemetry")],
        teams={"payments": {}},
    )
    assert main(["diff", str(old), str(same_teams)]) == 0
    assert "1 platform (shared) object(s) change in meaning" in capsys.readouterr().out


def test_an_unrelated_shared_change_next_to_an_added_team_is_still_flagged(tmp_path, capsys):
    old = write_plan_dir(
        tmp_path / "old",
        "dev",
        [resource("gw", None, cm("gw", "gw", {"ledger": "absent", "timeout": "30s"}), component="gateway")],
        teams={"payments": {}},
    )
    new = write_plan_dir(
        tmp_path / "new",
        "dev",
        [
            resource(
                "gw",
                None,
                cm("gw", "gw", {"ledger": "absent", "timeout": "300s", "x-ledger": "on"}),
                component="gateway",
            )
        ],
        teams={"payments": {}, "ledger": {}},
    )
    assert main(["diff", str(old), str(new)]) == 0
    out = capsys.readouterr().out
    assert "1 platform (shared) object(s) change in meaning" in out
    assert '`inputs.data.timeout`: `"30s"` → `"300s"`' in out


# --------------------------------------------------------------------------- real plans


def test_review_summary_of_a_promotion_and_a_budget_change(project, capsys):
    assert main(["plan", "--stack", "dev", "--out", "old"]) == 0

    def promote(doc):
        doc["agents"][0]["promote"]["dev"] = "restricted"  # invoice-triage: standard -> restricted
        doc["dailyTokenBudget"] = 1_500_000

    edit_yaml(project / "stacks/teams/payments.yaml", promote)
    assert main(["plan", "--stack", "dev", "--out", "new"]) == 0
    capsys.readouterr()
    assert main(["diff", "old", "new"]) == 0
    out = capsys.readouterr().out
    summary = out.split("#### Review summary `dev`")[1].split("<!-- agentplane:review:end -->")[0]
    assert "**team `payments`**: changed" in summary
    assert "daily token budget: 2,000,000 → 1,500,000" in summary
    assert "agent `invoice-triage`: tier: standard (promoted) → restricted (promoted)" in summary
    assert "models: −gpt-4o" in summary and "egress: −api.stripe.com" in summary
    assert "team `research`" not in summary and "team `support`" not in summary
    # The resource diff names the label's old and new value too.
    assert '`"standard"` → `"restricted"`' in out


def test_onboarding_a_team_does_not_trip_the_shared_objects_warning(project, capsys):
    assert main(["plan", "--stack", "dev", "--out", "old"]) == 0
    (project / "stacks/teams/ledger.yaml").write_text(
        "name: ledger\nowners: [ledger-admins]\nenvironments: {dev: {tier: restricted}}\nagents: [{name: reconciler}]\n"
    )
    assert main(["plan", "--stack", "dev", "--out", "new"]) == 0
    capsys.readouterr()
    assert main(["diff", "old", "new"]) == 0
    out = capsys.readouterr().out
    assert "**team `ledger`**: added (tier restricted, provenance audit)" in out
    assert "| `reconciler` | restricted |" in out
    assert "only entries for `ledger`" in out
    assert "change in meaning**" not in out
    assert "#### Platform (shared)\n" not in out


# --------------------------------------------------------------------------- validate, plan, version


def test_validate_all_stacks_and_json(project, capsys):
    assert main(["validate", "--all-stacks"]) == 0
    out = capsys.readouterr().out
    assert [line.split(":")[0] for line in out.splitlines()] == ["dev", "prod", "staging"]
    (project / "stacks/teams/bad.yaml").write_text("name: bad\nowners: []\nenvironments: {prod: {tier: production}}\n")
    assert main(["validate", "--all-stacks", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is False
    by_stack = {s["stack"]: s for s in doc["stacks"]}
    assert set(by_stack) == {"dev", "prod", "staging"}
    assert any(e["file"] == "stacks/teams/bad.yaml" and e["field"] == "owners" for e in by_stack["prod"]["errors"])
    assert main(["validate", "--all-stacks", "--config", "stacks/Pulumi.dev.yaml"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["validate"])
    assert exc.value.code == 2


def test_validate_warns_about_egress_and_models_no_agent_can_use(project, capsys):
    (project / "stacks/teams/ledger.yaml").write_text(
        "name: ledger\nowners: [ledger-admins]\nenvironments: {dev: {tier: standard}}\n"
        "agents: [{name: reconciler}]\nmodels: [gpt-4o]\negress: [api.stripe.com]\n"
    )
    assert main(["validate", "--stack", "dev"]) == 0
    err = capsys.readouterr().err
    assert "team ledger in dev: egress api.stripe.com is unused" in err and "restricted" in err
    assert "team ledger in dev: model(s) gpt-4o are unused" in err
    # Promoted to a tier that allows both: nothing to warn about.
    (project / "stacks/teams/ledger.yaml").write_text(
        "name: ledger\nowners: [ledger-admins]\nenvironments: {dev: {tier: standard}}\n"
        "agents: [{name: reconciler, promote: {dev: standard}}]\nmodels: [gpt-4o]\negress: [api.stripe.com]\n"
    )
    assert main(["validate", "--stack", "dev"]) == 0
    assert "ledger" not in capsys.readouterr().err


def test_plan_json_summary(project, capsys):
    assert main(["plan", "--stack", "dev", "--out", "out", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["stack"] == "dev" and doc["resources"] == sum(doc["components"].values()) > 0
    assert set(doc["teams"]) == {"payments", "research", "support"}
    assert doc["review"]["teams"]["payments"]["agents"]["invoice-triage"]["egress"] == ["api.stripe.com"]


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == "agentplane 0.1.0"


# --------------------------------------------------------------------------- catalog


def test_catalog_from_the_configuration(project, capsys):
    assert main(["catalog", "--all-stacks", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    keyed = {(r["stack"], r["team"], r["agent"]): r for r in rows}
    triage = keyed[("prod", "payments", "invoice-triage")]
    assert triage["tier"] == "production (promoted)" and triage["provenance"] == "enforce"
    assert triage["egress"] == ["api.stripe.com"] and triage["access"] == ["/payments/payments-devs"]
    drafter = keyed[("dev", "payments", "refund-drafter")]
    assert drafter["egress"] == [] and drafter["budget"] == 200000
    assert {s for s, _, _ in keyed} == {"dev", "staging", "prod"}
    assert main(["catalog", "--stack", "dev"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["stack", "team", "agent", "tier"]
    assert any(line.split()[:3] == ["dev", "support", "kb-answerer"] for line in table)


@pytest.fixture
def fake_kubectl(tmp_path, monkeypatch):
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    log = tmp_path / "kubectl.log"
    script = bin_dir / "kubectl"
    script.write_text(f"""#!/usr/bin/env bash
echo "$*" >> {log}
[ -n "${{FAKE_KUBECTL_FAIL:-}}" ] && {{ echo "Unable to connect to the server" >&2; exit 1; }}
case "$*" in
  *" pods "*) cat {FIXTURES / "pods.json"} ;;
  *policyreports*) cat {FIXTURES / "policyreports.json"} ;;
  *) exit 1 ;;
esac
""")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_catalog_live_adds_workload_health_and_provenance(project, capsys, fake_kubectl):
    assert main(["catalog", "--stack", "dev", "--live", "--json"]) == 0
    rows = {(r["team"], r["agent"]): r for r in json.loads(capsys.readouterr().out)}
    assert rows[("payments", "invoice-triage")]["workload"] == "1/2 ready"
    assert rows[("payments", "invoice-triage")]["image provenance"] == "verified"
    assert rows[("payments", "refund-drafter")]["image provenance"] == "FAILED (refund-drafter-5c4b-xyz12)"
    assert rows[("support", "ticket-router")]["workload"] == "0/1 ready"
    assert rows[("support", "ticket-router")]["image provenance"] == "no report"
    # A pod in another team's namespace claiming an agent's name is not that agent.
    assert rows[("research", "paper-summarizer")]["workload"] == "no pods"
    calls = fake_kubectl.read_text().splitlines()
    assert calls and all("--context kind-agentplane" in c for c in calls), calls
    assert main(["catalog", "--stack", "dev", "--live"]) == 0
    assert "image provenance" in capsys.readouterr().out


def test_catalog_live_with_an_unreachable_cluster_says_so(project, capsys, fake_kubectl, monkeypatch):
    monkeypatch.setenv("FAKE_KUBECTL_FAIL", "1")
    assert main(["catalog", "--stack", "dev", "--live"]) == 1
    captured = capsys.readouterr()
    assert "unknown (cluster unreachable)" in captured.out
    assert "Unable to connect to the server" in captured.err and "kind-agentplane" in captured.err


# --------------------------------------------------------------------------- completion


@pytest.mark.parametrize(
    "words, expected",
    [
        (["agentplane", "val"], ["validate"]),
        (["agentplane", "validate", "--all"], ["--all-stacks"]),
        (["agentplane", "plan", "--stack", "st"], ["staging"]),
        (["agentplane", "completion", ""], ["bash", "zsh", "--help"]),
    ],
)
def test_bash_completion(project, capsys, words, expected):
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    words_literal = " ".join(f"'{w}'" for w in words)
    probe = (
        f'{script}\nCOMP_WORDS=({words_literal}); COMP_CWORD={len(words) - 1}; _agentplane; printf "%s\\n" '
        '"${COMPREPLY[@]}"'
    )
    done = subprocess.run([bash, "-c", probe], capture_output=True, text=True, cwd=project, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == expected


def test_zsh_completion_uses_the_bash_function(capsys):
    assert main(["completion", "zsh"]) == 0
    script = capsys.readouterr().out
    assert "bashcompinit" in script and "complete -F _agentplane agentplane" in script


def test_module_entry_point_prints_the_version():
    done = subprocess.run(
        [sys.executable, "-m", "agentplane", "--version"], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 0 and done.stdout.startswith("agentplane ")


def test_deleting_a_whole_stack_file_is_not_blocked(tmp_path, capsys):
    """Merging a deleted stack file destroys nothing; tearing a stack down is a deliberate `pulumi destroy`."""
    review = {
        "stack": "prod",
        "protect": True,
        "teams": {"payments": {"tier": "production", "agents": {}, "protected": True, "offboard": False}},
    }
    old = write_plan_dir(
        tmp_path / "old",
        "prod",
        [resource("ns", "payments", cm("ns", "payments", {}), protect=True)],
        teams={"payments": {}},
        review=review,
    )
    (tmp_path / "empty").mkdir()
    assert main(["diff", str(old), str(tmp_path / "empty")]) == 0
    assert "BLOCKED" not in capsys.readouterr().out
