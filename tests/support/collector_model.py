"""A closed-world model of the gateway collector: the components agentplane uses, their
configuration fields, and what they do to a record, each rule citing the upstream source
it mirrors. Anything the model does not know (a component, a field, an OTTL form) fails.

Versions: the operator v0.158.0 runs collector-contrib 0.158.0
(open-telemetry/opentelemetry-collector-releases@v0.158.0:distributions/otelcol-contrib/manifest.yaml
lists every component below at v0.158.0). Sources were read from the Go modules of that release;
the routing connector's v0.158.0 module was not served, so its rules cite v0.157.0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CONTRIB = "open-telemetry/opentelemetry-collector-contrib@v0.158.0"
CORE = "open-telemetry/opentelemetry-collector@v0.158.0"
OPERATOR = "open-telemetry/opentelemetry-operator@v0.158.0"

# --- configuration schemas (mapstructure tags), closed-world ---------------------------------
# A schema is a set of allowed keys, or a dict key -> sub-schema; ANY accepts any value.
ANY = object()
LIST_OF = "list_of"

_ATTRIBUTE = {"key": ANY, "keys_expression": ANY, "optional": ANY, "default_value": ANY}
_GRPC_SERVER = {
    "endpoint": ANY,
    "auth": {"authenticator": ANY},
}  # config/configgrpc@v1.64.0 configgrpc.go ServerConfig; config/configauth@v1.64.0
_HTTP_SERVER = {"endpoint": ANY, "auth": {"authenticator": ANY}}  # config/confighttp server.go ServerConfig.Auth
_EXPORTER_HELPER = {
    # exporter/exporterhelper@v0.158.0 internal/queuebatch/config.go; configoptional's `enabled`
    "sending_queue": {
        "enabled": ANY,
        "wait_for_result": ANY,
        "sizer": ANY,
        "queue_size": ANY,
        "block_on_overflow": ANY,
        "storage": ANY,
        "num_consumers": ANY,
        "batch": {"flush_timeout": ANY, "sizer": ANY, "min_size": ANY, "max_size": ANY},
    },
    # config/configretry@v1.64.0 backoff.go
    "retry_on_failure": {
        "enabled": ANY,
        "initial_interval": ANY,
        "randomization_factor": ANY,
        "multiplier": ANY,
        "max_interval": ANY,
        "max_elapsed_time": ANY,
    },
    "timeout": ANY,
}
_OTLP_CLIENT = {"endpoint": ANY, "tls": {"insecure": ANY}, "headers": ANY, **_EXPORTER_HELPER}

SCHEMAS: dict[str, dict[str, object]] = {
    "receivers": {
        # receiver/otlpreceiver@v0.158.0 config.go
        "otlp": {"protocols": {"grpc": _GRPC_SERVER, "http": _HTTP_SERVER}},
        # receiver/prometheusreceiver@v0.158.0 config.go (`config` is a Prometheus config)
        "prometheus": {
            "config": {
                "scrape_configs": (
                    LIST_OF,
                    {"job_name": ANY, "scrape_interval": ANY, "static_configs": (LIST_OF, {"targets": ANY})},
                )
            }
        },
    },
    "processors": {
        # processor/memorylimiterprocessor (core internal/memorylimiter/config.go)
        "memory_limiter": {"check_interval": ANY, "limit_percentage": ANY, "spike_limit_percentage": ANY},
        # processor/resourceprocessor@v0.158.0 config.go -> internal/coreinternal/attraction/attraction.go
        "resource": {
            "attributes": (LIST_OF, {"key": ANY, "pattern": ANY, "action": ANY, "value": ANY, "from_attribute": ANY})
        },
        # processor/k8sattributesprocessor@v0.158.0 config.go
        "k8s_attributes": {
            "auth_type": ANY,
            "passthrough": ANY,
            "wait_for_metadata": ANY,
            "wait_for_metadata_timeout": ANY,
            "pod_association": (LIST_OF, {"sources": (LIST_OF, {"from": ANY, "name": ANY})}),
            "extract": {
                "metadata": ANY,
                "labels": (LIST_OF, {"tag_name": ANY, "key": ANY, "key_regex": ANY, "from": ANY}),
            },
        },
        # processor/groupbyattrsprocessor@v0.158.0 config.go
        "groupbyattrs": {"keys": ANY},
    },
    "exporters": {
        "otlp_grpc": _OTLP_CLIENT,  # exporter/otlpexporter@v0.158.0 config.go
        "otlp_http": _OTLP_CLIENT,  # exporter/otlphttpexporter@v0.158.0 config.go
        "debug": {"verbosity": ANY},  # exporter/debugexporter@v0.158.0 config.go
    },
    "connectors": {
        # connector/routingconnector@v0.157.0 config.go
        "routing": {
            "default_pipelines": ANY,
            "error_mode": ANY,
            "table": (LIST_OF, {"context": ANY, "condition": ANY, "statement": ANY, "action": ANY, "pipelines": ANY}),
        },
        # connector/signaltometricsconnector@v0.158.0 config/config.go (component type signal_to_metrics, metadata.yaml)
        "signal_to_metrics": {
            signal: (
                LIST_OF,
                {
                    "name": ANY,
                    "description": ANY,
                    "unit": ANY,
                    "include_resource_attributes": (LIST_OF, _ATTRIBUTE),
                    "attributes": (LIST_OF, _ATTRIBUTE),
                    "conditions": ANY,
                    "sum": {"value": ANY, "monotonic": ANY},
                },
            )
            for signal in ("spans", "datapoints", "logs", "profiles")
        }
        | {"error_mode": ANY},
    },
    "extensions": {
        "health_check": {"endpoint": ANY},  # extension/healthcheckextension@v0.158.0
        # extension/bearertokenauthextension@v0.158.0 config.go
        "bearertokenauth": {"header": ANY, "scheme": ANY, "token": ANY, "tokens": ANY, "filename": ANY},
        # extension/storage/filestorage@v0.158.0 config.go
        "file_storage": {
            "directory": ANY,
            "timeout": ANY,
            "max_size": ANY,
            "fsync": ANY,
            "create_directory": ANY,
            "compaction": {
                "on_start": ANY,
                "on_rebound": ANY,
                "directory": ANY,
                "rebound_needed_threshold_mib": ANY,
                "rebound_trigger_threshold_mib": ANY,
                "max_transaction_size": ANY,
                "check_interval": ANY,
            },
        },
    },
}
SIGNALS = ("traces", "metrics", "logs")
# signal_to_metrics: which input signal feeds which config section (config/config.go).
_USAGE_SECTION = {"traces": "spans", "metrics": "datapoints", "logs": "logs"}


def kind(component_id: str) -> str:
    return component_id.split("/", 1)[0]


def _schema_problems(where: str, value: object, schema: object) -> list[str]:
    if schema is ANY:
        return []
    if isinstance(schema, tuple) and schema[0] == LIST_OF:
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        return [p for i, item in enumerate(value) for p in _schema_problems(f"{where}[{i}]", item, schema[1])]
    assert isinstance(schema, dict)
    if not isinstance(value, dict):
        return [f"{where}: expected a mapping"]
    problems = [f"{where}.{key}: unknown field" for key in value if key not in schema]
    return problems + [
        p for key, item in value.items() if key in schema for p in _schema_problems(f"{where}.{key}", item, schema[key])
    ]


_MIB = 2**20


def _file_storage_problems(where: str, settings: dict) -> list[str]:
    """extension/storage/filestorage@v0.158.0 config.go Validate, with factory.go's defaults
    (rebound_needed_threshold_mib 100, rebound_trigger_threshold_mib 10): a rebound threshold
    above `max_size` is refused, and the collector does not start."""
    max_size = settings.get("max_size", 0)
    compaction = settings.get("compaction", {})
    problems = [f"{where}.max_size: must not be negative"] if max_size < 0 else []
    if max_size > 0 and compaction.get("on_rebound"):
        for field, default in (("rebound_needed_threshold_mib", 100), ("rebound_trigger_threshold_mib", 10)):
            if compaction.get(field, default) * _MIB > max_size:
                problems.append(
                    f"{where}.compaction.{field}: {compaction.get(field, default)} MiB is greater than "
                    f"max_size {max_size}"
                )
    return problems


def _sending_queue_problems(where: str, queue: dict) -> list[str]:
    """exporter/exporterhelper@v0.158.0 internal/queuebatch/config.go Config.Validate and
    BatchConfig.Validate (sizers: items or bytes for a batch; a batch's min_size at most the
    queue's size when both count the same way)."""
    problems = []
    if queue.get("num_consumers", 10) <= 0:
        problems.append(f"{where}.num_consumers: must be positive")
    if queue.get("queue_size", 1) <= 0:
        problems.append(f"{where}.queue_size: must be positive")
    if queue.get("storage") and queue.get("wait_for_result"):
        problems.append(f"{where}: wait_for_result is not supported with storage")
    batch = queue.get("batch")
    if batch is not None:
        sizer = batch.get("sizer", queue.get("sizer", "requests"))
        if sizer not in ("items", "bytes"):
            problems.append(f"{where}.batch.sizer: only items or bytes")
        if batch.get("max_size", 0) and batch["max_size"] < batch.get("min_size", 0):
            problems.append(f"{where}.batch.max_size: smaller than min_size")
        if sizer == queue.get("sizer", "requests") and batch.get("min_size", 0) > queue.get("queue_size", 1000):
            problems.append(f"{where}.batch.min_size: larger than queue_size")
    return problems


def config_problems(config: dict) -> list[str]:
    """Unknown sections, components or fields; undefined or unused components; pipelines that
    connect wrongly. What the real collector rejects at start-up, and what the model cannot
    interpret."""
    problems = [f"unknown top-level section {key}" for key in config if key not in (*SCHEMAS, "service")]
    for section, components in SCHEMAS.items():
        for component_id, settings in config.get(section, {}).items():
            if kind(component_id) not in components:
                problems.append(f"{section}.{component_id}: unknown component type {kind(component_id)!r}")
                continue
            problems += _schema_problems(f"{section}.{component_id}", settings, components[kind(component_id)])
    for extension_id, settings in config.get("extensions", {}).items():
        if kind(extension_id) == "file_storage":
            problems += _file_storage_problems(f"extensions.{extension_id}", settings)
    for exporter_id, settings in config.get("exporters", {}).items():
        if "sending_queue" in settings:
            problems += _sending_queue_problems(f"exporters.{exporter_id}.sending_queue", settings["sending_queue"])
    service = config["service"]
    problems += [
        f"service.{key}: unknown field" for key in service if key not in ("extensions", "pipelines", "telemetry")
    ]
    defined = {section: set(config.get(section, {})) for section in SCHEMAS}
    used: dict[str, set[str]] = {section: set() for section in SCHEMAS}
    feeds: dict[str, set[str]] = {}  # connector -> signals it is an exporter for
    fed_by: dict[str, set[str]] = {}  # connector -> signals it is a receiver for
    pipelines = service["pipelines"]
    assert pipelines, "no pipelines"
    for name, pipeline in pipelines.items():
        problems += [
            f"pipeline {name}.{key}: unknown field"
            for key in pipeline
            if key not in ("receivers", "processors", "exporters")
        ]
        signal = name.split("/")[0]
        if signal not in SIGNALS:
            problems.append(f"pipeline {name}: unknown signal {signal}")
        if not pipeline.get("receivers") or not pipeline.get("exporters"):
            problems.append(f"pipeline {name}: needs receivers and exporters")
        for receiver in pipeline.get("receivers", []):
            section = "connectors" if receiver in defined["connectors"] else "receivers"
            if receiver not in defined[section]:
                problems.append(f"pipeline {name}: receiver {receiver} is not defined")
            used[section].add(receiver)
            if section == "connectors":
                fed_by.setdefault(receiver, set()).add(signal)
        for processor in pipeline.get("processors", []):
            if processor not in defined["processors"]:
                problems.append(f"pipeline {name}: processor {processor} is not defined")
            used["processors"].add(processor)
        for exporter in pipeline.get("exporters", []):
            section = "connectors" if exporter in defined["connectors"] else "exporters"
            if exporter not in defined[section]:
                problems.append(f"pipeline {name}: exporter {exporter} is not defined")
            used[section].add(exporter)
            if section == "connectors":
                feeds.setdefault(exporter, set()).add(signal)
    for extension in service.get("extensions", []):
        if extension not in defined["extensions"]:
            problems.append(f"service.extensions: {extension} is not defined")
        used["extensions"].add(extension)
    for section in SCHEMAS:
        problems += [f"{section}.{unused} is defined but unused" for unused in sorted(defined[section] - used[section])]
    for connector, settings in config.get("connectors", {}).items():
        ins, outs = feeds.get(connector, set()), fed_by.get(connector, set())
        if kind(connector) == "routing":
            # connector/routingconnector@v0.157.0 factory.go: traces->traces, metrics->metrics, logs->logs.
            if len(ins | outs) != 1:
                problems.append(f"{connector}: a routing connector stays within one signal, not {sorted(ins | outs)}")
            if not settings.get("table"):
                problems.append(f"{connector}: an empty routing table is rejected")
            targets = list(settings.get("default_pipelines", []))
            for route in settings.get("table", []):
                if ("condition" in route) == ("statement" in route):
                    problems.append(f"{connector}: a route needs exactly one of condition/statement")
                targets += route.get("pipelines", [])
            problems += [
                f"{connector} routes to {t}, which it does not feed"
                for t in targets
                if t not in pipelines or connector not in pipelines[t]["receivers"]
            ]
        elif kind(connector) == "signal_to_metrics":
            # signaltometricsconnector factory.go: any signal in, metrics out.
            if outs != {"metrics"}:
                problems.append(f"{connector}: feeds {sorted(outs)}, must feed metrics pipelines only")
            for signal in ins:
                if not settings.get(_USAGE_SECTION[signal]):
                    problems.append(f"{connector}: receives {signal} but defines no {_USAGE_SECTION[signal]} metrics")
    return problems


# --- config-provider references --------------------------------------------------------------
# open-telemetry/opentelemetry-collector@confmap/v1.64.0:confmap/expand.go findURI /
# findAndExpandURI: `${<scheme>:<value>}` is expanded wherever it occurs in a string value (whole
# value or embedded), `$$` is an escape for `$`. The contrib distribution registers the env,
# file, http, https and yaml providers: whatever a reference names is read when the collector starts.


def references(value: object, where: str = "") -> list[tuple[str, str]]:
    """(path, string) for every string in the config the collector would expand or unescape."""
    if isinstance(value, dict):
        return [r for key, item in value.items() for r in references(item, f"{where}.{key}" if where else str(key))]
    if isinstance(value, list):
        return [r for i, item in enumerate(value) for r in references(item, f"{where}[{i}]")]
    if isinstance(value, str) and "$" in value:
        return [(where, value)]
    return []


# --- OTTL: only the condition forms the project writes --------------------------------------
_TERM = re.compile(r'^attributes\["(?P<key>[^"]+)"\] (?:(?P<op>==|!=) (?:"(?P<value>[^"]*)"|(?P<nil>nil)))$')


def condition_terms(condition: str) -> list[tuple[str, str, str | None]]:
    """(key, op, value or None for nil) for `term and term ...`; anything else fails."""
    terms = []
    for text in condition.split(" and "):
        match = _TERM.match(text.strip())
        assert match, f"the model does not know this OTTL condition: {condition!r}"
        terms.append((match["key"], match["op"], None if match["nil"] else match["value"]))
    return terms


def evaluate(condition: str, attributes: dict) -> bool:
    result = True
    for key, op, value in condition_terms(condition):
        present = key in attributes
        if value is None:  # `!= nil` / `== nil`
            result &= present if op == "!=" else not present
        else:
            result &= (attributes.get(key) == value) if op == "==" else (attributes.get(key) != value)
    return result


# --- the world a record comes from ----------------------------------------------------------


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    uid: str
    labels: dict = field(default_factory=dict)
    host_network: bool = False


@dataclass
class Send:
    """One OTLP export: from a pod (or an address no pod has), to a receiver, with resource and
    record attributes as the sender chose them, and the Authorization header it presents."""

    signal: str
    receiver: str
    source: Pod | None
    resource: dict
    record: dict = field(default_factory=dict)
    authorization: str | None = None


@dataclass
class Cluster:
    namespace_labels: dict[str, dict[str, str]]
    token_file: dict[str, str]  # path -> contents, as mounted in the collector pod


def _authenticated(config: dict, receiver: str, send: Send, cluster: Cluster) -> bool:
    """extension/bearertokenauthextension@v0.158.0 bearertokenauth.go Authenticate: the
    `Authorization` header must equal `<scheme> <token>` (factory.go: scheme Bearer)."""
    protocols = config["receivers"][receiver]["protocols"]
    auths = {p.get("auth", {}).get("authenticator") for p in protocols.values()}
    assert len(auths) == 1, f"{receiver}: protocols differ in authentication: {auths}"
    (authenticator,) = auths
    if authenticator is None:
        return True
    settings = config["extensions"][authenticator]
    assert kind(authenticator) == "bearertokenauth" and authenticator in config["service"]["extensions"]
    token = settings.get("token") or cluster.token_file[settings["filename"]]
    assert token, "an empty token would accept nothing or everything"
    return send.authorization == f"{settings.get('scheme', 'Bearer')} {token}"


def _k8s_attributes(settings: dict, resource: dict, source: Pod | None, cluster: Cluster) -> None:
    """processor/k8sattributesprocessor@v0.158.0:
    - processor.go processResource: the pod is looked up by the configured association; with
      `from: connection` only the connection's source IP is used.
    - internal/kube/client.go (getIdentifiersFromAssoc / podIDs): a hostNetwork pod is never
      indexed by IP, so its connections match no pod.
    - processor.go setResourceAttribute: a value already present and non-empty is kept.
    - processor.go getNamespace: with no pod, the sender's `k8s.namespace.name` is used, and
      that namespace's labels are extracted as if it were the pod's.
    """
    assert settings["passthrough"] is False
    assert settings["pod_association"] == [{"sources": [{"from": "connection"}]}], (
        "pods must be found by connection only"
    )

    def put(key: str, value: str) -> None:
        if not resource.get(key):
            resource[key] = value

    pod = source if source is not None and not source.host_network else None
    if pod is not None:
        metadata = {"k8s.namespace.name": pod.namespace, "k8s.pod.name": pod.name, "k8s.pod.uid": pod.uid}
        for key in settings["extract"]["metadata"]:
            if key in metadata:
                put(key, metadata[key])
        for rule in settings["extract"]["labels"]:
            if rule["from"] == "pod" and rule["key"] in pod.labels:
                put(rule["tag_name"], pod.labels[rule["key"]])
    namespace = pod.namespace if pod is not None else resource.get("k8s.namespace.name", "")
    if namespace:
        labels = cluster.namespace_labels.get(namespace, {})
        for rule in settings["extract"]["labels"]:
            if rule["from"] == "namespace" and rule["key"] in labels:
                put(rule["tag_name"], labels[rule["key"]])
    for rule in settings["extract"]["labels"]:
        assert rule["from"] in ("pod", "namespace"), rule


def _resource_processor(settings: dict, resource: dict) -> None:
    """internal/coreinternal@v0.158.0 attraction/attraction.go: `delete` by `key`, or by `pattern`
    (Go regexp, matched anywhere in the key; the project's patterns are anchored with ^)."""
    for action in settings["attributes"]:
        assert action["action"] == "delete", f"the model knows only delete: {action}"
        if "pattern" in action:
            for key in [k for k in resource if re.search(action["pattern"], k)]:
                del resource[key]
        else:
            resource.pop(action["key"], None)


def _groupbyattrs(settings: dict, resource: dict, record: dict) -> None:
    """processor/groupbyattrsprocessor@v0.158.0 processor.go: each listed record attribute is
    removed from the record and set on the record's (new) resource."""
    for key in settings["keys"]:
        if key in record:
            resource[key] = record.pop(key)


def _route(config: dict, router: str, resource: dict) -> list[str]:
    """connector/routingconnector@v0.157.0 traces.go/logs.go/metrics.go ConsumeX: routes are tried
    in order; a resource matching a route (`context: resource`, default action move) is moved
    out, so only the FIRST matching route gets it; an evaluation error counts as no match;
    whatever is left goes to `default_pipelines`."""
    settings = config["connectors"][router]
    # The default error_mode is propagate (the whole batch fails on an evaluation error); only
    # ignore/silent make an error "no match", which is what this model implements.
    if settings.get("error_mode", "propagate") not in ("ignore", "silent"):
        raise AssertionError(
            f"{router}: error_mode {settings.get('error_mode', 'propagate')!r} is not modelled (ignore, silent)"
        )
    assert settings["table"], f"{router}: an empty routing table routes nothing"
    for route in settings["table"]:
        if "statement" in route or "condition" not in route:
            raise AssertionError(f"{router}: route {route} is not modelled (only `condition` routes are)")
        assert route.get("context") == "resource" and route.get("action", "move") == "move", route
        if evaluate(route["condition"], resource):
            return route["pipelines"]
    return settings["default_pipelines"]


def _signal_to_metrics(settings: dict, signal: str, resource: dict, record: dict) -> list[tuple[dict, str, dict]]:
    """connector/signaltometricsconnector@v0.158.0 (README "Attributes", "Customizing resource
    attributes", "Conditions"): conditions are ORed; a record lacking a plain attribute makes no
    metric; the output resource keeps only include_resource_attributes (present ones)."""
    out = []
    for metric in settings.get(_USAGE_SECTION[signal], []):
        if metric.get("conditions") and not any(evaluate(c, record) for c in metric["conditions"]):
            continue
        attributes = {}
        for attr in metric.get("attributes", []):
            if attr["key"] in record:
                attributes[attr["key"]] = record[attr["key"]]
            elif "default_value" in attr:
                attributes[attr["key"]] = attr["default_value"]
            elif not attr.get("optional"):
                break
        else:
            keys = [a["key"] for a in metric.get("include_resource_attributes", [])]
            kept = {k: v for k, v in resource.items() if not keys or k in keys}
            out.append((kept, metric["name"], attributes))
    return out


@dataclass
class Delivery:
    exporter: str
    signal: str
    resource: dict
    record: dict


def deliver(config: dict, send: Send, cluster: Cluster) -> list[Delivery]:
    """Every exporter a sent record reaches, with the resource it reaches it with. A request the
    receiver refuses (authentication) reaches nothing."""
    assert send.receiver in config["receivers"], send.receiver
    if not _authenticated(config, send.receiver, send, cluster):
        return []
    pipelines = config["service"]["pipelines"]
    entry = [
        name for name, p in pipelines.items() if name.split("/")[0] == send.signal and send.receiver in p["receivers"]
    ]
    assert entry, f"no {send.signal} pipeline receives from {send.receiver}"
    out: list[Delivery] = []
    for name in entry:
        out += _run_pipeline(config, name, send.signal, dict(send.resource), dict(send.record), send.source, cluster)
    return out


def _run_pipeline(
    config: dict, name: str, signal: str, resource: dict, record: dict, source: Pod | None, cluster: Cluster
) -> list[Delivery]:
    pipeline = config["service"]["pipelines"][name]
    for processor in pipeline.get("processors", []):
        settings = config["processors"][processor]
        match kind(processor):
            case "memory_limiter":
                pass  # refuses under memory pressure only
            case "resource":
                _resource_processor(settings, resource)
            case "k8s_attributes":
                _k8s_attributes(settings, resource, source, cluster)
            case "groupbyattrs":
                _groupbyattrs(settings, resource, record)
            case other:
                raise AssertionError(f"the model does not know processor {other}")
    out: list[Delivery] = []
    for target in pipeline["exporters"]:
        if target in config.get("exporters", {}):
            out.append(Delivery(target, signal, dict(resource), dict(record)))
            continue
        connector = config["connectors"][target]
        match kind(target):
            case "routing":
                for next_name in _route(config, target, resource):
                    out += _run_pipeline(config, next_name, signal, dict(resource), dict(record), source, cluster)
            case "signal_to_metrics":
                for metric_resource, metric, attributes in _signal_to_metrics(connector, signal, resource, record):
                    for next_name, p in config["service"]["pipelines"].items():
                        if next_name.startswith("metrics/") and target in p["receivers"]:
                            out += _run_pipeline(
                                config,
                                next_name,
                                "metrics",
                                dict(metric_resource),
                                {"metric": metric, **attributes},
                                source,
                                cluster,
                            )
            case other:
                raise AssertionError(f"the model does not know connector {other}")
    return out


# --- network: who reaches which collector port ------------------------------------------------


def operator_network_policy(collector: dict, pod_labels: dict, ports: list[int]) -> dict | None:
    """The NetworkPolicy the operator adds for a collector:
    - pkg/featuregate/featuregate.go registers `operand.networkpolicy` as Beta (on by default);
    - internal/webhook/collector_webhook.go (Default, l.106-109) sets spec.networkPolicy.enabled
      to true when unset and the gate is on;
    - internal/manifests/collector/networkpolicy.go: when enabled, one ingress rule with every
      container port and no `from` (any source)."""
    enabled = collector["spec"].get("networkPolicy", {}).get("enabled")
    if enabled is None:
        enabled = True
    if not enabled:
        return None
    return {
        "spec": {
            "podSelector": {"matchLabels": dict(pod_labels)},
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": p} for p in ports]}],
        }
    }


def reaches(policies: list[dict], pod_labels: dict, source_namespace_labels: dict, port: int) -> bool:
    """Kubernetes NetworkPolicy ingress semantics for one TCP port: with any policy selecting the
    pod, a connection is allowed if some rule of some selecting policy admits it (policies add
    up); a rule without `from` admits every source, without `ports` every port."""
    selecting = [
        p
        for p in policies
        if set(p["spec"]["podSelector"].get("matchLabels", {}).items()) <= set(pod_labels.items())
        and "Ingress" in p["spec"]["policyTypes"]
    ]
    assert selecting, "no NetworkPolicy selects the collector pods: everything would be open"
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            ports = rule.get("ports")
            if ports is not None and not any(p.get("protocol", "TCP") == "TCP" and p["port"] == port for p in ports):
                continue
            sources = rule.get("from")
            if sources is None:
                return True
            for peer in sources:
                assert set(peer) == {"namespaceSelector"}, f"the model knows namespace peers only: {peer}"
                selector = peer["namespaceSelector"]
                assert set(selector) <= {"matchLabels"}, selector
                if set(selector.get("matchLabels", {}).items()) <= set(source_namespace_labels.items()):
                    return True
    return False
