"""infra/: the kind cluster config and the infra/up, infra/down scripts.

The scripts run offline against shims: docker, kind and pulumi (and the Python that builds
.venv) log their arguments instead of acting, so the scripts' decisions can be checked
without a cluster. The .venv's python is the test interpreter (it has the project and
pyyaml), as infra/up's own .venv would be.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TRACKED_CONFIG = Path("stacks") / "Pulumi.dev.yaml"
LOCAL_CONFIG = Path(".pulumi-state") / "Pulumi.dev.yaml"
PLACEHOLDER = "placeholder-not-a-key"
# The dev stack's models use these providers (stacks/Pulumi.dev.yaml); both authenticate with a key.
DEV_KEY_VARIABLES = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
KEY_VARIABLES = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "AGENTPLANE_PLACEHOLDER_PROVIDER_KEYS",
)


# --------------------------------------------------------------------------- static checks


def test_kind_cluster_pins_the_node_image_by_digest():
    config = yaml.safe_load((ROOT / "infra" / "kind-cluster.yaml").read_text())
    assert config["kind"] == "Cluster" and config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert config["name"] == "agentplane"
    nodes = config["nodes"]
    assert nodes
    for node in nodes:
        assert re.fullmatch(r"kindest/node:v1\.34\.\d+@sha256:[0-9a-f]{64}", node["image"]), node["image"]


def test_kind_cluster_maps_the_gateway_and_keycloak_ports_on_loopback():
    config = yaml.safe_load((ROOT / "infra" / "kind-cluster.yaml").read_text())
    mappings = [m for node in config["nodes"] for m in node.get("extraPortMappings", [])]
    ports = {m["hostPort"]: m["containerPort"] for m in mappings}
    assert ports == {8443: 30443, 8080: 30080}
    assert all(m.get("listenAddress") == "127.0.0.1" for m in mappings)
    assert all(30000 <= m["containerPort"] <= 32767 for m in mappings), "NodePorts live in 30000-32767"


@pytest.mark.parametrize("script", ["up", "down"])
def test_infra_scripts_parse_and_are_executable(script):
    path = ROOT / "infra" / script
    done = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert path.stat().st_mode & 0o111, f"infra/{script} must be executable"
    text = path.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text


def test_infra_scripts_pass_shellcheck_when_available():
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    done = subprocess.run(
        [shellcheck, str(ROOT / "infra" / "up"), str(ROOT / "infra" / "down")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_infra_scripts_explain_missing_tools(tmp_path):
    """With none of the tools on PATH, infra/up names the first missing one and how to install it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dirname").symlink_to(shutil.which("dirname"))  # all the script needs before its checks
    done = subprocess.run(
        [shutil.which("bash"), str(ROOT / "infra" / "up")],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
    )
    assert done.returncode == 1
    assert "'docker' is not installed" in done.stderr and "https://docs.docker.com" in done.stderr


def test_local_state_stays_out_of_git():
    ignored = (ROOT / ".gitignore").read_text().split()
    assert ".pulumi-state/" in ignored and ".venv/" in ignored


def test_infra_up_knows_a_variable_for_every_provider_with_a_key():
    from agentplane.config.sections.gateway import PROVIDERS_WITH_KEYS

    script = (ROOT / "infra" / "up").read_text()
    mapped = dict(re.findall(r"^\s+([a-z]+)\) echo ([A-Z_]+) ;;$", script, re.M))
    assert set(mapped) == set(PROVIDERS_WITH_KEYS)
    assert all(variable.endswith("_API_KEY") for variable in mapped.values())


def test_the_dev_stack_keeps_provider_keys_out_of_git():
    config = yaml.safe_load((ROOT / TRACKED_CONFIG).read_text())
    assert "encryptionsalt" not in config
    assert "providerKeys" not in (config["config"].get("agentplane:gateway") or {})


# --------------------------------------------------------------------------- with fake tools

