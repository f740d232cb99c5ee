"""Telemetry: the OpenTelemetry operator's values, the gateway collector and per-tenant Instrumentation.

Pure functions of the spec returning plain dicts. How a signal finds its tenant:

* Workloads in tenant namespaces send OTLP to the gateway collector on 4317/4318. Every
  `agentplane.*` and `k8s.*` resource attribute they claim is deleted; `k8s_attributes` then
  finds the pod by the connection's source IP alone and sets the namespace, pod and the
  platform-owned labels: tenant (the namespace's `agentplane.io/tenant`), agent and tier (the
  pod's `agentplane.io/agent` and `agentplane.io/tier`).
* The agent gateway sends its traces and access logs on 4319/4320, which only the gateway
  namespace may reach and only with the gateway's bearer token. One gateway request belongs to
  one tenant, named per record from the caller's validated token; `groupbyattrs` lifts it to
  the resource. Token usage and tool calls are counted from those access logs.
* One routing connector per signal sends each resource to its tenant's pipeline. A route needs
  the tenant and a pod UID that only `k8s_attributes` sets; anything else (no pod found, a
  hostNetwork sender, an unknown tenant) goes to the platform pipeline, never to a team.
* Each backend destination has a persistent, bounded sending queue on the pod's volume.
"""

from __future__ import annotations

import urllib.parse

from agentplane import namespaces
from agentplane.config.addresses import service_namespace
from agentplane.config.platform import PlatformSpec, TeamSpec
from agentplane.config.sections.telemetry import QUEUE_FILE_HEADROOM, Backend, QueueSettings
from agentplane.manifest import (
    LABEL_AGENT,
    LABEL_TENANT,
    LABEL_TIER,
    Obj,
    labels,
    metadata,
    restricted_container,
    restricted_pod,
)

NAMESPACE = namespaces.TELEMETRY
# Object names of the operator chart, whatever the release is called: some of its templates name
# the webhook certificate's Secret after the chart `name`, others after the `fullname`; pinning
# the full name to the chart name keeps them in agreement.
OPERATOR_FULLNAME = "opentelemetry-operator"
COLLECTOR_NAME = "gateway"
# The operator names a collector's Service `<name>-collector`; its pods carry these labels.
COLLECTOR_SERVICE = f"{COLLECTOR_NAME}-collector"
COLLECTOR_POD_LABELS = {
    "app.kubernetes.io/managed-by": "opentelemetry-operator",
    "app.kubernetes.io/instance": f"{NAMESPACE}.{COLLECTOR_NAME}",
    "app.kubernetes.io/component": "opentelemetry-collector",
}
SERVICE_ACCOUNT = "gateway-collector"
K8S_ATTRIBUTES_ROLE = "agentplane-telemetry-k8s-attributes"
INSTRUMENTATION_NAME = "agentplane"

WORKLOAD_GRPC_PORT, WORKLOAD_HTTP_PORT = namespaces.TELEMETRY_PORTS
GATEWAY_GRPC_PORT, GATEWAY_HTTP_PORT = namespaces.TELEMETRY_GATEWAY_PORTS
HEALTH_PORT = 13133

# The resource attribute every signal is routed by; set only by the collector.
TENANT_ATTRIBUTE = "agentplane.tenant"
AGENT_ATTRIBUTE = "agentplane.agent"
TIER_ATTRIBUTE = "agentplane.tier"
CALLER_ATTRIBUTE = "agentplane.caller"
DECISION_ATTRIBUTE = "agentplane.denial"
# Set by `k8s_attributes` only when the connection's source IP is a (non-hostNetwork) pod's:
# every route requires it, so a record the collector could not tie to a pod reaches no team.
POD_UID_ATTRIBUTE = "k8s.pod.uid"
# Resource attributes a sender may claim and `k8s_attributes` would keep rather than replace
# (it never overwrites a non-empty value, and falls back to a sender's `k8s.namespace.name`
# when no pod matched): all of them are deleted before enrichment. Go RE2, unanchored match.
SENDER_CLAIM_PATTERNS = (r"^agentplane\.", r"^k8s\.")

# Only the gateway may send to 4319/4320: it presents this bearer token (agentgateway's backend
# auth policy on the OTLP backend), which the collector checks before anything is decoded.
GATEWAY_AUTHENTICATOR = "bearertokenauth/gateway"
GATEWAY_TOKEN_SECRET = "gateway-otlp-token"
GATEWAY_TOKEN_KEY = "token"
GATEWAY_TOKEN_MOUNT = "/etc/agentplane/gateway-token"
GATEWAY_TOKEN_LENGTH = 48

