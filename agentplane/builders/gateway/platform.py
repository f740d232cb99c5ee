"""The platform gateway: agentgateway on Gateway API, as plain objects and Helm values.

Everything the gateway owns lives in the gateway namespace, where tenants have no RBAC:
the Gateway only admits routes from that namespace (`allowedRoutes: Same`), so a team can
neither attach its own route nor edit the policies that guard its routes. Per-team objects
are in `team.py` (with `guardrails.py`), the token-budget service in `token_budgets.py`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from agentplane import manifest, namespaces
from agentplane.builders.certificates import CA_BUNDLE
from agentplane.builders.identity.urls import served_by_platform_ca
from agentplane.builders.telemetry import AGENT_ATTRIBUTE, TENANT_ATTRIBUTE
from agentplane.config.base import agent_client_id
from agentplane.config.platform import AgentSpec, PlatformSpec, TeamSpec
from agentplane.config.sections.gateway import (
    AGENT_REFERENCE,
    PROVIDERS_WITH_KEYS,
    ProviderOptions,
    agent_spiffe_id,
)
from agentplane.config.sections.resilience import proxy_replicas
from agentplane.manifest import Obj, restricted_container, restricted_pod

GATEWAY_API = "gateway.networking.k8s.io/v1"
AGW_API = "agentgateway.dev/v1alpha1"
AGW_GROUP = "agentgateway.dev"
CONTROLLER_NAME = "agentgateway.dev/agentgateway"

GATEWAY_CLASS = "agentplane"
GATEWAY_NAME = "agentplane"  # the controller names the proxy Deployment/Service after it
PROXY_PARAMETERS = "agentplane-proxy"
TLS_CERTIFICATE = "agentplane-gateway"
TLS_SECRET = "agentplane-gateway-tls"
JWKS_BACKEND = "agentplane-jwks"
SPIFFE_JWKS_BACKEND = "agentplane-spiffe-jwks"
OTLP_BACKEND = "agentplane-otlp"
EGRESS_DYNAMIC_BACKEND = "agentplane-egress-dynamic"
FRONTEND_POLICY = "agentplane-frontend"
HTTPS_PORT, HTTP_PORT = 443, 80

# Every denial the gateway itself writes carries this header; the access log records it.
DENIAL_HEADER = "x-agentplane-denial"
# The caller's identity, passed to agents and tool servers instead of the caller's token.
CALLER_HEADER = "x-agentplane-caller"
CALLER_KIND_HEADER = "x-agentplane-caller-kind"
# Egress keeps the agent's own `Authorization` for the external service; the platform token
# travels in this header and is removed before the request leaves.
EGRESS_TOKEN_HEADER = "x-agentplane-authorization"

# Whether the token is an agent's: its Keycloak client is `<team>.<agent>` (client-credentials
# tokens carry it in `azp`). A person logging in through another client never matches.
AGENT_CLIENT = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?[.][a-z0-9]([-a-z0-9]*[a-z0-9])?$"
IS_AGENT_CLIENT = f"(has(jwt.azp) && jwt.azp.matches({json.dumps(AGENT_CLIENT)}))"
# Who is authorized, as CEL: the agent's client, else the token's subject (a JWT-SVID's SPIFFE
# ID; a person's stable user id, which never has an agent client's form).
PRINCIPAL = f"({IS_AGENT_CLIENT} ? jwt.azp : jwt.sub)"
# Who called, for callees and logs: `<team>.<agent>` for an agent, otherwise the person's
# `preferred_username` (falling back to the subject), never the client a person logged in with.
CALLER = f"({IS_AGENT_CLIENT} ? jwt.azp : has(jwt.preferred_username) ? jwt.preferred_username : jwt.sub)"
# What CALLER names, so a person called `team.agent` cannot pass for that agent with a callee.
CALLER_KIND = f'({IS_AGENT_CLIENT} || jwt.sub.startsWith("spiffe://") ? "agent" : "person")'
# The caller's team, from its validated token: an agent's client is `<team>.<agent>`. Anything
# else (a person, a token without azp) is '' and the collector sends it to the platform pipeline.
TENANT = f"({IS_AGENT_CLIENT} ? jwt.azp.split('.')[0] : '')"


# --- names and CEL helpers -----------------------------------------------------------------


def slug(value: str, max_length: int = 63) -> str:
    """A DNS label for `value`; a short hash keeps distinct values distinct when characters are lost."""
    label = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-") or "x"
    if label == value and len(label) <= max_length:
        return label
    digest = hashlib.sha256(value.encode()).hexdigest()[:6]
    return f"{label[: max_length - 7].rstrip('-')}-{digest}"


def cel_string(value: str) -> str:
    # A JSON string literal is a valid CEL string literal (same escapes).
    return json.dumps(value)


def cel_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(cel_string(v) for v in values) + "]"


def cel_map(entries: dict[str, str]) -> str:
    return "{" + ", ".join(f"{cel_string(k)}: {cel_string(v)}" for k, v in entries.items()) + "}"


def labels(team: TeamSpec | None = None) -> dict[str, str]:
    """The gateway's objects carry the team they serve (they live in the gateway namespace, so
    not platform-owned: tenants cannot reach them at all)."""
    return manifest.labels(tenant=team.name if team is not None else None)


def meta(name: str, team: TeamSpec | None = None, namespace: str | None = namespaces.GATEWAY) -> dict:
    return manifest.metadata(name, namespace, labels(team))


def backend_ref(name: str) -> dict:
    return {"group": AGW_GROUP, "kind": "AgentgatewayBackend", "name": name}


def parent_refs() -> list[dict]:
    return [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": GATEWAY_NAME, "namespace": namespaces.GATEWAY}
    ]


def route_target(name: str) -> list[dict]:
    return [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": name}]


# --- identities ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """Who the gateway trusts: the realm, its audience, and optionally SPIRE's JWT-SVIDs."""

    issuer: str
    audience: str
    jwks_url: str
    spiffe_issuer: str | None
    trust_domain: str
    # The ConfigMap (key ca.crt) holding the root the JWKS endpoint's certificate chains to,
    # when that is the platform CA; None: the system roots (a public CA, or plain http).
    jwks_ca: str | None = None

    def agent(self, team: str, agent: str) -> list[str]:
        """Values of PRINCIPAL that identify one agent."""
        ids = [agent_client_id(team, agent)]
        if self.spiffe_issuer:
            # Team namespaces are named after their team (TeamSpec.namespace).
            ids.append(agent_spiffe_id(self.trust_domain, team, agent))
        return ids

    def agents(self, team: TeamSpec, agents: Iterable[AgentSpec] | None = None) -> list[str]:
        return [i for a in (team.agents if agents is None else agents) for i in self.agent(team.name, a.name)]