FAKE_TOOLS = {
    "docker": 'echo "docker $*" >> "$FAKE_LOG"\n',
    "kind": """echo "kind $*" >> "$FAKE_LOG"
case "$1 $2" in
  "get clusters") cat "$FAKE_CLUSTERS" 2>/dev/null || true ;;
  "create cluster")
    name=""; prev=""
    for arg in "$@"; do [ "$prev" = --name ] && name="$arg"; prev="$arg"; done
    echo "$name" >> "$FAKE_CLUSTERS" ;;
  "delete cluster")
    name=""; prev=""
    for arg in "$@"; do [ "$prev" = --name ] && name="$arg"; prev="$arg"; done
    grep -vx "$name" "$FAKE_CLUSTERS" > "$FAKE_CLUSTERS.tmp" || true
    mv "$FAKE_CLUSTERS.tmp" "$FAKE_CLUSTERS" ;;
esac
""",
    # `stack select` succeeds once `stack init` created the stack; `stack init -C <dir>` writes
    # the salt into <dir>'s stack file, as Pulumi does; `config set` logs the value it reads
    # from stdin and stores a stand-in ciphertext in the --config-file.
    "pulumi": """echo "pulumi $* | backend=${PULUMI_BACKEND_URL:-}" \\
  "passphrase=${PULUMI_CONFIG_PASSPHRASE:-}" >> "$FAKE_LOG"
case "$1 $2" in
  "stack ls") cat "$FAKE_STACKS" 2>/dev/null || echo "[]" ;;
  "stack select") [ -e "$FAKE_STACK_CREATED" ] ;;
  "stack init")
    dir=""; prev=""
    for arg in "$@"; do [ "$prev" = -C ] && dir="$arg"; prev="$arg"; done
    printf 'encryptionsalt: v1:fake-salt\\n' > "$dir/Pulumi.dev.yaml"
    touch "$FAKE_STACK_CREATED" ;;
  "config set")
    value="$(cat)"
    echo "stdin=$value" >> "$FAKE_LOG"
    "$REAL_PYTHON" - "$@" <<'PY'
import sys, yaml
args = sys.argv[1:]
path, key = args[args.index("--config-file") + 1], args[args.index("--path") + 1]
provider = key.rsplit(".", 1)[1]
doc = yaml.safe_load(open(path))
gateway = doc["config"].setdefault("agentplane:gateway", {})
gateway.setdefault("providerKeys", {})[provider] = {"secure": "v1:ciphertext-of-" + provider}
yaml.safe_dump(doc, open(path, "w"), sort_keys=False)
PY
    ;;
  "destroy "*) exit "${FAKE_DESTROY_RC:-0}" ;;
esac
""",
    # `-m venv DIR` makes DIR/bin/python: pip is logged, anything else runs the real interpreter.
    "fake-python": """echo "python $*" >> "$FAKE_LOG"
if [ "$1" = -m ] && [ "$2" = venv ]; then
  mkdir -p "$3/bin"
  cat > "$3/bin/python" <<'SH'
#!/usr/bin/env bash
if [ "$1" = -m ] && [ "$2" = pip ]; then echo "python $*" >> "$FAKE_LOG"; exit 0; fi
exec "$REAL_PYTHON" "$@"
SH
  chmod +x "$3/bin/python"
fi
""",
}