# Persistent sending queues: one bbolt file per exporter on the pod's own volume.
QUEUE_STORAGE = "file_storage/queue"
QUEUE_VOLUME = "queue"
QUEUE_DIRECTORY = "/var/lib/otelcol/queue"
# What one destination may hold in memory while its backend is slow or failing: with batching,
# exporterhelper reads the queue with one consumer into a batcher that exports with up to
# `num_consumers` workers (go.opentelemetry.io/collector exporter/exporterhelper@v0.158.0
# internal/queuebatch/queue_batch.go NewQueueBatch), so at most (workers + 1) batches. Batches
# are bounded in bytes: counted in items, a team sending large records to a slow backend of its
# own could hold most of its queue in the collector's memory and push the shared memory_limiter
# into refusing every team's data.
EXPORT_WORKERS = 4
BATCH_MIN_BYTES, BATCH_MAX_BYTES = 512 * 1024, 4 * 2**20
# Retry each batch with exponential backoff up to this interval, for as long as it stays queued.
RETRY_INITIAL_INTERVAL, RETRY_MAX_INTERVAL = "5s", "30s"
# The collector image's user (opentelemetry-collector-releases distributions/otelcol-contrib/Dockerfile).
COLLECTOR_UID = 10001

# The collector's own metrics (the operator's default pull reader on :8888), scraped in-pod and
# sent to the platform backend: queue sizes, send failures, refused and dropped records.
SELF_METRICS_RECEIVER = "prometheus/collector"
SELF_METRICS_TARGET = "127.0.0.1:8888"
SELF_METRICS_PIPELINE = "metrics/collector"

# Token usage and tool calls per team, agent and model, counted from the gateway's access logs
# (one per request, never sampled) by a connector of the collector itself.
USAGE_CONNECTOR = "signal_to_metrics/gateway-usage"
USAGE_PIPELINE = "metrics/gateway-usage"
INPUT_TOKENS_METRIC = "agentplane.gateway.tokens.input"
OUTPUT_TOKENS_METRIC = "agentplane.gateway.tokens.output"
TOOL_CALLS_METRIC = "agentplane.gateway.tool_calls"
# agentgateway's access-log fields (agentgateway/agentgateway@v1.4.1:crates/agentgateway/src/telemetry/log.rs).
LOG_INPUT_TOKENS = "gen_ai.usage.input_tokens"
LOG_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
LOG_MODEL = "gen_ai.request.model"
LOG_TOOL = "gen_ai.tool.name"
SIGNALS = ("traces", "metrics", "logs")
# The platform pipeline's tenant ID at the default backend. Team names cannot start with
# `agentplane-` (namespaces.RESERVED_PREFIXES), so it never collides with a team's.
PLATFORM_TENANT_ID = "agentplane-platform"
HEADERS_MOUNT = "/etc/agentplane/otlp-headers"

# Zero-code instrumentation: the operator injects the SDK into pods whose namespace or pod
# carries `instrumentation.opentelemetry.io/inject-<language>`; a pod's value overrides the
# namespace's. Python is on for every pod of a tenant namespace; Node.js, Java and .NET are
# one pod annotation away. Go is not offered: its eBPF sidecar needs privileges that Pod
# Security `restricted` forbids.
INJECT_ANNOTATION = "instrumentation.opentelemetry.io/inject-{language}"
DEFAULT_LANGUAGE = "python"
SUPPORTED_LANGUAGES = ("python", "nodejs", "java", "dotnet")


def _host() -> str:
    return f"{COLLECTOR_SERVICE}.{NAMESPACE}.svc"


# Where tenant workloads send OTLP (the injected SDKs use HTTP/protobuf).
WORKLOAD_OTLP_GRPC_ENDPOINT = f"http://{_host()}:{WORKLOAD_GRPC_PORT}"
WORKLOAD_OTLP_HTTP_ENDPOINT = f"http://{_host()}:{WORKLOAD_HTTP_PORT}"
# Where the agent gateway sends its own telemetry, each record naming its tenant in TENANT_ATTRIBUTE.
GATEWAY_OTLP_GRPC_ENDPOINT = f"http://{_host()}:{GATEWAY_GRPC_PORT}"
GATEWAY_OTLP_HTTP_ENDPOINT = f"http://{_host()}:{GATEWAY_HTTP_PORT}"


