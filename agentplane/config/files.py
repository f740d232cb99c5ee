"""Reading the configuration files into documents for the loader: the stack file
(stacks/Pulumi.<stack>.yaml, semi-trusted) and the team files (stacks/teams/<team>.yaml, untrusted).

Team files are read as untrusted input: only regular `<team>.yaml` files directly in the teams
directory, without following symlinks, their size checked before reading, parsed by
agentplane.safeyaml (no tags, aliases, duplicate keys or oversized documents).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agentplane import safeyaml
from agentplane.config.messages import display
from agentplane.errors import ConfigError, ConfigIssue

# The project namespace of the stack config keys: `agentplane:<key>`.
CONFIG_NAMESPACE = "agentplane"
# Where the project keeps its configuration, relative to the project root (Pulumi.yaml:
# `stackConfigDir: stacks`).
STACKS_DIR = "stacks"
TEAMS_DIR = "stacks/teams"
TEAM_FILE_SUFFIX = ".yaml"


def stack_config_path(root: Path, stack: str) -> Path:
    return root / STACKS_DIR / f"Pulumi.{stack}.yaml"


def known_environments(config_dir: Path) -> set[str]:
    """Environments are the stacks that have a config file: Pulumi.<env>.yaml."""
    return {p.name[len("Pulumi.") : -len(".yaml")] for p in config_dir.glob("Pulumi.*.yaml")}


def project_environments(root: Path, config_dir: Path | None = None) -> set[str]:
    """The environments a team file may name: the stacks of the project, and of the directory of
    a stack file given explicitly (`--config`)."""
    return known_environments(root / STACKS_DIR) | known_environments(config_dir or root / STACKS_DIR)


def read_stack_config(path: Path, stack: str, file: str) -> dict[str, Any]:
    """The `agentplane:` keys of the stack file at `path`, which messages call `file`."""
    try:
        doc = safeyaml.load_file(path)
    except FileNotFoundError:
        message = f"no config for stack {stack!r}: create it or pass --config"
        raise ConfigError([ConfigIssue(file, "", message)]) from None
    except (safeyaml.UnsafeYAML, OSError) as exc:
        raise ConfigError([ConfigIssue(file, "", str(exc))]) from None
    return env_config_from_stack_document(doc, file)


def env_config_from_stack_document(doc: Any, file: str) -> dict[str, Any]:
    """The `agentplane:` keys of a Pulumi stack file, without their namespace."""
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError([ConfigIssue(file, "", "the top level must be a mapping with a `config:` key")])
    config = doc.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError([ConfigIssue(file, "config", "must be a mapping of `agentplane:<key>: value`")])
    raw: dict[str, Any] = {}
    for key, value in config.items():
        namespace, _, name = str(key).rpartition(":")
        # A key without a namespace belongs to the project namespace, as in Pulumi itself.
        if namespace in ("", CONFIG_NAMESPACE):
            raw[name] = value
    return raw


def env_config_from_engine(config_env: Mapping[str, str]) -> dict[str, Any]:
    """The `agentplane:` keys as the Pulumi engine hands them to the program (JSON-encoded strings)."""
    raw: dict[str, Any] = {}
    for key, text in config_env.items():
        namespace, _, name = key.rpartition(":")
        if namespace != CONFIG_NAMESPACE:
            continue
        try:
            raw[name] = json.loads(text)
        except (TypeError, ValueError):
            raw[name] = text  # a plain string value
    return raw


def read_team_documents(teams_dir: Path, root: Path | None = None) -> tuple[list[tuple[Path, Any]], list[ConfigIssue]]:
    """Every team file's parsed document. Only regular `<team>.yaml` files directly in the teams
    directory are read, without following symlinks and with their size checked before reading;
    anything else in the directory is an error (nothing is skipped silently but dotfiles)."""
    docs: list[tuple[Path, Any]] = []
    issues: list[ConfigIssue] = []
    if not teams_dir.is_dir():
        return docs, [ConfigIssue(display(teams_dir, root), "", "teams directory does not exist")]
    for path in sorted(teams_dir.iterdir()):
        file = display(path, root)
        if path.name.startswith("."):
            continue  # .gitkeep and editor files; never read
        if path.is_symlink():
            message = "is a symbolic link; a team file must be a regular file in the teams directory"
            issues.append(ConfigIssue(file, "", message))
            continue
        if path.is_dir():
            issues.append(ConfigIssue(file, "", "is a directory; only <team>.yaml files belong in the teams directory"))
            continue
        if path.suffix != TEAM_FILE_SUFFIX:
            issues.append(ConfigIssue(file, "", "only <team>.yaml team files belong in the teams directory"))
            continue
        try:
            docs.append((path, safeyaml.load_file(path)))
        except FileNotFoundError:
            issues.append(ConfigIssue(file, "", "disappeared while being read"))
        except (safeyaml.UnsafeYAML, OSError) as exc:
            issues.append(ConfigIssue(file, "", str(exc) if isinstance(exc, safeyaml.UnsafeYAML) else "cannot be read"))
    return docs, issues