def identity(spec: PlatformSpec, issuer_url: str, audience: str | None = None) -> Identity:
    """`issuer_url` and `audience` come from the identity piece (the realm and its gateway audience)."""
    gateway = spec.env.gateway
    jwks_url = gateway.jwks_url or f"{issuer_url.rstrip('/')}/protocol/openid-connect/certs"
    return Identity(
        issuer=issuer_url,
        audience=audience or spec.env.identity.gateway_audience,
        # The public issuer by default (or gateway.jwksUrl); over TLS with a platform-CA
        # certificate, the backend is given the platform root (ConfigMap CA_BUNDLE).
        jwks_url=jwks_url,
        spiffe_issuer=gateway.spiffe_issuer,
        trust_domain=spec.env.spire.trust_domain,
        jwks_ca=CA_BUNDLE if served_by_platform_ca(spec.env.identity, jwks_url) else None,
    )


def allowed_callers(ident: Identity, access: Iterable[str], *, agents: Iterable[str] = ()) -> str:
    """CEL that is true when the caller is one of `agents` (PRINCIPAL values) or is in a group,
    or is an agent named in `access` as `agent:<team>/<agent>`. Missing claims never match."""
    groups: list[str] = []
    callers = list(agents)
    for entry in access:
        match = AGENT_REFERENCE.match(entry)
        if match:
            callers += ident.agent(match["team"], match["agent"])
        else:
            groups.append(entry)
    clauses = []
    if callers:
        clauses.append(f"{PRINCIPAL} in {cel_list(dict.fromkeys(callers))}")
    if groups:
        clauses.append(f"(has(jwt.groups) && jwt.groups.exists(g, g in {cel_list(dict.fromkeys(groups))}))")
    return " || ".join(clauses) or "false"