# --- annotations other pieces put on tenant namespaces and pods ----------------------------


def namespace_annotations() -> dict[str, str]:
    """For the tenant Namespace: inject the Python SDK, configured by the namespace's `agentplane`
    Instrumentation (named, so an Instrumentation a team adds cannot take over)."""
    return {INJECT_ANNOTATION.format(language=DEFAULT_LANGUAGE): INSTRUMENTATION_NAME}


def opt_out_annotations() -> dict[str, str]:
    """For the pods of an agent whose team file says `instrumentation: false`."""
    return {INJECT_ANNOTATION.format(language=DEFAULT_LANGUAGE): "false"}


def opted_out_agents(team: TeamSpec) -> tuple[str, ...]:
    """Agents (= ServiceAccounts) whose pods must carry opt_out_annotations()."""
    return tuple(agent.name for agent in team.agents if not agent.instrumentation)


# --- the operator ----------------------------------------------------------------------------


def operator_values(spec: PlatformSpec) -> dict:
    image = spec.env.telemetry.collector_image
    return {
        "fullnameOverride": OPERATOR_FULLNAME,
        "manager": {
            # The operator stamps this image into every collector it runs.
            "collectorImage": {"repository": image.repository, "tag": image.tag},
        },
        "admissionWebhooks": {
            # Helm generates the webhook's CA and serving certificate and renders the CA bundle
            # into the webhook configurations and the CRDs' conversion webhooks in the same
            # release (open-telemetry/opentelemetry-helm-charts@opentelemetry-operator-0.122.0:
            # charts/opentelemetry-operator/templates/admission-webhooks/operator-webhook.yaml).
            # With cert-manager, cainjector would write the bundle some time after the pods are
            # ready, and the first OpenTelemetryCollector or Instrumentation could fail with
            # "x509: certificate signed by unknown authority".
            "certManager": {"enabled": False},
            # Kept across upgrades (the chart looks the Secret up): regenerating it on every
            # upgrade would swap the CA bundle before the pods mount the new certificate.
            # Ten years; set `recreate` once to rotate it deliberately.
            "autoGenerateCert": {"enabled": True, "recreate": False, "certPeriodDays": 3650},
        },
    }


# --- the gateway collector -------------------------------------------------------------------


def collector_rbac() -> list[Obj]:
    """What `k8s_attributes` reads: pods (by IP), their namespaces' labels, and replica sets
    (to name a pod's Deployment)."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": metadata(SERVICE_ACCOUNT, NAMESPACE),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": metadata(K8S_ATTRIBUTES_ROLE),
            "rules": [
                {"apiGroups": [""], "resources": ["pods", "namespaces"], "verbs": ["get", "watch", "list"]},
                {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get", "watch", "list"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": metadata(K8S_ATTRIBUTES_ROLE),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": K8S_ATTRIBUTES_ROLE},
            "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}],
        },
    ]


def collector_network_policy() -> Obj:
    """Any namespace may send to the workload ports; only the gateway namespace to the gateway
    ports, whose records name their own tenant (and carry the gateway's bearer token too).
    The operator's own NetworkPolicy, which would admit every receiver port from anywhere, is
    switched off in the collector spec: NetworkPolicies add up, so one open policy opens all."""

    def ports(numbers: tuple[int, ...]) -> list[dict]:
        return [{"protocol": "TCP", "port": port} for port in numbers]

    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(f"{COLLECTOR_SERVICE}-ingress", NAMESPACE),
        "spec": {
            "podSelector": {"matchLabels": dict(COLLECTOR_POD_LABELS)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [{"namespaceSelector": {}}], "ports": ports(namespaces.TELEMETRY_PORTS)},
                {
                    "from": [
                        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespaces.GATEWAY}}}
                    ],
                    "ports": ports(namespaces.TELEMETRY_GATEWAY_PORTS),
                },
            ],
        },
    }


def gateway_token_secret(token: object) -> Obj:
    """The bearer token the gateway presents on 4319/4320, as the collector reads it (a file).
    `token` is the value (a Pulumi secret under `pulumi up`)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(GATEWAY_TOKEN_SECRET, NAMESPACE),
        "type": "Opaque",
        "stringData": {GATEWAY_TOKEN_KEY: token},
    }


