"""Daily token budgets: agentgateway's global rate limit, kept by Envoy's ratelimit service.

agentgateway's local rate limiter refills per second, minute or hour, per proxy replica; a
budget per day, shared by every replica, needs the global limiter. Each inference request
sends two descriptors (Tokens unit): `team=<team>` and, for agents with their own budget,
`team=<team>, agent=<agent>`. agentgateway checks them before calling the model and adds the
response's token count afterwards; the service's `unit: day` windows start at 00:00 UTC.

Each team has its own rate-limit domain and its own file in the service's ConfigMap, so
onboarding a team changes that one shared object (the service reloads it without a restart).
"""

from __future__ import annotations

import yaml

from agentplane import namespaces
from agentplane.builders.gateway.platform import DENIAL_HEADER, PRINCIPAL, Identity, cel_map, cel_string, labels, meta
from agentplane.config.platform import PlatformSpec, TeamSpec
from agentplane.config.sections.resilience import budget_service_replicas
from agentplane.manifest import LABEL_PART_OF, Obj, restricted_container, restricted_pod

SERVICE = "agentplane-ratelimit"
REDIS = "agentplane-ratelimit-redis"
CONFIG_MAP = "agentplane-ratelimit-config"
GRPC_PORT, HTTP_PORT, REDIS_PORT, METRICS_PORT = 8081, 8080, 6379, 9090
CONFIG_DIR = "/data/ratelimit/config"  # RUNTIME_ROOT / RUNTIME_SUBDIRECTORY / RUNTIME_APPDIRECTORY

# Response headers the service adds (limit, remaining tokens, seconds until the window resets).
LIMIT_HEADER = "x-agentplane-budget-limit"
REMAINING_HEADER = "x-agentplane-budget-remaining"
RESET_HEADER = "x-agentplane-budget-reset"


def domain(team: TeamSpec) -> str:
    return f"agentplane-budget-{team.name}"


def config_key(team: TeamSpec) -> str:
    return f"{team.name}.yaml"


# --- the policy side (in each team's model policies) ---------------------------------------


def _agent_budgets(team: TeamSpec, ident: Identity) -> dict[str, str]:
    """PRINCIPAL value -> agent name, for agents with their own budget."""
    return {
        caller: a.name
        for a in team.agents
        if a.daily_token_budget is not None
        for caller in ident.agent(team.name, a.name)
    }


def descriptors(team: TeamSpec, ident: Identity) -> list[dict]:
    team_entry = {"name": "team", "expression": cel_string(team.name)}
    out = [{"entries": [team_entry], "unit": "Tokens"}]
    budgets = _agent_budgets(team, ident)
    if budgets:
        # For agents without a budget of their own the lookup fails, and agentgateway drops
        # this descriptor: only the team's budget applies to them.
        out.append(
            {
                "entries": [team_entry, {"name": "agent", "expression": f"{cel_map(budgets)}[{PRINCIPAL}]"}],
                "unit": "Tokens",
            }
        )
    return out


def rate_limit(team: TeamSpec, spec: PlatformSpec, ident: Identity) -> dict:
    return {
        "domain": domain(team),
        "backendRef": {
            "group": "",
            "kind": "Service",
            "name": SERVICE,
            "namespace": namespaces.GATEWAY,
            "port": GRPC_PORT,
        },
        "descriptors": descriptors(team, ident),
        "failureMode": spec.env.gateway.budget.failure_mode,
    }


def exceeded_message(team: TeamSpec) -> str:
    budgets = [f"team {team.name}: {team.daily_token_budget} tokens/day"]
    budgets += [
        f"agent {team.name}/{a.name}: {a.daily_token_budget} tokens/day"
        for a in team.agents
        if a.daily_token_budget is not None
    ]
    return f"budget exceeded: the daily token budget is used up ({'; '.join(budgets)}); it resets at 00:00 UTC"


# OpenAI's and Anthropic's SDKs obey this response header over their own retry rules: a
# budget refusal is not retried (it cannot succeed before the window resets).
SHOULD_RETRY_HEADER = "x-should-retry"
# Only the budget service's 429s carry its remaining-budget header; a provider's own 429 does not.
BUDGET_REFUSAL = f"response.code == 429 && {cel_string(REMAINING_HEADER)} in response.headers"


def _on_budget_refusal(value: str, header: str) -> str:
    """CEL: `value` on the budget service's 429s; otherwise the header keeps what it had (a
    header that was absent fails to evaluate, and agentgateway then leaves it absent:
    agentgateway/agentgateway@v1.4.1:crates/agentgateway/src/http/mod.rs, apply_header)."""
    return f"{BUDGET_REFUSAL} ? {cel_string(value)} : response.headers[{cel_string(header)}]"