def jwt_authentication(ident: Identity, *, header: str | None = None) -> dict:
    """Strict JWT validation against the platform realm (and SPIRE when configured)."""
    providers = [_jwt_provider(ident.issuer, ident.audience, JWKS_BACKEND, _jwks_path(ident.jwks_url))]
    if ident.spiffe_issuer:
        providers.append(
            _jwt_provider(
                ident.spiffe_issuer, ident.audience, SPIFFE_JWKS_BACKEND, _jwks_path(_spiffe_keys(ident.spiffe_issuer))
            )
        )
    out: dict = {"mode": "Strict", "providers": providers}
    if header:
        out["location"] = {"header": {"name": header, "prefix": "Bearer "}}
    return out


def _jwt_provider(issuer: str, audience: str, backend: str, path: str) -> dict:
    return {
        "issuer": issuer,
        "audiences": [audience],
        "jwks": {"remote": {"backendRef": backend_ref(backend), "jwksPath": path, "cacheDuration": "5m"}},
    }


def _spiffe_keys(issuer: str) -> str:
    return f"{issuer.rstrip('/')}/keys"


def _jwks_path(url: str) -> str:
    # Relative to the JWKS backend's root, as agentgateway expects.
    return urlsplit(url).path.lstrip("/") or "."


def static_backend(
    name: str,
    url_or_host: str,
    port: int | None = None,
    *,
    tls: bool | None = None,
    team: TeamSpec | None = None,
    ca_config_map: str | None = None,
) -> Obj:
    """A static AgentgatewayBackend for a host, or for the host of a URL (TLS when https).
    `ca_config_map` names a ConfigMap (key ca.crt, same namespace) whose roots replace the system's."""
    if "://" in url_or_host:
        parts = urlsplit(url_or_host)
        host = parts.hostname or ""
        tls = parts.scheme == "https" if tls is None else tls
        port = parts.port or (443 if tls else 80)
    else:
        host = url_or_host
    spec: dict = {"static": {"host": host, "port": port}}
    if tls:
        # SNI and SAN checked against the host; the system trust roots unless a CA is given.
        spec["policies"] = {"tls": {"sni": host}}
        if ca_config_map is not None:
            spec["policies"]["tls"]["caCertificateRefs"] = [{"name": ca_config_map}]
    return {"apiVersion": AGW_API, "kind": "AgentgatewayBackend", "metadata": meta(name, team), "spec": spec}


# --- charts --------------------------------------------------------------------------------

# Values the agentgateway chart renders verbatim with toYaml: Kubernetes types, not chart options.
CHART_FREE_FORM = {"agentgateway": ("resources", "podSecurityContext", "securityContext")}


def controller_values(spec: PlatformSpec) -> dict:
    """Helm values for the agentgateway controller chart (every key exists in its values.yaml)."""
    return {
        "controller": {"replicaCount": 1, "logLevel": "info"},
        # The gateway namespace enforces Pod Security `restricted`.
        "podSecurityContext": restricted_pod(run_as_user=65532, run_as_group=65532),
        "securityContext": restricted_container(),
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        "commonLabels": labels(),
    }


# --- the Gateway ---------------------------------------------------------------------------