def platform_headers_secret_name() -> str:
    return "platform-otlp-headers"


def tenant_headers_secret_name(team: TeamSpec) -> str:
    return f"tenant-{team.name}-otlp-headers"


def _secret_file_name(header: str) -> str:
    # Header names may hold characters a Secret key may not; keys are [-._a-zA-Z0-9].
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in header.lower())


def _headers_secret(name: str, values: dict[str, str], tenant: str | None) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(name, NAMESPACE, labels(tenant=tenant)),
        "type": "Opaque",
        "stringData": values,
    }


def platform_headers_secret(spec: PlatformSpec) -> Obj | None:
    """The default backend's credential headers, file per header; None when it has none."""
    backend = spec.env.telemetry.default_backend
    if backend is None or not backend.headers:
        return None
    values = {_secret_file_name(header): secret.deploy_value for header, secret in sorted(backend.headers.items())}
    return _headers_secret(platform_headers_secret_name(), values, tenant=None)


def tenant_headers_secret(team: TeamSpec, spec: PlatformSpec) -> Obj | None:
    """A team's credential headers for its own backend, from its secret stack config; None without any."""
    if team.telemetry is None or not team.telemetry.headers:
        return None
    available = spec.env.telemetry.tenant_headers.get(team.name, {})
    values = {}
    for header, key in sorted(team.telemetry.headers.items()):
        secret = available[key]  # presence checked when the config was loaded
        values[_secret_file_name(header)] = secret.deploy_value
    return _headers_secret(tenant_headers_secret_name(team), values, tenant=team.name)


def _header_reference(secret_name: str, header: str) -> str:
    # Expanded by the collector's `file` config provider at start-up: the value never sits in the CR.
    return f"${{file:{HEADERS_MOUNT}/{secret_name}/{_secret_file_name(header)}}}"


def _durability(queue: QueueSettings) -> dict:
    """A persistent, bounded sending queue and endless retry for one OTLP exporter.

    Data is written to the queue file before it is batched and sent, and removed only once the
    backend accepted it: a collector restart resends it. A batch is retried for as long as it
    is queued; when the destination's queue is full, new data for it is refused (counted in
    `otelcol_exporter_enqueue_failed_*`) and the sender gets a retryable error. Field names:
    go.opentelemetry.io/collector exporter/exporterhelper@v0.158.0 internal/queuebatch/config.go
    and config/configretry@v1.64.0 backoff.go."""
    return {
        "sending_queue": {
            "enabled": True,
            "storage": QUEUE_STORAGE,
            "sizer": "bytes",
            "queue_size": queue.per_destination_bytes,
            "num_consumers": EXPORT_WORKERS,
            "batch": {
                "flush_timeout": "200ms",
                "sizer": "bytes",
                "min_size": BATCH_MIN_BYTES,
                "max_size": BATCH_MAX_BYTES,
            },
        },
        "retry_on_failure": {
            "enabled": True,
            "initial_interval": RETRY_INITIAL_INTERVAL,
            "max_interval": RETRY_MAX_INTERVAL,
            # 0: no time limit; the queue's size is the only bound.
            "max_elapsed_time": "0s",
        },
    }


def _otlp_exporter(protocol: str, endpoint: str, headers: dict[str, str], queue: QueueSettings) -> tuple[str, dict]:
    """(component type, settings) of an OTLP exporter to `endpoint`."""
    settings: dict = {"endpoint": endpoint}
    if protocol == "grpc" and endpoint.startswith("http://"):
        settings["tls"] = {"insecure": True}  # explicit: an http:// gRPC endpoint is plaintext
    if headers:
        settings["headers"] = headers
    settings |= _durability(queue)
    return ("otlp_grpc" if protocol == "grpc" else "otlp_http"), settings


def _default_backend_exporter(backend: Backend | None, tenant_id: str, queue: QueueSettings) -> tuple[str, dict]:
    if backend is None:
        # Nothing configured: count what arrives, export nothing (no payloads in the log).
        return "debug", {"verbosity": "basic"}
    headers = {header: _header_reference(platform_headers_secret_name(), header) for header in sorted(backend.headers)}
    if backend.tenant_header is not None:
        headers[backend.tenant_header] = tenant_id
    return _otlp_exporter(backend.protocol, backend.endpoint, headers, queue)