def exceeded_header(team: TeamSpec) -> str:
    """CEL for the denial header on responses: the budget message on the service's 429s.

    The 429 itself has an empty body: agentgateway answers with the service's `raw_body`
    (agentgateway/agentgateway@v1.4.1:crates/agentgateway/src/http/remoteratelimit.rs, apply), which
    envoyproxy/ratelimit never sets. A response transformation cannot add one without buffering
    every model response (streaming would stop), so the message travels in this header.
    """
    return _on_budget_refusal(exceeded_message(team), DENIAL_HEADER)


def response_headers(team: TeamSpec) -> list[dict]:
    """The model route's response transformation: what an over-budget client receives."""
    return [
        {"name": DENIAL_HEADER, "value": exceeded_header(team)},
        {"name": SHOULD_RETRY_HEADER, "value": _on_budget_refusal("false", SHOULD_RETRY_HEADER)},
    ]


# --- the service side ----------------------------------------------------------------------


def team_config(team: TeamSpec) -> dict:
    """The rate-limit service's configuration for one team's domain."""
    node: dict = {
        "key": "team",
        "value": team.name,
        "rate_limit": {"unit": "day", "requests_per_unit": team.daily_token_budget},
    }
    agents = [
        {"key": "agent", "value": a.name, "rate_limit": {"unit": "day", "requests_per_unit": a.daily_token_budget}}
        for a in team.agents
        if a.daily_token_budget is not None
    ]
    if agents:
        node["descriptors"] = agents
    return {"domain": domain(team), "descriptors": [node]}


def config_map(spec: PlatformSpec) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(CONFIG_MAP),
        "data": {config_key(t): yaml.safe_dump(team_config(t), sort_keys=False) for t in spec.teams},
    }


def _selector(name: str) -> dict:
    return {"app.kubernetes.io/name": name, LABEL_PART_OF: "agentplane-gateway"}


def _deployment(name: str, replicas: int, pod_spec: dict) -> Obj:
    spec: dict = {
        "replicas": replicas,
        "selector": {"matchLabels": _selector(name)},
        "template": {"metadata": {"labels": {**labels(), **_selector(name)}}, "spec": pod_spec},
    }
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(name), "spec": spec}


def spread_over_nodes(selector: dict[str, str]) -> dict:
    """Preferred (not required) anti-affinity: replicas land on different nodes when there are
    several, and still schedule on a one-node cluster."""
    term = {"labelSelector": {"matchLabels": dict(selector)}, "topologyKey": "kubernetes.io/hostname"}
    return {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": term}]
        }
    }