@pytest.fixture
def fake_repo(tmp_path):
    repo = tmp_path / "repo"
    (repo / "infra").mkdir(parents=True)
    (repo / "stacks").mkdir()
    for name in ("up", "down", "kind-cluster.yaml"):
        shutil.copy2(ROOT / "infra" / name, repo / "infra" / name)
    shutil.copy2(ROOT / "Pulumi.yaml", repo / "Pulumi.yaml")
    shutil.copy2(ROOT / TRACKED_CONFIG, repo / TRACKED_CONFIG)
    (repo / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in FAKE_TOOLS.items():
        (bin_dir / name).write_text("#!/usr/bin/env bash\n" + body)
        (bin_dir / name).chmod(0o755)
    log, clusters, stacks = tmp_path / "log", tmp_path / "clusters", tmp_path / "stacks.json"
    path = os.pathsep.join([str(bin_dir), os.environ["PATH"]])
    env = {
        key: value for key, value in os.environ.items() if key not in KEY_VARIABLES and not key.startswith("PULUMI_")
    }
    env |= {
        "PATH": path,
        "HOME": str(tmp_path),
        "FAKE_LOG": str(log),
        "FAKE_CLUSTERS": str(clusters),
        "FAKE_STACKS": str(stacks),
        "FAKE_STACK_CREATED": str(tmp_path / "stack-created"),
        "PYTHON": str(bin_dir / "fake-python"),
        "REAL_PYTHON": sys.executable,
    }

    def run(script: str, *args: str, **extra: str) -> tuple[subprocess.CompletedProcess, list[str]]:
        log.write_text("")
        # No terminal on stdin: infra/down cannot ask, so it must be told (--yes).
        done = subprocess.run(
            [str(repo / "infra" / script), *args],
            capture_output=True,
            text=True,
            check=False,
            env={**env, **extra},
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        return done, log.read_text().splitlines()

    return repo, clusters, stacks, run


def commands(log: list[str], prefix: str) -> list[str]:
    return [line.split(" |")[0] for line in log if line.startswith(prefix)]


def local_config(repo: Path) -> dict:
    return yaml.safe_load((repo / LOCAL_CONFIG).read_text())


def test_infra_up_creates_what_is_missing_then_reuses_it(fake_repo):
    repo, _, _, run = fake_repo
    done, log = run("up", OPENAI_API_KEY="sk-openai", ANTHROPIC_API_KEY="sk-anthropic")
    assert done.returncode == 0, done.stderr
    assert f"kind create cluster --name agentplane --config {repo}/infra/kind-cluster.yaml --wait 180s" in log
    assert f"python -m venv {repo}/.venv" in log
    assert any(line.startswith("python -m pip install") and f"-e {repo}[test]" in line for line in log)
    backend = f"backend=file://{repo}/.pulumi-state"
    init = next(line for line in log if line.startswith("pulumi stack init"))
    assert "--secrets-provider passphrase" in init and init.split(" |")[0].endswith(" dev") and backend in init
    up = next(line for line in log if line.startswith("pulumi up"))
    assert up.startswith(f"pulumi up --yes --non-interactive --stack dev --config-file {repo}/{LOCAL_CONFIG}")
    assert backend in up and "passphrase=agentplane-local-dev-only" in up
    assert "PULUMI_CONFIG_PASSPHRASE is not set" in done.stderr
    assert local_config(repo)["encryptionsalt"] == "v1:fake-salt"

    # Second run: cluster, .venv and stack exist; the keys are set again from the variables.
    done, log = run("up", PULUMI_CONFIG_PASSPHRASE="mine", OPENAI_API_KEY="sk-openai", ANTHROPIC_API_KEY="sk-anthropic")
    assert done.returncode == 0, done.stderr
    assert not any("create cluster" in line or "venv" in line or "pip install" in line for line in log), log
    assert not commands(log, "pulumi stack init"), "an existing stack is reused"
    assert any(line.startswith("pulumi up") and "passphrase=mine" in line for line in log)
    assert "PULUMI_CONFIG_PASSPHRASE is not set" not in done.stderr
    assert local_config(repo)["encryptionsalt"] == "v1:fake-salt", "the salt survives the refresh"


def test_infra_up_never_writes_the_tracked_stack_config(fake_repo):
    repo, _, _, run = fake_repo
    before = (repo / TRACKED_CONFIG).read_bytes()
    done, log = run("up", AGENTPLANE_PLACEHOLDER_PROVIDER_KEYS="1")
    assert done.returncode == 0, done.stderr
    assert (repo / TRACKED_CONFIG).read_bytes() == before
    # What could write stack config gets the local file; the stack is created outside the repo.
    for command in commands(log, ("pulumi config", "pulumi up", "pulumi destroy")):
        assert f"--config-file {repo}/{LOCAL_CONFIG}" in command, command
    init = commands(log, "pulumi stack init")[0]
    scratch = Path(init.split(" -C ")[1].split()[0])
    assert repo not in scratch.parents and not scratch.exists(), "a scratch project, removed afterwards"
    assert not any("--create" in c for c in commands(log, "pulumi stack select"))


def test_infra_up_passes_provider_keys_on_stdin_never_in_argv(fake_repo):
    repo, _, _, run = fake_repo
    done, log = run("up", OPENAI_API_KEY="sk-openai-123", ANTHROPIC_API_KEY="sk-ant-456")
    assert done.returncode == 0, done.stderr
    sets = commands(log, "pulumi config set")
    assert sorted(sets) == sorted(
        f"pulumi config set --secret --path agentplane:gateway.providerKeys.{p} --config-file {repo}/{LOCAL_CONFIG} "
        f"--stack dev --non-interactive"
        for p in DEV_KEY_VARIABLES
    )
    assert {line for line in log if line.startswith("stdin=")} == {"stdin=sk-openai-123", "stdin=sk-ant-456"}
    argv_lines = [line for line in log if not line.startswith("stdin=")]
    assert not any("sk-openai-123" in line or "sk-ant-456" in line for line in argv_lines)
    assert "sk-openai-123" not in done.stdout + done.stderr
    assert "sk-openai-123" not in (repo / LOCAL_CONFIG).read_text(), "stored encrypted"
    keys = local_config(repo)["config"]["agentplane:gateway"]["providerKeys"]
    assert set(keys) == set(DEV_KEY_VARIABLES)
    # The tracked gateway settings are still there beside the keys.
    assert local_config(repo)["config"]["agentplane:gateway"]["jwksUrl"].startswith("http://keycloak-http.")


def test_infra_up_without_keys_fails_naming_the_variables(fake_repo):
    repo, _, _, run = fake_repo
    done, log = run("up", OPENAI_API_KEY="sk-openai")
    assert done.returncode == 1
    assert "ANTHROPIC_API_KEY" in done.stderr and "AGENTPLANE_PLACEHOLDER_PROVIDER_KEYS=1" in done.stderr
    assert "OPENAI_API_KEY (" not in done.stderr, "only the missing variable is named"
    assert not commands(log, "pulumi up"), "nothing is deployed without the keys"
    assert not commands(log, "pulumi config set"), "nothing is stored before every key is there"


def test_infra_up_keeps_keys_stored_by_an_earlier_run(fake_repo):
    repo, _, _, run = fake_repo
    done, _ = run("up", OPENAI_API_KEY="sk-openai", ANTHROPIC_API_KEY="sk-anthropic")
    assert done.returncode == 0, done.stderr
    done, log = run("up")
    assert done.returncode == 0, done.stderr
    assert not commands(log, "pulumi config set")
    assert set(local_config(repo)["config"]["agentplane:gateway"]["providerKeys"]) == set(DEV_KEY_VARIABLES)
    assert commands(log, "pulumi up")


def test_infra_up_stores_placeholders_loudly_when_asked(fake_repo):
    repo, _, _, run = fake_repo
    done, log = run("up", AGENTPLANE_PLACEHOLDER_PROVIDER_KEYS="1", ANTHROPIC_API_KEY="sk-anthropic")
    assert done.returncode == 0, done.stderr
    assert {line for line in log if line.startswith("stdin=")} == {f"stdin={PLACEHOLDER}", "stdin=sk-anthropic"}
    assert "EVERY CALL" in done.stderr and "openai (OPENAI_API_KEY)" in done.stderr
    assert "anthropic (" not in done.stderr, "a real key is not reported as a placeholder"
    assert commands(log, "pulumi up")

    # Later runs keep warning about the stored placeholder, until the real key is exported.
    done, log = run("up")
    assert done.returncode == 0, done.stderr
    assert not commands(log, "pulumi config set")
    assert "EVERY CALL" in done.stderr and "openai (OPENAI_API_KEY)" in done.stderr
    done, log = run("up", OPENAI_API_KEY="sk-openai")
    assert done.returncode == 0, done.stderr
    assert {line for line in log if line.startswith("stdin=")} == {"stdin=sk-openai"}
    assert "EVERY CALL" not in done.stderr
    done, _ = run("up")
    assert "EVERY CALL" not in done.stderr


def test_infra_up_refreshes_the_local_config_from_the_tracked_one(fake_repo):
    repo, _, _, run = fake_repo
    done, _ = run("up", OPENAI_API_KEY="sk-openai", ANTHROPIC_API_KEY="sk-anthropic")
    assert done.returncode == 0, done.stderr
    tracked = repo / TRACKED_CONFIG
    tracked.write_text(tracked.read_text().replace("agentplane:protect: false", "agentplane:protect: true"))
    done, _ = run("up")
    assert done.returncode == 0, done.stderr
    config = local_config(repo)
    assert config["config"]["agentplane:protect"] is True
    assert config["encryptionsalt"] == "v1:fake-salt"
    assert set(config["config"]["agentplane:gateway"]["providerKeys"]) == set(DEV_KEY_VARIABLES)
    assert (repo / LOCAL_CONFIG).stat().st_mode & 0o077 == 0, "only its owner can read the local config"


def test_infra_down_destroys_then_deletes_the_cluster(fake_repo):
    repo, clusters, stacks, run = fake_repo
    clusters.write_text("agentplane\n")
    (repo / ".pulumi-state").mkdir()
    stacks.write_text('[{"name": "dev", "resourceCount": 40}]')
    done, log = run("down", "--yes")
    assert done.returncode == 0, done.stderr
    steps = commands(log, ("pulumi", "kind delete"))
    assert steps == [
        "pulumi stack ls --json",
        "pulumi state unprotect --all --yes --stack dev",
        f"pulumi destroy --yes --non-interactive --stack dev --config-file {repo}/{LOCAL_CONFIG}",
        "kind delete cluster --name agentplane",
    ]
    assert (repo / ".pulumi-state").is_dir(), "down keeps the (empty) local state"


def test_infra_down_keeps_the_cluster_when_destroy_fails(fake_repo):
    repo, clusters, stacks, run = fake_repo
    clusters.write_text("agentplane\n")
    (repo / ".pulumi-state").mkdir()
    stacks.write_text('[{"name": "organization/agentplane/dev", "resourceCount": 3}]')
    done, log = run("down", "--yes", FAKE_DESTROY_RC="1")
    assert done.returncode == 1
    assert "pulumi destroy failed" in done.stderr and "kind delete cluster --name agentplane" in done.stderr
    assert not any(line.startswith("kind delete") for line in log)


def test_infra_down_forgets_stale_resources_when_the_cluster_is_gone(fake_repo):
    repo, _, stacks, run = fake_repo
    (repo / ".pulumi-state").mkdir()
    stacks.write_text('[{"name": "dev", "resourceCount": 40}]')
    done, log = run("down", "--yes")
    assert done.returncode == 0, done.stderr
    assert commands(log, ("pulumi", "kind delete")) == [
        "pulumi stack ls --json",
        "pulumi state unprotect --all --yes --stack dev",
        "pulumi state delete --all --yes --stack dev",
    ]


def test_infra_down_with_nothing_to_do_is_a_no_op(fake_repo):
    _, _, _, run = fake_repo
    done, log = run("down", "--yes")
    assert done.returncode == 0, done.stderr
    assert not any(line.startswith(("pulumi", "kind delete")) for line in log), log
    assert "nothing to destroy" in done.stdout and "does not exist" in done.stdout


def test_infra_up_then_down_leave_the_tracked_config_untouched(fake_repo):
    repo, _, stacks, run = fake_repo
    before = (repo / TRACKED_CONFIG).read_bytes()
    done, _ = run("up", AGENTPLANE_PLACEHOLDER_PROVIDER_KEYS="1")
    assert done.returncode == 0, done.stderr
    stacks.write_text('[{"name": "dev", "resourceCount": 40}]')
    done, log = run("down", "--yes")
    assert done.returncode == 0, done.stderr
    assert any(c.startswith("pulumi destroy") for c in commands(log, "pulumi"))
    assert (repo / TRACKED_CONFIG).read_bytes() == before


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize("script", ["up", "down"])
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_prints_usage_and_does_nothing(fake_repo, script, flag):
    repo, clusters, stacks, run = fake_repo
    clusters.write_text("agentplane\n")
    (repo / ".pulumi-state").mkdir()
    stacks.write_text('[{"name": "dev", "resourceCount": 40}]')
    done, log = run(script, flag)
    assert done.returncode == 0, done.stderr
    assert f"infra/{script} --help" in done.stdout and "--cluster NAME" in done.stdout
    assert log == [], f"--help must not run anything: {log}"
    assert clusters.read_text() == "agentplane\n"


@pytest.mark.parametrize("script", ["up", "down"])
@pytest.mark.parametrize(
    "args", [["--bogus"], ["help"], ["--cluster"], ["--cluster", "Not_A_Name"], ["--yes", "extra"]]
)
def test_unknown_or_malformed_arguments_are_refused_before_anything_runs(fake_repo, script, args):
    repo, clusters, stacks, run = fake_repo
    clusters.write_text("agentplane\n")
    (repo / ".pulumi-state").mkdir()
    stacks.write_text('[{"name": "dev", "resourceCount": 40}]')
    if script == "up" and args[0] == "--yes":
        args = ["--yes"]  # infra/up has no --yes at all
    done, log = run(script, *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "error:" in done.stderr
    assert log == [], f"a refused command line must not run anything: {log}"


def test_infra_down_without_yes_and_without_a_terminal_refuses(fake_repo):
    repo, clusters, stacks, run = fake_repo
    clusters.write_text("agentplane\n")
    (repo / ".pulumi-state").mkdir()
    stacks.write_text('[{"name": "dev", "resourceCount": 40}]')
    done, log = run("down")
    assert done.returncode == 1
    assert "--yes" in done.stderr and "agentplane" in done.stderr
    assert not any(line.startswith(("pulumi", "kind delete")) for line in log), log
    assert clusters.read_text() == "agentplane\n"


def test_infra_down_asks_on_a_terminal_and_a_no_changes_nothing(fake_repo):
    import pty

    repo, clusters, stacks, _ = fake_repo
    clusters.write_text("agentplane\n")
    (repo / ".pulumi-state").mkdir()
    stacks.write_text('[{"name": "dev", "resourceCount": 40}]')
    env_log = clusters.parent / "log"
    env_log.write_text("")
    leader, follower = pty.openpty()
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(clusters.parent / "bin"), os.environ["PATH"]]),
        "HOME": str(clusters.parent),
        "FAKE_LOG": str(env_log),
        "FAKE_CLUSTERS": str(clusters),
        "FAKE_STACKS": str(stacks),
        "REAL_PYTHON": sys.executable,
    }
    os.write(leader, b"n\n")
    done = subprocess.run(
        [str(repo / "infra" / "down")], stdin=follower, capture_output=True, text=True, env=env, timeout=60, check=False
    )
    os.close(leader)
    os.close(follower)
    assert done.returncode == 1, done.stderr
    assert "[y/N]" in done.stdout and "nothing was changed" in done.stdout
    log = env_log.read_text().splitlines()
    assert not any(line.startswith(("pulumi", "kind delete")) for line in log), log


