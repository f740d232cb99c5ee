"""The operator workflow files: the GitHub workflows (the infra scripts are tested in test_infra.py).

Offline: workflows are validated against the GitHub workflow schema that check-jsonschema
vendors, and the rules the project relies on (pinned actions, serialized deploys, every CI
stack previewed, deployed and drift-checked, no local-only stack in CI) are checked on the
parsed YAML.

CI stacks: every stacks/Pulumi.<stack>.yaml except the local-only ones, whose
`agentplane:cluster.context` is a kind context (`kind-…`): such a cluster lives on a
developer's machine (infra/up) and no runner can reach it. The offline plan diff still
covers every stack.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
# CI deploys the CI stacks in this order; a new cloud stack must be placed in it (and get a
# job in deploy.yml and an entry in the preview and drift matrices).
DEPLOY_ORDER = ("staging", "prod")
# A kube context with this prefix is a kind cluster on a developer's machine.
LOCAL_CONTEXT_PREFIX = "kind-"
PINNED = re.compile(r"^(v\d+\.\d+\.\d+|[0-9a-f]{40})$")


def stack_configs() -> dict[str, dict]:
    """{stack: parsed stacks/Pulumi.<stack>.yaml}."""
    return {
        p.name[len("Pulumi.") : -len(".yaml")]: yaml.safe_load(p.read_text()) or {}
        for p in sorted((ROOT / "stacks").glob("Pulumi.*.yaml"))
    }


def stack_files() -> list[str]:
    return sorted(stack_configs())


def is_local_only(stack_config: dict) -> bool:
    """True when the stack's cluster is a kind context, i.e. a developer's local cluster."""
    cluster = (stack_config.get("config") or {}).get("agentplane:cluster")
    context = cluster.get("context") if isinstance(cluster, dict) else None
    return isinstance(context, str) and context.startswith(LOCAL_CONTEXT_PREFIX)


def local_only_stacks(configs: dict[str, dict]) -> list[str]:
    return sorted(name for name, config in configs.items() if is_local_only(config))


def ci_stacks(configs: dict[str, dict]) -> list[str]:
    return sorted(name for name, config in configs.items() if not is_local_only(config))


def load(name: str) -> dict:
    # PyYAML reads the key `on` as True (YAML 1.1); workflows are read for their jobs only.
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())


def all_workflows() -> dict[str, dict]:
    return {path.name: load(path.name) for path in WORKFLOWS}


def uses_refs(workflow: dict) -> list[str]:
    refs = []
    for job in workflow.get("jobs", {}).values():
        if "uses" in job:  # a reusable workflow
            refs.append(job["uses"])
        refs += [step["uses"] for step in job.get("steps", []) if "uses" in step]
    return refs


def matrix_stacks(job: dict) -> list[str]:
    return list(job["strategy"]["matrix"]["stack"])


def pulumi_command_steps(job: dict) -> list[dict]:
    """The job's pulumi/actions steps that run a command (not the install-only use in e2e)."""
    return [
        s
        for s in job.get("steps", [])
        if s.get("uses", "").startswith("pulumi/actions@") and "command" in s.get("with", {})
    ]


def step_stacks(job: dict, step: dict) -> list[str]:
    """The stacks a pulumi/actions step runs against: its literal stack-name or the job's matrix."""
    name = step["with"]["stack-name"]
    return matrix_stacks(job) if name == "${{ matrix.stack }}" else [name]


def deploy_jobs(workflow: dict) -> dict[str, tuple[str, dict, dict]]:
    """{stack: (job id, job, its `pulumi up` step)} of deploy.yml."""
    by_stack = {}
    for name, job in workflow["jobs"].items():
        (step,) = pulumi_command_steps(job)
        by_stack[step["with"]["stack-name"]] = (name, job, step)
    return by_stack


