"""The configuration: what operators and teams write, how it is checked, and what the builders read.

- Input schemas (pydantic, unknown keys are errors): environment.py, the stack config
  (`agentplane:*` in stacks/Pulumi.<stack>.yaml); team.py, a team file
  (stacks/teams/<team>.yaml, untrusted); sections/, each platform piece's settings and checks,
  with the registry of those checks (sections.SECTIONS); base.py, addresses.py and untrusted.py,
  the types and grammars they share.
- The loader: load.py runs the steps (files.py reads, messages.py words errors, checks.py
  cross-checks, resolve.py resolves, deploy.py lists deploy-time warnings) and returns a
  PlatformSpec only when every file is valid, or one ConfigError listing every problem.
- The resolved spec: platform.py, immutable (frozen dataclasses): PlatformSpec, TeamSpec and
  AgentSpec, the one input of the builders.
"""