def _tenant_exporter(team: TeamSpec, spec: PlatformSpec) -> tuple[str, dict]:
    own = team.telemetry
    queue = spec.env.telemetry.collector.queue
    if own is None:
        return _default_backend_exporter(spec.env.telemetry.default_backend, team.name, queue)
    headers = {header: _header_reference(tenant_headers_secret_name(team), header) for header in sorted(own.headers)}
    return _otlp_exporter(own.protocol, own.endpoint, headers, queue)


# The port an endpoint without one is dialled on: the OTLP/HTTP exporter parses the URL and
# appends the signal path, adding no port (open-telemetry/opentelemetry-collector@v0.158.0:
# exporter/otlphttpexporter/factory.go composeSignalURL), and Go's net/http dials the scheme's
# default (net/http transport.go canonicalAddr). A gRPC endpoint always names its port
# (config/sections/telemetry.py).
SCHEME_DEFAULT_PORTS = {"http": 80, "https": 443}


def in_namespace_backend(team: TeamSpec) -> int | None:
    """The port of the team's own OTLP backend when it is a Service of the team's namespace
    (the only in-cluster name a team file may give); None without one or for a backend elsewhere."""
    if team.telemetry is None:
        return None
    url = urllib.parse.urlsplit(team.telemetry.endpoint)
    namespace = service_namespace(url.hostname or "")
    if namespace is None:
        return None
    if namespace != team.namespace:
        # Refused when the team file is checked (config/sections/telemetry.py check_team).
        raise ValueError(f"team {team.name}: a telemetry endpoint may only name a Service of its own namespace")
    return url.port or SCHEME_DEFAULT_PORTS[url.scheme]


def tenant_pipeline(signal: str, team: str) -> str:
    return f"{signal}/tenant-{team}"


def platform_pipeline(signal: str) -> str:
    return f"{signal}/platform"


def tenant_exporter_id(kind: str, team: str) -> str:
    return f"{kind}/tenant-{team}"


def routing_condition(team: str) -> str:
    # Team names are DNS labels: nothing in them needs quoting in OTTL. The pod UID is set only
    # by `k8s_attributes` (a sender's is deleted first): no pod found, no team.
    return f'attributes["{TENANT_ATTRIBUTE}"] == "{team}" and attributes["{POD_UID_ATTRIBUTE}"] != nil'


def _usage_metric(name: str, description: str, unit: str, condition: str, value: str, extra: list[dict]) -> dict:
    return {
        "name": name,
        "description": description,
        "unit": unit,
        # The routing keys of the log record's resource, so the metric reaches the same team.
        "include_resource_attributes": [
            {"key": TENANT_ATTRIBUTE},
            {"key": AGENT_ATTRIBUTE},
            {"key": POD_UID_ATTRIBUTE},
            {"key": "k8s.namespace.name"},
        ],
        "attributes": extra,
        "conditions": [condition],
        "sum": {"value": value, "monotonic": True},
    }


def usage_connector() -> dict:
    """Token usage and MCP tool calls per team, agent and model, from the gateway's access logs.
    Fields: opentelemetry-collector-contrib@v0.158.0 connector/signaltometricsconnector/config/config.go."""
    model = [{"key": LOG_MODEL, "default_value": "unknown"}]
    return {
        "logs": [
            _usage_metric(
                INPUT_TOKENS_METRIC,
                "Prompt tokens counted by the agent gateway",
                "{token}",
                f'attributes["{LOG_INPUT_TOKENS}"] != nil',
                f'Int(attributes["{LOG_INPUT_TOKENS}"])',
                model,
            ),
            _usage_metric(
                OUTPUT_TOKENS_METRIC,
                "Completion tokens counted by the agent gateway",
                "{token}",
                f'attributes["{LOG_OUTPUT_TOKENS}"] != nil',
                f'Int(attributes["{LOG_OUTPUT_TOKENS}"])',
                model,
            ),
            _usage_metric(
                TOOL_CALLS_METRIC,
                "MCP tool calls through the agent gateway",
                "{call}",
                f'attributes["{LOG_TOOL}"] != nil',
                "1",
                [{"key": LOG_TOOL}],
            ),
        ]
    }


def queued_exporters(config: dict) -> list[str]:
    return sorted(name for name, settings in config["exporters"].items() if "sending_queue" in settings)