def ci_coverage_problems(configs: dict[str, dict], workflows: dict[str, dict]) -> list[str]:
    """Why the workflows do not preview, drift-check and deploy exactly the CI stacks (or [])."""
    ci, local = set(ci_stacks(configs)), set(local_only_stacks(configs))
    covered = {
        "preview.yml's preview matrix": matrix_stacks(workflows["preview.yml"]["jobs"]["preview"]),
        "drift.yml's drift matrix": matrix_stacks(workflows["drift.yml"]["jobs"]["drift"]),
        "deploy.yml": list(deploy_jobs(workflows["deploy.yml"])),
    }
    problems = []
    for where, stacks in covered.items():
        if missing := sorted(ci - set(stacks)):
            problems.append(f"{where} lacks the CI stack(s) {missing}: add them (and to DEPLOY_ORDER)")
        if kind := sorted(local & set(stacks)):
            problems.append(
                f"{where} runs the local-only stack(s) {kind}: their cluster is a "
                f"{LOCAL_CONTEXT_PREFIX}* context no runner can reach"
            )
        if unknown := sorted(set(stacks) - set(configs)):
            problems.append(f"{where} names {unknown}, which have no stacks/Pulumi.<stack>.yaml")
        if len(stacks) != len(set(stacks)):
            problems.append(f"{where} lists a stack twice: {stacks}")
    # No other workflow may run Pulumi against a local-only stack either.
    for file, workflow in workflows.items():
        for job_id, job in workflow.get("jobs", {}).items():
            for step in pulumi_command_steps(job):
                if kind := sorted(local & set(step_stacks(job, step))):
                    problems.append(
                        f"{file} job {job_id} runs pulumi {step['with']['command']} on the local-only stack(s) {kind}"
                    )
    return sorted(set(problems))


def test_there_are_workflows():
    names = {p.name for p in WORKFLOWS}
    assert {"ci.yml", "preview.yml", "deploy.yml", "drift.yml", "e2e.yml"} <= names


@pytest.mark.parametrize("schema", ["vendor.github-workflows", "custom.github-workflows-require-timeout"])
def test_workflows_match_the_github_schema(schema):
    done = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_an_exact_version(path):
    workflow = load(path.name)
    refs = uses_refs(workflow)
    for ref in refs:
        if ref.startswith("./"):
            continue  # an action or workflow in this repository
        if ref.startswith("docker://"):
            assert "@sha256:" in ref, f"{path.name}: {ref} must pin its image by digest"
            continue
        action, _, version = ref.partition("@")
        assert version, f"{path.name}: {ref} has no version"
        # An exact release tag (vX.Y.Z) or a commit; never a branch or a moving major tag.
        assert PINNED.match(version), f"{path.name}: {ref} is not pinned to vX.Y.Z or a commit sha"


def test_one_version_per_action_across_workflows():
    versions: dict[str, set[str]] = {}
    for path in WORKFLOWS:
        for ref in uses_refs(load(path.name)):
            action, _, version = ref.partition("@")
            versions.setdefault(action, set()).add(version)
    mixed = {a: sorted(v) for a, v in versions.items() if len(v) > 1}
    assert not mixed, f"bump actions everywhere at once: {mixed}"


def test_ci_stacks_are_the_deploy_order():
    configs = stack_configs()
    assert configs, "no stacks/Pulumi.<stack>.yaml"
    assert ci_stacks(configs) == sorted(DEPLOY_ORDER), (
        "a cloud stack was added or removed (or a stack's cluster changed to or from a kind "
        "context): update DEPLOY_ORDER here and the jobs of deploy.yml, preview.yml and drift.yml"
    )


def test_workflows_cover_exactly_the_ci_stacks():
    assert ci_coverage_problems(stack_configs(), all_workflows()) == []


def test_the_local_only_stack_is_the_one_infra_up_deploys_on_its_kind_cluster():
    """dev is left out of CI because it is infra/up's stack on the kind cluster, nothing else."""
    script = (ROOT / "infra" / "up").read_text()
    up_stack = re.search(r'^readonly STACK="([^"]+)"$', script, re.M).group(1)
    cluster = yaml.safe_load((ROOT / "infra" / "kind-cluster.yaml").read_text())["name"]
    configs = stack_configs()
    assert local_only_stacks(configs) == [up_stack]
    assert configs[up_stack]["config"]["agentplane:cluster"]["context"] == f"kind-{cluster}"


