"""Shell completion for `agentplane`, generated from the argument parser itself (so it never drifts).

bash: `source <(agentplane completion bash)`; zsh: `source <(agentplane completion zsh)`
(zsh runs the bash function through bashcompinit). Stack names complete from
stacks/Pulumi.<stack>.yaml in the working directory; paths complete as files.
"""

from __future__ import annotations

import argparse

from agentplane.command import EXIT_OK

# Options whose value is a stack name, and options whose value is a path.
STACK_OPTIONS = ("--stack", "--env")
PATH_OPTIONS = ("--config", "--teams", "--out", "--repo")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse offers no public accessor for subparsers
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return sorted(o for a in parser._actions for o in a.option_strings if o.startswith("--"))


def _choices(parser: argparse.ArgumentParser) -> list[str]:
    return [c for a in parser._actions if not a.option_strings and a.choices for c in a.choices]


def bash(parser: argparse.ArgumentParser) -> str:
    commands = _subcommands(parser)
    cases = []
    for name, sub in commands.items():
        words = " ".join([*_choices(sub), *_options(sub)])
        cases.append(f'    {name}) opts="{words}" ;;')
    top = " ".join([*commands, *_options(parser)])
    return "\n".join(
        [
            "# agentplane completion (bash): source <(agentplane completion bash)",
            "_agentplane() {",
            '  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" opts=""',
            "  if ((COMP_CWORD == 1)); then",
            f'    mapfile -t COMPREPLY < <(compgen -W "{top}" -- "$cur")',
            "    return",
            "  fi",
            '  case "$prev" in',
            f"    {'|'.join(STACK_OPTIONS)})",
            "      local stacks",
            "      stacks=$(for f in stacks/Pulumi.*.yaml; do [[ -e $f ]] && f=${f#stacks/Pulumi.} && echo "
            '"${f%.yaml}"; done)',
            '      mapfile -t COMPREPLY < <(compgen -W "$stacks" -- "$cur")',
            "      return ;;",
            f"    {'|'.join(PATH_OPTIONS)})",
            '      mapfile -t COMPREPLY < <(compgen -f -- "$cur")',
            "      return ;;",
            "  esac",
            '  case "${COMP_WORDS[1]}" in',
            *cases,
            "  esac",
            '  mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")',
            "}",
            "complete -F _agentplane agentplane",
        ]
    )


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    if shell == "bash":
        return bash(parser)
    if shell == "zsh":
        return "\n".join(
            [
                "# agentplane completion (zsh): source <(agentplane completion zsh)",
                "autoload -U +X bashcompinit && bashcompinit",
                bash(parser).split("\n", 1)[1],
            ]
        )
    raise ValueError(f"unsupported shell {shell!r}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=("bash", "zsh"))


def run(args: argparse.Namespace) -> int:
    from agentplane.cli import build_parser

    print(script(build_parser(), args.shell))
    return EXIT_OK
