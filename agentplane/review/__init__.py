"""The review tools: what a change does, in a reviewer's terms.

- summary: the per-team review summary of a spec (tier, models, egress, budget, access,
  provenance, telemetry) and the comparison of two summaries;
- diff: `agentplane diff`, two plan directories compared per team and component;
- matching: how the Pulumi engine pairs a program's resources with a stack's state (URN, then
  aliases), so diff shows a renamed resource as moved (the URN-stability test uses it too);
- prdiff: `agentplane pr-diff`, two git refs planned with their own code and compared per stack;
- prcomment: the preview workflow's one pull-request comment (`python -m agentplane.review.prcomment`).

prcomment and prdiff use the standard library only, and this package imports nothing: the
comment job runs prcomment from a plain checkout without installing the project.
"""
