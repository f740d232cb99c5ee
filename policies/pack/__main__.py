"""Entry point Pulumi runs for `--policy-pack policies/pack` (the directory is on sys.path)."""

from pulumi_policy import EnforcementLevel, PolicyPack

from crossguard import PACK_NAME, policies

PolicyPack(name=PACK_NAME, enforcement_level=EnforcementLevel.MANDATORY, policies=policies())
