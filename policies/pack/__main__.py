"""Entry point Pulumi runs for `--policy-pack policies/pack` (the directory is on sys.path)."""

from crossguard import PACK_NAME, policies
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(name=PACK_NAME, enforcement_level=EnforcementLevel.MANDATORY, policies=policies())