def queue_file_cap(spec: PlatformSpec) -> int:
    """Bytes one queue file may reach (`file_storage` max_size); the stack check sizes the volume by it."""
    return int(spec.env.telemetry.collector.queue.per_destination_bytes * QUEUE_FILE_HEADROOM)


# file_storage's rebound-compaction defaults (opentelemetry-collector-contrib@v0.158.0:
# extension/storage/filestorage/factory.go): compact once a file exceeds 100 MiB and holds under
# 10 MiB of data. config.go Validate rejects either threshold above `max_size`, so a small cap
# lowers them to fit.
REBOUND_NEEDED_MIB, REBOUND_TRIGGER_MIB = 100, 10


def _compaction(file_cap: int) -> dict:
    cap_mib = max(1, file_cap // 2**20)
    needed = min(REBOUND_NEEDED_MIB, cap_mib)
    return {
        "on_start": True,
        "on_rebound": True,
        "directory": QUEUE_DIRECTORY,
        "rebound_needed_threshold_mib": needed,
        "rebound_trigger_threshold_mib": min(REBOUND_TRIGGER_MIB, needed),
    }


def collector_config(spec: PlatformSpec) -> dict:
    """The gateway collector's configuration, as data (the operator renders it to YAML)."""
    queue = spec.env.telemetry.collector.queue
    gateway_auth = {"authenticator": GATEWAY_AUTHENTICATOR}
    receivers = {
        "otlp": {
            "protocols": {
                "grpc": {"endpoint": f"0.0.0.0:{WORKLOAD_GRPC_PORT}"},
                "http": {"endpoint": f"0.0.0.0:{WORKLOAD_HTTP_PORT}"},
            }
        },
        # Only the gateway: its bearer token is checked before a request is decoded.
        "otlp/gateway": {
            "protocols": {
                "grpc": {"endpoint": f"0.0.0.0:{GATEWAY_GRPC_PORT}", "auth": gateway_auth},
                "http": {"endpoint": f"0.0.0.0:{GATEWAY_HTTP_PORT}", "auth": gateway_auth},
            }
        },
        SELF_METRICS_RECEIVER: {
            "config": {
                "scrape_configs": [
                    {
                        "job_name": "agentplane-collector",
                        "scrape_interval": "30s",
                        "static_configs": [{"targets": [SELF_METRICS_TARGET]}],
                    }
                ]
            }
        },
    }
    processors = {
        # First, so a burst is refused before anything else holds it in memory.
        "memory_limiter": {"check_interval": "1s", "limit_percentage": 80, "spike_limit_percentage": 20},
        # Whatever tenant, namespace, pod, agent or tier a sender claims is deleted: the
        # collector sets them from the pod the connection comes from, or not at all.
        "resource/drop-sender-claims": {
            "attributes": [{"pattern": pattern, "action": "delete"} for pattern in SENDER_CLAIM_PATTERNS]
        },
        "k8s_attributes": {
            "auth_type": "serviceAccount",
            "passthrough": False,
            # After a rollout, start only once the pod cache is filled: otherwise the first
            # records match no pod and go to the platform pipeline instead of their team.
            "wait_for_metadata": True,
            "wait_for_metadata_timeout": "30s",
            # Only the connection's source IP identifies the pod: resource attributes are the
            # sender's word, and would let one tenant's pod claim another tenant's pod.
            "pod_association": [{"sources": [{"from": "connection"}]}],
            "extract": {
                "metadata": ["k8s.namespace.name", "k8s.pod.name", POD_UID_ATTRIBUTE, "k8s.deployment.name"],
                "labels": [
                    {"tag_name": TENANT_ATTRIBUTE, "key": LABEL_TENANT, "from": "namespace"},
                    # Platform-owned pod labels (the agent-labels MutatingPolicy), not the team's word.
                    {"tag_name": AGENT_ATTRIBUTE, "key": LABEL_AGENT, "from": "pod"},
                    {"tag_name": TIER_ATTRIBUTE, "key": LABEL_TIER, "from": "pod"},
                ],
            },
        },
        # The gateway serves every tenant: each record names the caller's tenant and agent
        # (from the validated token); make them the resource's.
        "groupbyattrs/gateway": {"keys": [TENANT_ATTRIBUTE, AGENT_ATTRIBUTE]},
    }
    workload_processors = ["memory_limiter", "resource/drop-sender-claims", "k8s_attributes"]
    gateway_processors = ["memory_limiter", "resource/drop-sender-claims", "k8s_attributes", "groupbyattrs/gateway"]

    exporters: dict[str, dict] = {}
    platform_kind, platform_settings = _default_backend_exporter(
        spec.env.telemetry.default_backend, PLATFORM_TENANT_ID, queue
    )
    platform_exporter = f"{platform_kind}/platform"
    exporters[platform_exporter] = platform_settings
    tenant_exporters: dict[str, str] = {}
    for team in spec.teams:
        kind, settings = _tenant_exporter(team, spec)
        tenant_exporters[team.name] = tenant_exporter_id(kind, team.name)
        exporters[tenant_exporters[team.name]] = settings

    connectors: dict[str, dict] = {USAGE_CONNECTOR: usage_connector()}
    pipelines: dict[str, dict] = {}
    for signal in SIGNALS:
        if spec.teams:
            router = f"routing/{signal}"
            connectors[router] = {
                # Unmatched (no tenant, unknown tenant, no pod) and unevaluable records: the
                # platform pipeline. A record goes to the first route that matches.
                "default_pipelines": [platform_pipeline(signal)],
                "error_mode": "ignore",
                "table": [
                    {
                        "context": "resource",
                        "condition": routing_condition(team.name),
                        "pipelines": [tenant_pipeline(signal, team.name)],
                    }
                    for team in spec.teams
                ],
            }
            inbound_exporters = [router]
        else:
            router = None
            inbound_exporters = [platform_exporter]  # a routing table may not be empty
        pipelines[f"{signal}/workloads"] = {
            "receivers": ["otlp"],
            "processors": workload_processors,
            "exporters": inbound_exporters,
        }
        gateway_exporters = list(inbound_exporters)
        if signal == "logs":
            gateway_exporters.append(USAGE_CONNECTOR)
        pipelines[f"{signal}/gateway"] = {
            "receivers": ["otlp/gateway"],
            "processors": gateway_processors,
            "exporters": gateway_exporters,
        }
        if signal == "metrics":
            pipelines[USAGE_PIPELINE] = {"receivers": [USAGE_CONNECTOR], "exporters": inbound_exporters}
            pipelines[SELF_METRICS_PIPELINE] = {
                "receivers": [SELF_METRICS_RECEIVER],
                "processors": ["memory_limiter"],
                "exporters": [platform_exporter],
            }
        if router is not None:
            pipelines[platform_pipeline(signal)] = {"receivers": [router], "exporters": [platform_exporter]}
            for team in spec.teams:
                pipelines[tenant_pipeline(signal, team.name)] = {
                    "receivers": [router],
                    "exporters": [tenant_exporters[team.name]],
                }

    extensions = {
        "health_check": {"endpoint": f"0.0.0.0:{HEALTH_PORT}"},
        GATEWAY_AUTHENTICATOR: {"filename": f"{GATEWAY_TOKEN_MOUNT}/{GATEWAY_TOKEN_KEY}"},
        QUEUE_STORAGE: {
            "directory": QUEUE_DIRECTORY,
            "timeout": "1s",
            "max_size": queue_file_cap(spec),
            "compaction": _compaction(queue_file_cap(spec)),
        },
    }
    config = {
        "extensions": extensions,
        "receivers": receivers,
        "processors": processors,
        "exporters": exporters,
        "connectors": connectors,
        "service": {"extensions": list(extensions), "pipelines": pipelines},
    }
    return config


def _header_secrets(spec: PlatformSpec) -> list[str]:
    names = []
    backend = spec.env.telemetry.default_backend
    if backend is not None and backend.headers:
        names.append(platform_headers_secret_name())
    names += [tenant_headers_secret_name(t) for t in spec.teams if t.telemetry is not None and t.telemetry.headers]
    return names


def collector_pod_selector() -> dict[str, str]:
    """The labels the operator selects the collector's pods by
    (open-telemetry/opentelemetry-operator@v0.158.0:internal/manifests/manifestutils/labels.go SelectorLabels)."""
    return {
        "app.kubernetes.io/managed-by": "opentelemetry-operator",
        "app.kubernetes.io/instance": f"{NAMESPACE}.{COLLECTOR_NAME}",
        "app.kubernetes.io/part-of": "opentelemetry",
        "app.kubernetes.io/component": "opentelemetry-collector",
    }


def collector(spec: PlatformSpec) -> Obj:
    settings = spec.env.telemetry.collector
    resources = settings.resources
    secrets = _header_secrets(spec)
    config = collector_config(spec)
    claim: dict = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": settings.queue.volume_size}}}
    if settings.queue.storage_class is not None:
        claim["storageClassName"] = settings.queue.storage_class
    volumes = [{"name": GATEWAY_TOKEN_SECRET, "secret": {"secretName": GATEWAY_TOKEN_SECRET}}]
    mounts = [
        {"name": QUEUE_VOLUME, "mountPath": QUEUE_DIRECTORY},
        {"name": GATEWAY_TOKEN_SECRET, "mountPath": GATEWAY_TOKEN_MOUNT, "readOnly": True},
    ]
    volumes += [{"name": name, "secret": {"secretName": name}} for name in secrets]
    mounts += [{"name": name, "mountPath": f"{HEADERS_MOUNT}/{name}", "readOnly": True} for name in secrets]
    body: dict = {
        # A StatefulSet: each replica keeps its own queue volume across restarts and reschedules
        # (the operator accepts volumeClaimTemplates only in this mode).
        "mode": "statefulset",
        "replicas": settings.replicas,
        "serviceAccount": SERVICE_ACCOUNT,
        # The operator's own NetworkPolicy (feature gate operand.networkpolicy, on by default in
        # 0.158.0) would admit every receiver port from any namespace; ours is the only one.
        "networkPolicy": {"enabled": False},
        "resources": {
            "requests": {"cpu": resources.requests.cpu, "memory": resources.requests.memory},
            "limits": {"cpu": resources.limits.cpu, "memory": resources.limits.memory},
        },
        # Pod Security `restricted`; the contrib image runs as a non-root numeric user, and the
        # queue volume is made writable for its group.
        "podSecurityContext": restricted_pod(fs_group=COLLECTOR_UID),
        "securityContext": restricted_container(),
        "volumeClaimTemplates": [{"metadata": {"name": QUEUE_VOLUME}, "spec": claim}],
        "volumes": volumes,
        "volumeMounts": mounts,
        "config": config,
        # The operator makes the PDB, selecting by collector_pod_selector() (resilience: at most
        # one replica evicted at a time); replicas prefer different nodes.
        "podDisruptionBudget": {"maxUnavailable": 1},
        "affinity": {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "labelSelector": {"matchLabels": collector_pod_selector()},
                            "topologyKey": "kubernetes.io/hostname",
                        },
                    }
                ]
            }
        },
    }
    return {
        "apiVersion": "opentelemetry.io/v1beta1",
        "kind": "OpenTelemetryCollector",
        "metadata": metadata(COLLECTOR_NAME, NAMESPACE),
        "spec": body,
    }


