"""Plans as an earlier release's `agentplane plan` wrote them, rebuilt from the current plan.

Release 0.1.0 (commit b96ea38) differs from today's program in two ways only, both without any
change in behaviour: the four per-team component types were `agentplane:team:*` (renamed since,
with aliases), and the offline plan's URNs carried only the parent's last type (`B$C` where the
engine makes `A$B$C`; the stock mock monitor's form). Rewriting the current plan back is exact
because nothing else changed; tests/test_review_moves.py checks the result against
tests/fixtures/urns/0.1.0, the URNs that release's stacks hold.
"""

from __future__ import annotations

import copy
from typing import Any

# The 0.1.0 type of each renamed component, written out here, not read from the aliases the
# program declares: the aliases are what the tests check.
TYPES_IN_0_1_0 = {
    "agentplane:tenants:Tenant": "agentplane:team:Tenant",
    "agentplane:identity:TeamRealm": "agentplane:team:RealmTeam",
    "agentplane:telemetry:TeamTelemetry": "agentplane:team:Telemetry",
    "agentplane:gateway:TeamGateway": "agentplane:team:Gateway",
}


def plan_of_0_1_0(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` (a current plan.json) as 0.1.0 wrote it: earlier types, no aliases, last-type URNs."""
    old = copy.deepcopy(doc)
    by_urn = {r["urn"]: r for r in doc["resources"]}
    assert by_urn, "the plan has no resources"

    def earlier_type(resource: dict[str, Any]) -> str:
        return TYPES_IN_0_1_0.get(resource["type"], resource["type"])

    def earlier_urn(urn: str) -> str:
        if urn not in by_urn:  # the root stack
            return urn
        resource = by_urn[urn]
        stack_and_project = urn.split("::")[:2]
        type_ = earlier_type(resource)
        if resource["parent"] in by_urn:
            type_ = f"{earlier_type(by_urn[resource['parent']])}${type_}"
        return "::".join([*stack_and_project, type_, resource["name"]])

    for resource in old["resources"]:
        resource.pop("aliases", None)
        resource["type"] = earlier_type(resource)
        resource["urn"] = earlier_urn(resource["urn"])
        resource["parent"] = earlier_urn(resource["parent"]) if resource["parent"] else ""
        resource["dependsOn"] = sorted(earlier_urn(d) for d in resource["dependsOn"])
    old["resources"].sort(key=lambda r: r["urn"])
    return old