def proxy_parameters(spec: PlatformSpec) -> Obj:
    """How the controller deploys the proxy for our Gateway: restricted pods, JSON logs, and a
    ClusterIP Service: the controller's default `LoadBalancer` would publish every listener,
    plain HTTP included (agentgateway/agentgateway@v1.4.1:controller/pkg/helm/agentgateway/templates/service.yaml;
    the overlay is a strategic merge patch, controller/pkg/deployer/strategicpatch/strategicpatch.go)."""
    return {
        "apiVersion": AGW_API,
        "kind": "AgentgatewayParameters",
        "metadata": meta(PROXY_PARAMETERS),
        "spec": {
            "logging": {"format": "json"},
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}},
            "service": {"spec": {"type": "ClusterIP"}},
            "deployment": {
                "spec": {
                    "replicas": proxy_replicas(spec.env),
                    "template": {
                        "spec": {
                            "securityContext": restricted_pod(),
                            "affinity": proxy_anti_affinity(),
                        }
                    },
                }
            },
            # The controller creates the PDB with the proxy Deployment's own selector
            # (agentgateway/agentgateway@v1.4.1:controller/pkg/deployer/strategicpatch/strategicpatch.go).
            "podDisruptionBudget": {"spec": {"maxUnavailable": 1}},
        },
    }


# Labels the controller puts on the proxy pods of Gateway GATEWAY_NAME (its selector labels,
# agentgateway/agentgateway@v1.4.1:controller/pkg/helm/agentgateway/templates/_helpers.tpl).
PROXY_POD_SELECTOR = {"gateway.networking.k8s.io/gateway-name": GATEWAY_NAME}


def proxy_anti_affinity() -> dict:
    """Proxy replicas prefer different nodes (still scheduled together on a one-node cluster)."""
    term = {"labelSelector": {"matchLabels": dict(PROXY_POD_SELECTOR)}, "topologyKey": "kubernetes.io/hostname"}
    return {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": term}]
        }
    }


PUBLIC_SERVICE = "agentplane-https"


def public_https_service(spec: PlatformSpec) -> Obj | None:
    """The only way into the proxy from outside the cluster: its HTTPS listener, nothing else."""
    public = spec.env.gateway.public_https
    if public.type == "ClusterIP":
        return None
    port: dict = {"name": "https", "protocol": "TCP", "port": HTTPS_PORT, "targetPort": HTTPS_PORT}
    if public.https_node_port is not None:
        port["nodePort"] = public.https_node_port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(PUBLIC_SERVICE),
        "spec": {"type": public.type, "selector": dict(PROXY_POD_SELECTOR), "ports": [port]},
    }


def gateway_class() -> Obj:
    return {
        "apiVersion": GATEWAY_API,
        "kind": "GatewayClass",
        "metadata": meta(GATEWAY_CLASS, namespace=None),
        "spec": {"controllerName": CONTROLLER_NAME, "description": "agentplane: models, tools and egress for agents"},
    }


def certificate(spec: PlatformSpec, issuer_name: str) -> Obj:
    """The HTTPS listener's certificate, issued by the platform CA ClusterIssuer."""
    in_cluster = f"{GATEWAY_NAME}.{namespaces.GATEWAY}.svc"
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": meta(TLS_CERTIFICATE),
        "spec": {
            "secretName": TLS_SECRET,
            "dnsNames": [spec.env.gateway.hostname, in_cluster, f"{in_cluster}.cluster.local"],
            "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": issuer_name},
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            "duration": "2160h",
            "renewBefore": "360h",
        },
    }