def test_coverage_check_catches_a_cloud_stack_left_out_and_a_kind_stack_let_in():
    configs = stack_configs()
    workflows = all_workflows()
    # A new cloud stack with no CI: each of preview, drift and deploy reports it.
    with_qa = {**configs, "qa": {"config": {"agentplane:cluster": {"context": "qa-admin@agentplane-qa"}}}}
    problems = ci_coverage_problems(with_qa, workflows)
    assert len([p for p in problems if "lacks the CI stack(s) ['qa']" in p]) == 3, problems
    # A stack with no cluster setting uses the ambient kubeconfig: not a kind cluster, so CI's.
    assert not is_local_only({"config": {"agentplane:cluster": {"kubeconfig": "~/.kube/qa"}}})
    assert not is_local_only({"config": {}})
    assert ci_stacks({**configs, "qa": {"config": {}}}) == sorted([*DEPLOY_ORDER, "qa"])
    # A kind stack added to the drift matrix, or deployed by some job, is reported.
    local = local_only_stacks(configs)[0]
    drifting = copy.deepcopy(workflows)
    drifting["drift.yml"]["jobs"]["drift"]["strategy"]["matrix"]["stack"].append(local)
    assert any(
        p.startswith("drift.yml's drift matrix runs the local-only stack(s)") and local in p
        for p in ci_coverage_problems(configs, drifting)
    )
    deploying = copy.deepcopy(workflows)
    extra = copy.deepcopy(deploying["deploy.yml"]["jobs"]["staging"])
    pulumi_command_steps(extra)[0]["with"]["stack-name"] = local
    deploying["deploy.yml"]["jobs"][local] = extra
    problems = ci_coverage_problems(configs, deploying)
    assert any(p.startswith("deploy.yml runs the local-only stack(s)") for p in problems), problems
    assert any(p.startswith(f"deploy.yml job {local} runs pulumi up") for p in problems), problems


def test_workflows_reference_no_secret_of_a_local_only_stack():
    for path in WORKFLOWS:
        text = path.read_text()
        for stack in local_only_stacks(stack_configs()):
            # e.g. KUBECONFIG_DEV, PULUMI_CONFIG_PASSPHRASE_DEV: a local stack has no shared credentials.
            found = re.findall(rf"\b[A-Z][A-Z0-9_]*_{stack}\b", text, re.I)
            assert not found, f"{path.name} references {found}: {stack} is local-only"


def test_every_secret_the_workflows_use_is_documented():
    docs = (ROOT / "docs" / "operations.md").read_text()
    names = set()
    for path in WORKFLOWS:
        text = path.read_text()
        names |= set(re.findall(r"secrets\.([A-Z][A-Z0-9_]*)", text))
        # secrets[format('KUBECONFIG_{0}', matrix.stack)] is documented as KUBECONFIG_<STACK>.
        names |= {f"{prefix}_<STACK>" for prefix in re.findall(r"format\('([A-Z][A-Z0-9_]*)_\{0\}'", text)}
    assert {"PULUMI_BACKEND_URL", "KUBECONFIG_<STACK>"} <= names
    undocumented = sorted(n for n in names if f"`{n}`" not in docs)
    assert not undocumented, f"docs/operations.md does not list the secret(s) {undocumented}"
    for stack in local_only_stacks(stack_configs()):
        assert not re.search(rf"\b[A-Z][A-Z0-9_]*_{stack.upper()}\b", docs), (
            f"docs/operations.md names a secret of the local-only stack {stack}"
        )


def preview_step(job: dict) -> dict:
    return next(s for s in job["steps"] if s.get("id") == "preview")


