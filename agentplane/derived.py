"""Every name the program derives, checked once, for `validate` and `plan` alike.

Team files choose a few names (team, agents, groups, MCP servers); the program derives many
more from them: Kubernetes object names per kind and namespace, label values, gateway route
paths, Pulumi resource names (URNs) and the plan's own file names. Two teams can derive the
same name (team `sales` with agent `models` and team `sales-agent` both give the HTTPRoute
`sales-agent-models`), and a name can be valid in a team file but not where it ends up.

Instead of predicting those names separately (a second list that would drift from the
builders), the check reads what the program actually registered under the offline engine, so
it covers every object any component declares now or later. Each problem names the team file
and the field the offending name derives from (the stack config for platform objects).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

from agentplane.config.platform import PlatformSpec, TeamSpec
from agentplane.errors import ConfigIssue

# k8s.io/apimachinery/pkg/util/validation: IsDNS1123Label, IsDNS1123Subdomain, IsDNS1035Label,
# IsValidLabelValue, IsQualifiedName
# (kubernetes/kubernetes@v1.34.0:staging/src/k8s.io/apimachinery/pkg/util/validation/validation.go).
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
# Names that are DNS-1123 labels (apimachinery ValidateNamespaceName, core ValidateServiceName is 1035).
LABEL_KINDS = {("v1", "Namespace")}
DNS1035_KINDS = {("v1", "Service")}
# RBAC objects are path segment names (ValidatePathSegmentName): anything but '/', '%', '.' and '..'.
PATH_SEGMENT_GROUPS = ("rbac.authorization.k8s.io/",)
# A plan file's path component (component/namespace/kind-name.yaml) on common file systems.
MAX_FILE_NAME_BYTES = 255


def _name_problem(api_version: str, kind: str, name: str) -> str | None:
    if not isinstance(name, str) or not name:
        return "has no name"
    if (api_version, kind) in LABEL_KINDS:
        ok, rule = (
            len(name) <= 63 and DNS1123_LABEL.match(name),
            "a DNS-1123 label (at most 63 lowercase letters, digits and '-')",
        )
    elif (api_version, kind) in DNS1035_KINDS:
        ok, rule = (
            len(name) <= 63 and DNS1035_LABEL.match(name),
            "a DNS-1035 label (a letter first, at most 63 lowercase letters, digits and '-')",
        )
    elif api_version.startswith(PATH_SEGMENT_GROUPS):
        ok, rule = (
            name not in (".", "..") and "/" not in name and "%" not in name,
            "a path segment name (no '/', '%', '.' or '..')",
        )
    else:
        ok, rule = (
            len(name) <= 253 and DNS1123_SUBDOMAIN.match(name),
            "a DNS-1123 subdomain (at most 253 lowercase letters, digits, '-' and '.')",
        )
    return None if ok else f"must be {rule}"


def _label_problems(labels: object) -> Iterable[str]:
    if not isinstance(labels, dict):
        return
    for key, value in labels.items():
        prefix, _, name = str(key).rpartition("/")
        if (
            len(name) > 63
            or not QUALIFIED_NAME.match(name)
            or (prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)))
        ):
            yield f"label key {key!r} is not a qualified name"
        if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.match(value):
            yield (
                f"label {key} value {str(value)[:80]!r} is not a label value (at most 63 letters, digits, '-', '_' "
                "and '.')"
            )


def _route_path_problems(obj: dict) -> Iterable[str]:
    """HTTPRoute path matches (gateway-api@v1.6.1 config/crd/standard/gateway.networking.k8s.io_httproutes.yaml:
    spec.rules[].matches[].path x-kubernetes-validations and maxLength 1024)."""
    for rule in (obj.get("spec") or {}).get("rules") or []:
        for match in rule.get("matches") or []:
            path = match.get("path") or {}
            if path.get("type", "PathPrefix") not in ("Exact", "PathPrefix"):
                continue
            value = path.get("value", "/")
            if not isinstance(value, str):
                continue
            problems = []
            if not value.startswith("/"):
                problems.append("must start with '/'")
            for bad in ("//", "/./", "/../", "%2f", "%2F", "#"):
                if bad in value:
                    problems.append(f"must not contain {bad!r}")
            if value.endswith(("/..", "/.")):
                problems.append("must not end with '/.' or '/..'")
            if len(value) > 1024:
                problems.append("is longer than 1024 characters")
            for problem in problems:
                yield f"route path {value[:120]!r} {problem}"


def _candidates(team: TeamSpec) -> list[tuple[str, str]]:
    """(field, value) of the team-file values names are derived from, most specific first."""
    out: list[tuple[str, str]] = []
    out += [(f"agents[{i}].name", a.name) for i, a in enumerate(team.agents)]
    out += [(f"mcpServers[{i}].name", s.name) for i, s in enumerate(team.mcp_servers)]
    out += [(f"mcpServers[{i}].service", s.service) for i, s in enumerate(team.mcp_servers)]
    out += [(f"owners[{i}]", g.rpartition("/")[2]) for i, g in enumerate(team.owners)]
    out += [(f"members[{i}]", g.rpartition("/")[2]) for i, g in enumerate(team.members)]
    out += [(f"egress[{i}]", e) for i, e in enumerate(team.egress)]
    out += [("models", m) for m in team.models]
    return out


def _contains(name: str, value: str) -> bool:
    return re.search(rf"(^|[-./:_]){re.escape(value)}($|[-./:_])", name) is not None


def field_of(team: TeamSpec, derived: str) -> str:
    """The team-file field `derived` comes from: the longest team value it contains after the
    team's own name, else the team's `name`."""
    rest = derived
    for lead in (f"{team.name}-", f"{team.name}.", f"/{team.name}/", f"{team.namespace}/"):
        if lead in rest:
            rest = rest.split(lead, 1)[1]
    found = [(len(v), -i, f) for i, (f, v) in enumerate(_candidates(team)) if _contains(rest, v)]
    return max(found)[2] if found else "name"


def stack_field_of(spec: PlatformSpec, derived: str) -> str:
    found = [(len(m.name), f"agentplane:models[{i}].name") for i, m in enumerate(spec.env.models) if m.name in derived]
    found += [
        (len(t.name), f"agentplane:tiers[{i}].name") for i, t in enumerate(spec.env.tiers) if _contains(derived, t.name)
    ]
    return max(found)[1] if found else ""


def check_plan(plan, config_label: str) -> list[ConfigIssue]:
    """Every problem with a name the program registered, attributed to a file and field."""
    from agentplane.plan import component_of, is_kubernetes_object, object_path, team_of

    spec: PlatformSpec = plan.spec
    teams = {t.name: t for t in spec.teams}
    by_urn = plan.by_urn()
    issues: list[ConfigIssue] = []

    def where(reg, derived: str) -> tuple[str, str]:
        team = teams.get(team_of(reg, by_urn) or "")
        if team is None and is_kubernetes_object(reg):
            team = teams.get(((reg.inputs.get("metadata") or {}).get("labels") or {}).get("agentplane.io/tenant", ""))
        if team is not None:
            return team.file, field_of(team, derived)
        return config_label, stack_field_of(spec, derived)

    def describe(reg) -> str:
        if is_kubernetes_object(reg):
            meta = reg.inputs["metadata"]
            ns = meta.get("namespace")
            return f"{reg.inputs['kind']} {ns + '/' if ns else ''}{meta.get('name')}"
        return f"{reg.type.rsplit(':', 1)[-1]} {reg.name}"

    # One URN, one resource: the engine refuses a second registration of a URN.
    urns: dict[str, list] = defaultdict(list)
    # One Kubernetes object, one declaration: two would fight over it in the cluster.
    objects: dict[tuple, list] = defaultdict(list)
    files: dict[str, list] = defaultdict(list)
    for reg in plan.registrations:
        urns[reg.urn].append(reg)
        if is_kubernetes_object(reg):
            meta = reg.inputs["metadata"]
            objects[
                (
                    reg.inputs["apiVersion"].rpartition("/")[0],
                    reg.inputs["kind"],
                    meta.get("namespace") or "",
                    meta.get("name"),
                )
            ].append(reg)
        if reg.custom:
            files[object_path(reg, component_of(reg, by_urn))].append(reg)

    reported: set[int] = set()
    for duplicates, what in ((urns, "the Pulumi resource name"), (objects, "the object"), (files, "the plan file")):
        for regs in duplicates.values():
            if len(regs) < 2 or all(id(r) in reported for r in regs):
                continue
            reported.update(id(r) for r in regs)
            for reg in regs:
                file, field = where(
                    reg, reg.name if what == "the Pulumi resource name" else describe(reg).rpartition(" ")[2]
                )
                others = sorted({"/".join(where(r, describe(r))[0:1]) for r in regs if r is not reg})
                issues.append(
                    ConfigIssue(
                        file,
                        field,
                        f"{describe(reg)}: {what} is derived twice (also from {', '.join(others)}); rename one of them",
                    )
                )

    for reg in plan.registrations:
        if reg.custom:
            path = object_path(reg, component_of(reg, by_urn))
            for part in path.split("/"):
                if len(part.encode("utf-8")) > MAX_FILE_NAME_BYTES or "\x00" in part or part in (".", ".."):
                    file, field = where(reg, reg.name)
                    issues.append(
                        ConfigIssue(
                            file,
                            field,
                            f"{describe(reg)[:120]}: the plan file name would be {len(part.encode('utf-8'))} "
                            f"bytes (at most {MAX_FILE_NAME_BYTES}); use a shorter name",
                        )
                    )
        if not is_kubernetes_object(reg):
            continue
        meta = reg.inputs["metadata"]
        name = meta.get("name")
        problems = []
        if problem := _name_problem(reg.inputs["apiVersion"], reg.inputs["kind"], name):
            problems.append(f"the name {problem}")
        namespace = meta.get("namespace")
        if namespace is not None and (
            not isinstance(namespace, str) or len(namespace) > 63 or not DNS1123_LABEL.match(namespace)
        ):
            problems.append("the namespace must be a DNS-1123 label")
        problems += list(_label_problems(meta.get("labels")))
        for problem in problems:
            file, field = where(reg, str(name))
            issues.append(ConfigIssue(file, field, f"{describe(reg)[:160]}: {problem}"))
        if reg.inputs["kind"] == "HTTPRoute":
            for problem in _route_path_problems(reg.inputs):
                file, field = where(reg, problem.split("'")[1] if "'" in problem else str(name))
                issues.append(ConfigIssue(file, field, f"{describe(reg)[:160]}: {problem}"))
    return issues