def gateway(spec: PlatformSpec) -> Obj:
    """The platform Gateway. Routes attach only from the gateway namespace itself."""
    same = {"namespaces": {"from": "Same"}, "kinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}]}
    listeners = [
        {
            "name": "https",
            "protocol": "HTTPS",
            "port": HTTPS_PORT,
            "hostname": spec.env.gateway.hostname,
            "tls": {"mode": "Terminate", "certificateRefs": [{"group": "", "kind": "Secret", "name": TLS_SECRET}]},
            "allowedRoutes": same,
        }
    ]
    if spec.env.gateway.http_listener:
        listeners.append({"name": "http", "protocol": "HTTP", "port": HTTP_PORT, "allowedRoutes": same})
    return {
        "apiVersion": GATEWAY_API,
        "kind": "Gateway",
        "metadata": meta(GATEWAY_NAME),
        "spec": {
            "gatewayClassName": GATEWAY_CLASS,
            "infrastructure": {
                "parametersRef": {"group": AGW_GROUP, "kind": "AgentgatewayParameters", "name": PROXY_PARAMETERS}
            },
            "listeners": listeners,
        },
    }


def identity_backends(ident: Identity) -> list[Obj]:
    """Where the proxy fetches signing keys (referenced by every team's JWT policy)."""
    out = [static_backend(JWKS_BACKEND, ident.jwks_url, ca_config_map=ident.jwks_ca)]
    if ident.spiffe_issuer:
        out.append(static_backend(SPIFFE_JWKS_BACKEND, _spiffe_keys(ident.spiffe_issuer)))
    return out


def parse_otlp_endpoint(endpoint: str) -> tuple[str, int]:
    """`http://collector.ns.svc:4317` or `collector.ns.svc:4317` -> (host, port)."""
    parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    if not parts.hostname:
        raise ValueError(f"telemetry OTLP endpoint {endpoint!r} has no host")
    return parts.hostname, parts.port or 4317


# The Secret (gateway namespace) holding the collector's bearer token for the OTLP backend;
# agentgateway reads its `Authorization` key and sends `Authorization: Bearer <value>`.
OTLP_TOKEN_SECRET = "agentplane-otlp-token"
# The caller's agent name, from its validated token (`<team>.<agent>` clients); '' for people.
AGENT = "(has(jwt.azp) && jwt.azp.contains('.') ? jwt.azp.split('.')[1] : '')"


def telemetry_attributes() -> list[dict]:
    """What each access log record and span names beyond agentgateway's own fields (model,
    gen_ai.usage.input/output_tokens, gen_ai.tool.name, status, reason): the caller, the team
    and agent the collector routes by, the route and the gateway's own denial, if any."""
    return [
        {"name": "agentplane.caller", "expression": CALLER},
        {"name": TENANT_ATTRIBUTE, "expression": TENANT},
        {"name": AGENT_ATTRIBUTE, "expression": AGENT},
        {"name": "agentplane.route", "expression": "proxy.route.name"},
        {"name": "agentplane.denial", "expression": f"response.headers[{cel_string(DENIAL_HEADER)}]"},
    ]


def frontend_policy(spec: PlatformSpec, otlp_endpoint: str | None) -> Obj:
    """Access logs name the caller, team, agent, route and any denial, on stdout and, with a
    collector, over OTLP to it (every request: logs are not sampled); traces go there too."""
    access_log: dict = {"attributes": {"add": telemetry_attributes()}}
    frontend: dict = {"accessLog": access_log}
    if otlp_endpoint:
        # No `attributes` of its own: the OTLP records carry the access log's.
        access_log["otlp"] = {"backendRef": backend_ref(OTLP_BACKEND), "protocol": "GRPC"}
        frontend["tracing"] = {
            "backendRef": backend_ref(OTLP_BACKEND),
            "protocol": "GRPC",
            "randomSampling": repr(float(spec.env.gateway.trace_sampling)),
            # The collector routes each gateway span to the tenant this names (never to another's).
            "attributes": {
                "add": [
                    a
                    for a in telemetry_attributes()
                    if a["name"] in ("agentplane.caller", TENANT_ATTRIBUTE, AGENT_ATTRIBUTE)
                ]
            },
        }
    return {
        "apiVersion": AGW_API,
        "kind": "AgentgatewayPolicy",
        "metadata": meta(FRONTEND_POLICY),
        "spec": {
            "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": GATEWAY_NAME}],
            "frontend": frontend,
        },
    }