def disruption_budget(name: str) -> Obj:
    """At most one replica evicted at a time (never blocks a drain, even with one replica)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(name),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _selector(name)}},
    }


def _service(name: str, port_name: str, port: int) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name),
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(name),
            "ports": [
                {
                    "name": port_name,
                    "port": port,
                    "targetPort": port_name,
                    "protocol": "TCP",
                    **({"appProtocol": "grpc"} if port_name == "grpc" else {}),
                }
            ],
        },
    }


def ratelimit_deployment(spec: PlatformSpec) -> Obj:
    config = spec.env.gateway.budget
    env = {
        "LOG_LEVEL": "warn",
        "LOG_FORMAT": "json",
        "USE_STATSD": "false",
        # Counters on :9090/metrics, among them ratelimit_service_should_rate_limit_error
        # {err_type="redis_error"}: each budget check the store could not answer.
        "USE_PROMETHEUS": "true",
        "PROMETHEUS_ADDR": f":{METRICS_PORT}",
        "REDIS_SOCKET_TYPE": "tcp",
        "REDIS_URL": f"{REDIS}.{namespaces.GATEWAY}.svc:{REDIS_PORT}",
        "RUNTIME_ROOT": "/data",
        "RUNTIME_SUBDIRECTORY": "ratelimit",
        # A mounted ConfigMap is updated by swapping a symlink: watch the directory, skip `..data`.
        "RUNTIME_WATCH_ROOT": "false",
        "RUNTIME_IGNOREDOTFILES": "true",
        "LIMIT_RESPONSE_HEADERS_ENABLED": "true",
        "LIMIT_LIMIT_HEADER": LIMIT_HEADER,
        "LIMIT_REMAINING_HEADER": REMAINING_HEADER,
        "LIMIT_RESET_HEADER": RESET_HEADER,
    }
    probe = {"httpGet": {"path": "/healthcheck", "port": "http"}, "periodSeconds": 10}
    pod = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": restricted_pod(run_as_user=65534, run_as_group=65534, fs_group=65534),
        "containers": [
            {
                "name": "ratelimit",
                "image": config.image,
                "command": ["/bin/ratelimit"],
                "env": [{"name": k, "value": v} for k, v in env.items()],
                "ports": [
                    {"name": "http", "containerPort": HTTP_PORT},
                    {"name": "grpc", "containerPort": GRPC_PORT},
                    {"name": "metrics", "containerPort": METRICS_PORT},
                ],
                "readinessProbe": probe,
                "livenessProbe": {**probe, "initialDelaySeconds": 10},
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
                "securityContext": restricted_container(run_as_non_root=True),
                "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}],
            }
        ],
        "volumes": [{"name": "config", "configMap": {"name": CONFIG_MAP}}],
        "affinity": spread_over_nodes(_selector(SERVICE)),
    }
    return _deployment(SERVICE, budget_service_replicas(spec.env), pod)


# Redis settings that make the counters durable. `appendonly yes` logs every INCRBY/EXPIRE to
# the append-only file on the volume; `everysec` fsyncs it once a second; `noeviction` makes a
# full Redis refuse writes (an error the gateway's failure mode answers) instead of dropping
# keys, and every counter has a TTL, so `volatile-*` policies would evict exactly them.
REDIS_DURABILITY = {
    "appendonly": "yes",
    "appendfsync": "everysec",
    "maxmemory-policy": "noeviction",
    "save": "",
    "dir": "/data",
}
REDIS_DATA_CLAIM = "data"


def redis_args(spec: PlatformSpec) -> list[str]:
    store = spec.env.gateway.budget.store
    settings = {**REDIS_DURABILITY, "maxmemory": f"{store.max_memory_mib}mb", "protected-mode": "no"}
    return [part for key, value in settings.items() for part in (f"--{key}", value)]


def redis_statefulset(spec: PlatformSpec) -> Obj:
    """The counters, on a PersistentVolume that outlives the pod: a restart replays the
    append-only file and the day's counts are back (docs/faults.md has the loss window)."""
    store = spec.env.gateway.budget.store
    probe = {"tcpSocket": {"port": "redis"}, "periodSeconds": 10}
    memory_limit = f"{store.max_memory_mib * 2}Mi"  # headroom for the append-only file rewrite (a fork)
    pod = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        # The image's `redis` user; fsGroup makes the volume writable for it.
        "securityContext": restricted_pod(run_as_user=999, run_as_group=1000, fs_group=1000),
        # Redis flushes and fsyncs the append-only file on SIGTERM.
        "terminationGracePeriodSeconds": 30,
        "containers": [
            {
                "name": "redis",
                "image": spec.env.gateway.budget.redis_image,
                "args": redis_args(spec),
                "ports": [{"name": "redis", "containerPort": REDIS_PORT}],
                "readinessProbe": probe,
                # Loading a large append-only file takes a while: do not kill Redis for it.
                "startupProbe": {**probe, "failureThreshold": 30},
                "livenessProbe": probe,
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": memory_limit}},
                "securityContext": restricted_container(run_as_non_root=True),
                "volumeMounts": [{"name": REDIS_DATA_CLAIM, "mountPath": "/data"}],
            }
        ],
    }
    claim_spec: dict = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": store.storage_size}}}
    if store.storage_class:
        claim_spec["storageClassName"] = store.storage_class
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": meta(REDIS),
        "spec": {
            "serviceName": REDIS,
            "replicas": 1,
            "selector": {"matchLabels": _selector(REDIS)},
            "template": {"metadata": {"labels": {**labels(), **_selector(REDIS)}}, "spec": pod},
            "volumeClaimTemplates": [{"metadata": {"name": REDIS_DATA_CLAIM, "labels": labels()}, "spec": claim_spec}],
            # The volume (and the day's counters) stays when the StatefulSet is deleted or scaled.
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
        },
    }


def network_policies() -> list[Obj]:
    """Tenants may reach the gateway namespace on 8080 (the proxy's port): keep them off the
    budget service's HTTP API and off Redis. Only the gateway namespace's own pods get in."""

    def policy(name: str, target: str, sources: dict, port: int) -> Obj:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta(name),
            "spec": {
                "podSelector": {"matchLabels": _selector(target)},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [sources], "ports": [{"protocol": "TCP", "port": port}]}],
            },
        }

    return [
        policy(f"{SERVICE}-ingress", SERVICE, {"podSelector": {}}, GRPC_PORT),
        policy(f"{REDIS}-ingress", REDIS, {"podSelector": {"matchLabels": _selector(SERVICE)}}, REDIS_PORT),
    ]


def service_objects(spec: PlatformSpec) -> list[Obj]:
    """The budget service, its store and its configuration, in the gateway namespace."""
    return [
        config_map(spec),
        redis_statefulset(spec),
        _service(REDIS, "redis", REDIS_PORT),
        ratelimit_deployment(spec),
        disruption_budget(SERVICE),
        _service(SERVICE, "grpc", GRPC_PORT),
        *network_policies(),
    ]