# --- per tenant ------------------------------------------------------------------------------


def instrumentation(team: TeamSpec, spec: PlatformSpec) -> Obj:
    """How the operator configures the SDK it injects into the team's pods."""
    sampler = spec.env.telemetry.sampler
    sampler_spec = {"type": sampler.type}
    if sampler.argument is not None:
        sampler_spec["argument"] = sampler.argument
    return {
        "apiVersion": "opentelemetry.io/v1alpha1",
        "kind": "Instrumentation",
        "metadata": metadata(INSTRUMENTATION_NAME, team.namespace, labels(tenant=team.name, platform_owned=True)),
        "spec": {
            "exporter": {"endpoint": WORKLOAD_OTLP_HTTP_ENDPOINT},
            "propagators": ["tracecontext", "baggage"],
            "sampler": sampler_spec,
            # No tenant, agent or tier here: the collector deletes whatever a sender claims and
            # takes them from the namespace's and the pod's platform-owned labels.
            # service.name/version from the pod's app.kubernetes.io/name and /version labels.
            "defaults": {"useLabelsForResourceAttributes": True},
            # Every injected SDK speaks OTLP over HTTP to the workload port.
            "env": [{"name": "OTEL_EXPORTER_OTLP_PROTOCOL", "value": "http/protobuf"}],
            # The injected init containers copy the SDK into a shared volume; they must pass
            # Pod Security `restricted` whatever the app container's own context is.
            "initContainerSecurityContext": restricted_container(
                run_as_non_root=True, run_as_user=65532, run_as_group=65532, seccomp_profile=True
            ),
        },
    }