def otlp_backend(otlp_endpoint: str) -> Obj:
    """The collector's gateway-only OTLP port. The backend's auth policy adds the bearer token to
    every export, traces and access logs alike (agentgateway/agentgateway@v1.4.1:
    crates/agentgateway/src/telemetry/trc.rs and log.rs export through
    `PolicyClient::call_reference_with_policies`, which applies the backend's inline policies,
    crates/agentgateway/src/proxy/httpproxy.rs `get_backend_policies`; and
    crates/agentgateway/src/http/auth/mod.rs puts a key in `Authorization` with the `Bearer `
    prefix by default)."""
    host, port = parse_otlp_endpoint(otlp_endpoint)
    backend = static_backend(OTLP_BACKEND, host, port, tls=False)
    backend["spec"]["policies"] = {"auth": {"secretRef": {"name": OTLP_TOKEN_SECRET}}}
    return backend


def otlp_token_secret() -> Obj:
    """The OTLP backend's token, without its payload: the component adds the collector's token."""
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta(OTLP_TOKEN_SECRET), "type": "Opaque"}


def egress_dynamic_backend() -> Obj:
    """Forwards to the host the egress policy put in `:authority` (wildcard egress only), over TLS."""
    return {
        "apiVersion": AGW_API,
        "kind": "AgentgatewayBackend",
        "metadata": meta(EGRESS_DYNAMIC_BACKEND),
        "spec": {"dynamicForwardProxy": {}, "policies": {"tls": {}}},
    }


# --- models --------------------------------------------------------------------------------


def model_backend_name(model: str) -> str:
    return f"model-{slug(model, 56)}"


def provider_secret_name(provider: str) -> str:
    return f"provider-{provider}"


def provider_secret(provider: str) -> Obj:
    """The Secret holding a provider's key, without its payload: the component adds it as a
    Pulumi secret. agentgateway reads the `Authorization` key by default."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta(provider_secret_name(provider)),
        "type": "Opaque",
    }


def model_backend(spec: PlatformSpec, name: str, provider: str) -> Obj:
    """One AgentgatewayBackend per approved model. The model is fixed here, so the route a
    caller takes decides the model, whatever the request body asks for."""
    options = spec.env.gateway.provider_options.get(provider, ProviderOptions())
    settings: dict = {"model": name}
    if provider == "azureopenai":
        settings = {"deploymentName": name, "endpoint": options.endpoint}
    elif provider == "bedrock":
        settings["region"] = options.region
    elif provider == "vertexai":
        settings |= {"projectId": options.project_id} | ({"region": options.region} if options.region else {})
    backend: dict = {"ai": {"provider": {provider: {k: v for k, v in settings.items() if v is not None}}}}
    if provider in PROVIDERS_WITH_KEYS:
        backend["policies"] = {"auth": {"secretRef": {"name": provider_secret_name(provider)}}}
    elif provider == "vertexai":
        backend["policies"] = {"auth": {"gcp": {"type": "AccessToken"}}}
    # bedrock: no auth policy, so the AWS SDK's default credential chain (e.g. IRSA) is used.
    return {
        "apiVersion": AGW_API,
        "kind": "AgentgatewayBackend",
        "metadata": meta(model_backend_name(name)),
        "spec": backend,
    }


def model_backends(spec: PlatformSpec) -> list[Obj]:
    return [model_backend(spec, m.name, m.provider) for m in spec.env.models]


def key_providers(spec: PlatformSpec) -> list[str]:
    """Providers whose models authenticate with an API key from `providerKeys`."""
    return sorted({m.provider for m in spec.env.models if m.provider in PROVIDERS_WITH_KEYS})


def platform_objects(spec: PlatformSpec, ident: Identity, issuer_name: str, otlp_endpoint: str | None) -> list[Obj]:
    """The shared gateway objects, namespace excepted (the component declares it)."""
    objects = [
        proxy_parameters(spec),
        *[s for s in [public_https_service(spec)] if s is not None],
        gateway_class(),
        certificate(spec, issuer_name),
        gateway(spec),
        *identity_backends(ident),
        egress_dynamic_backend(),
        *[provider_secret(p) for p in key_providers(spec)],
        *model_backends(spec),
        frontend_policy(spec, otlp_endpoint),
    ]
    if otlp_endpoint:
        objects += [otlp_backend(otlp_endpoint), otlp_token_secret()]
    return objects