def test_infra_up_and_down_use_the_named_cluster_and_state_dir(fake_repo, tmp_path):
    repo, clusters, stacks, run = fake_repo
    clusters.write_text("agentplane\n")  # the developer's own cluster: never touched
    state = tmp_path / "e2e-state"
    done, log = run(
        "up", "--cluster", "agentplane-e2e-1a2b", "--state-dir", str(state), AGENTPLANE_PLACEHOLDER_PROVIDER_KEYS="1"
    )
    assert done.returncode == 0, done.stderr
    assert (
        "kind create cluster --name agentplane-e2e-1a2b --config " + f"{repo}/infra/kind-cluster.yaml --wait 180s"
        in commands(log, "kind")
    )
    assert f"pulumi up --yes --non-interactive --stack dev --config-file {state}/Pulumi.dev.yaml" in commands(
        log, "pulumi"
    )
    assert all(f"backend=file://{state} " in line for line in log if line.startswith("pulumi"))
    config = yaml.safe_load((state / "Pulumi.dev.yaml").read_text())
    assert config["config"]["agentplane:cluster"]["context"] == "kind-agentplane-e2e-1a2b"
    assert not (repo / ".pulumi-state").exists(), "the default state is not touched"

    stacks.write_text('[{"name": "dev", "resourceCount": 40}]')
    done, log = run("down", "--yes", "--cluster", "agentplane-e2e-1a2b", "--state-dir", str(state))
    assert done.returncode == 0, done.stderr
    assert commands(log, "kind delete") == ["kind delete cluster --name agentplane-e2e-1a2b"]
    assert clusters.read_text().split() == ["agentplane"]


def test_infra_up_preview_needs_the_cluster_and_never_creates_it(fake_repo):
    _, clusters, _, run = fake_repo
    done, log = run("up", "--preview", AGENTPLANE_PLACEHOLDER_PROVIDER_KEYS="1")
    assert done.returncode == 1
    assert "--preview needs the kind cluster 'agentplane'" in done.stderr
    assert not any(line.startswith(("kind create", "pulumi")) for line in log), log


def test_infra_up_preview_previews_and_changes_nothing(fake_repo):
    repo, clusters, _, run = fake_repo
    clusters.write_text("agentplane\n")
    done, log = run("up", "--preview", AGENTPLANE_PLACEHOLDER_PROVIDER_KEYS="1")
    assert done.returncode == 0, done.stderr
    steps = commands(log, "pulumi")
    assert f"pulumi preview --diff --non-interactive --stack dev --config-file {repo}/{LOCAL_CONFIG}" in steps
    assert not any(s.startswith(("pulumi up", "pulumi destroy")) for s in steps), steps
    assert not any(line.startswith("kind create") for line in log), log