def test_preview_covers_every_ci_stack_with_policies_and_a_comment():
    workflow = load("preview.yml")
    preview = workflow["jobs"]["preview"]
    assert sorted(matrix_stacks(preview)) == ci_stacks(stack_configs())
    assert preview["strategy"]["fail-fast"] is False, "one stack's failure must not hide the others"
    # pulumi/actions only installs the CLI: with `command` it would post its own comment,
    # and only when the preview succeeds (a policy violation would leave a stale one up).
    (install,) = [s for s in preview["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    assert set(install["with"]) == {"pulumi-version"}
    assert install["with"]["pulumi-version"] == "${{ env.PULUMI_VERSION }}"
    assert "comment-on-pr" not in json.dumps(workflow), "one comment, composed by the comment job"
    step = preview_step(preview)
    assert step["env"]["STACK"] == "${{ matrix.stack }}"
    command = " ".join(step["run"].replace("\\\n", " ").split())
    assert 'pulumi preview --stack "$STACK" --diff --policy-pack policies/pack --non-interactive' in command
    assert "set -o pipefail" in command and "2>&1 | tee" in command, "pulumi's exit code, not tee's"
    assert not step.get("continue-on-error"), "a policy violation must fail the check"
    assert (ROOT / "policies" / "pack").is_dir()
    # After the preview: upload its output whatever happened, then fail on its exit code.
    names = [s.get("name", "") for s in preview["steps"]]
    upload = next(s for s in preview["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    fail = next(
        s
        for s in preview["steps"]
        if "exit 1" in s.get("run", "") and s is not step and "steps.preview.outputs.exit-code" in s.get("if", "")
    )
    assert names.index(step["name"]) < names.index(upload["name"]) < names.index(fail["name"])
    assert "always()" in upload["if"]
    assert upload["with"]["name"] == "preview-${{ matrix.stack }}"
    env = preview["env"]
    assert "secrets.PULUMI_BACKEND_URL" in env["PULUMI_BACKEND_URL"]
    assert "secrets" in env["PULUMI_CONFIG_PASSPHRASE"]


def test_preview_step_records_a_failing_preview_and_the_comment_reports_it(tmp_path):
    """Runs the preview step's shell with a stand-in `pulumi` that reports a mandatory
    policy violation and fails, the way GitHub runs it (bash -eo pipefail)."""
    from agentplane.review import prcomment

    bin_dir, temp = tmp_path / "bin", tmp_path / "runner-temp"
    bin_dir.mkdir(), temp.mkdir()
    fake = bin_dir / "pulumi"
    fake.write_text(
        "#!/bin/sh\n"
        "echo 'Policy Violations:'\n"
        "echo '    [mandatory]  agentplane v0.1.0  no-privileged (kubernetes:apps/v1:Deployment: x)'\n"
        "echo '    containers must not be privileged'\n"
        "echo 'error: preview failed' >&2\n"
        "exit 255\n"
    )
    fake.chmod(0o755)
    outputs = tmp_path / "github-output"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "RUNNER_TEMP": str(temp),
        "GITHUB_OUTPUT": str(outputs),
        "STACK": "staging",
    }
    step = preview_step(load("preview.yml")["jobs"]["preview"])
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, "the step records the exit code; a later step fails the job"
    assert "exit-code=255" in outputs.read_text()
    # What upload-artifact uploads, laid out as download-artifact lays it out for the comment job.
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (temp / "preview").rename(artifacts / "preview-staging")
    preview = prcomment.load_preview(artifacts, "staging")
    assert preview.exit_code == 255 and "error: preview failed" in preview.output
    [violation] = prcomment.policy_violations(preview.output)
    assert violation.level == "mandatory" and "no-privileged" in violation.lines[0]


def test_preview_posts_one_comment_with_the_plan_diff_and_every_preview():
    from agentplane.review import prcomment

    jobs = load("preview.yml")["jobs"]
    plan_diff = jobs["plan-diff"]
    checkout = next(s for s in plan_diff["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0, "pr-diff needs the base commit"
    run = "\n".join(s.get("run", "") for s in plan_diff["steps"])
    assert "agentplane pr-diff --base" in run
    # No --stack: the offline diff covers every stack, local-only ones included.
    assert "--stack" not in run
    # plan-diff hands its markdown and exit code to the comment job instead of posting.
    assert f"/{prcomment.PLAN_DIFF_FILE}" in run and f"/{prcomment.EXIT_CODE_FILE}" in run
    upload = next(s for s in plan_diff["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["name"] == prcomment.PLAN_DIFF_ARTIFACT
    preview = jobs["preview"]
    preview_run = preview_step(preview)["run"]
    assert f"/{prcomment.PREVIEW_OUTPUT_FILE}" in preview_run and f"/{prcomment.EXIT_CODE_FILE}" in preview_run
    upload = next(s for s in preview["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["name"] == prcomment.PREVIEW_ARTIFACT_PREFIX + "${{ matrix.stack }}"
    for job in (plan_diff, preview):
        assert not any(s.get("uses", "").startswith("actions/github-script@") for s in job["steps"])
        assert job["permissions"].get("pull-requests") != "write", "only the comment job writes"

    comment = jobs["comment"]
    assert sorted(comment["needs"]) == ["plan-diff", "preview"]
    assert comment["if"] == "always()", "a failed preview is exactly what the comment must show"
    assert comment["permissions"]["pull-requests"] == "write"
    assert any(s.get("uses", "").startswith("actions/download-artifact@") for s in comment["steps"])
    compose = next(s for s in comment["steps"] if s.get("id") == "compose")
    assert "-m agentplane.review.prcomment" in compose["run"]
    assert re.findall(r"--stack (\S+)", compose["run"]) == matrix_stacks(preview), (
        "the comment must report every stack of the preview matrix"
    )
    assert "--no-live-previews" in compose["run"] and "GITHUB_STEP_SUMMARY" in compose["run"]
    post = next(s for s in comment["steps"] if s.get("uses", "").startswith("actions/github-script@"))
    assert "updateComment" in post["with"]["script"] and "createComment" in post["with"]["script"], (
        "one comment, updated on every push"
    )
    assert "SAME_REPO == 'true'" in post["if"], "a fork's token cannot comment"
    assert comment["env"]["SAME_REPO"] == "${{ github.event.pull_request.head.repo.full_name == github.repository }}"
    fail = comment["steps"][-1]
    assert "steps.compose.outputs.exit-code" in fail["if"] and "exit 1" in fail["run"]


def test_deploys_are_serialized_per_stack_in_order_with_environments():
    workflow = load("deploy.yml")
    assert list(workflow[True]["push"]["branches"]) == ["main"]  # `on:` parses as True
    by_stack = deploy_jobs(workflow)
    assert sorted(by_stack) == sorted(DEPLOY_ORDER)
    previous = None
    for stack in DEPLOY_ORDER:
        name, job, step = by_stack[stack]
        assert step["with"]["command"] == "up"
        assert step["with"]["policyPacks"] == "policies/pack"
        env = job["environment"]
        assert (env["name"] if isinstance(env, dict) else env) == stack, "approvals hang on the environment"
        assert job["concurrency"] == {"group": f"deploy-{stack}", "cancel-in-progress": False}
        needs = job.get("needs")
        needs = [needs] if isinstance(needs, str) else (needs or [])
        assert needs == ([previous] if previous else []), f"{stack} must wait for {previous}"
        previous = name


def test_deploy_jobs_differ_only_in_their_stack():
    jobs = load("deploy.yml")["jobs"]

    def normalised(job: dict, stack: str) -> str:
        text = json.dumps({k: v for k, v in job.items() if k not in ("name", "needs")}, sort_keys=True)
        return text.replace(stack.upper(), "<STACK>").replace(stack, "<stack>")

    shapes = {normalised(job, job["environment"]) for job in jobs.values()}
    assert len(shapes) == 1, "the deploy jobs drifted apart; keep them identical but for the stack"


def test_drift_checks_every_ci_stack_and_reports_which_drifted():
    workflow = load("drift.yml")
    assert "schedule" in workflow[True] and "workflow_dispatch" in workflow[True]
    job = workflow["jobs"]["drift"]
    assert sorted(matrix_stacks(job)) == ci_stacks(stack_configs())
    assert "matrix.stack" in job["name"], "the failing job's name must say which stack drifted"
    step = next(s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@"))
    assert step["with"]["command"] == "preview"
    assert step["with"]["refresh"] is True and step["with"]["expect-no-changes"] is True
    report = job["steps"][-1]
    assert report["if"] == "always()" and "GITHUB_STEP_SUMMARY" in report["run"] and "exit 1" in report["run"]
    # A drifted stack fails the command, and pulumi/actions then writes no summary of its own:
    # the report sends the reader to the step's log, by the step's name.
    assert step["with"]["comment-on-summary"] is True
    assert f"The log of the step \\`{step['name']}\\`" in report["run"] and "preview above" not in report["run"]
    assert not job["concurrency"]["group"].startswith("deploy-"), "drift must not displace a queued deploy"


def test_e2e_installs_pinned_tools_and_runs_the_e2e_tests():
    workflow = load("e2e.yml")
    assert "workflow_dispatch" in workflow[True] and "schedule" in workflow[True]
    job = workflow["jobs"]["e2e"]
    uses = [s.get("uses", "") for s in job["steps"]]
    assert any(u.startswith("helm/kind-action@") for u in uses)
    assert any(u.startswith("pulumi/actions@") for u in uses)
    kind = next(s for s in job["steps"] if s.get("uses", "").startswith("helm/kind-action@"))
    assert kind["with"]["version"] == "${{ env.KIND_VERSION }}" and re.match(
        r"^v\d+\.\d+\.\d+$", workflow["env"]["KIND_VERSION"]
    )
    assert any("pytest -m e2e tests/e2e" in s.get("run", "") for s in job["steps"])
    # The runner's own kind cluster and infra/up's local state: no shared credentials.
    assert "secrets." not in (ROOT / ".github" / "workflows" / "e2e.yml").read_text()


def test_ci_runs_the_project_checks():
    steps = load("ci.yml")["jobs"]["ci"]["steps"]
    assert any(s.get("run", "").strip() == "bash .ci/run" for s in steps)


def test_pulumi_cli_matches_the_sdk_pin():
    pyproject = (ROOT / "pyproject.toml").read_text()
    sdk = re.search(r'"pulumi==([0-9.]+)"', pyproject).group(1)
    for path in WORKFLOWS:
        env = load(path.name).get("env", {})
        if "PULUMI_VERSION" in env:
            assert env["PULUMI_VERSION"] == sdk, f"{path.name}: Pulumi CLI {env['PULUMI_VERSION']} != SDK {sdk}"


# --------------------------------------------------------------------------- stack credentials

STACK_CREDENTIALS = re.compile(r"KUBECONFIG_|PULUMI_CONFIG_PASSPHRASE")


def jobs_with_stack_credentials(workflow: dict) -> dict[str, dict]:
    return {name: job for name, job in workflow.get("jobs", {}).items() if STACK_CREDENTIALS.search(json.dumps(job))}


def environment_name(job: dict) -> str | None:
    env = job.get("environment")
    return env["name"] if isinstance(env, dict) else env


def test_stack_credentials_come_only_from_environments():
    """A pull request's code can rewrite any workflow, so a stack credential kept as a repository
    secret would reach it. Every job that reads one names the environment that holds it."""
    found = 0
    for path in WORKFLOWS:
        for name, job in jobs_with_stack_credentials(load(path.name)).items():
            found += 1
            assert environment_name(job), f"{path.name} job {name} reads stack credentials without an environment"
    assert found >= 4  # two deploy jobs, drift, preview


def test_pull_request_code_never_gets_deploy_or_drift_credentials_and_prod_previews_wait_for_review():
    deploy_environments = {environment_name(job) for job in load("deploy.yml")["jobs"].values()}
    assert deploy_environments == set(DEPLOY_ORDER)
    drift = load("drift.yml")["jobs"]["drift"]
    assert environment_name(drift) == "drift-${{ matrix.stack }}"
    for path in WORKFLOWS:
        workflow = load(path.name)
        if "pull_request" not in workflow[True] and "pull_request_target" not in workflow[True]:
            continue
        for name, job in jobs_with_stack_credentials(workflow).items():
            env = environment_name(job)
            assert env == "preview-${{ matrix.stack }}", (
                f"{path.name} job {name}: PR code must use the preview-<stack> environments"
            )
            assert sorted(matrix_stacks(job)) == ci_stacks(stack_configs())
    # Only an environment's own protection stands between PR code and prod state: the docs say
    # which environments exist and that preview-prod requires reviewers.
    docs = "\n".join(p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))] if p.exists())
    for env in ("preview-prod", "preview-staging", "drift-prod", "drift-staging"):
        assert f"`{env}`" in docs, f"the docs do not describe the environment {env}"
    assert re.search(r"`preview-prod`[^\n]*required reviewers", docs)


def test_ci_stacks_keep_one_passphrase_salt():
    """Without a salt in the stack file, each CI run would make a new one (in a checkout that is
    thrown away): every job running Pulumi on a CI stack falls back to the salt in the state,
    unless the stack file carries its own."""
    configs = stack_configs()
    for name in ("deploy.yml", "drift.yml", "preview.yml"):
        workflow = load(name)
        has_fallback = workflow.get("env", {}).get("PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER") == "true"
        for stack in ci_stacks(configs):
            assert has_fallback or "encryptionsalt" in configs[stack], f"{name}: no passphrase salt for {stack}"
