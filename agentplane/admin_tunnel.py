"""A private path from a CI runner to Keycloak's admin API: `python -m agentplane.admin_tunnel --stack S`.

The Ingress publishes only Keycloak's public paths (/realms/, /resources/, /.well-known/), so
`pulumi up`, `preview --refresh` and the drift check reach the admin API through the cluster
instead: when the stack's `identity.providerUrl` names Keycloak's in-cluster Service
(https://keycloak-http.agentplane-identity.svc:8443), this maps that name to 127.0.0.1 in
/etc/hosts and keeps `kubectl port-forward` to the Service running in the background, restarting
it until the job ends (on a first install the Service appears only during `pulumi up`). The
certificate Keycloak presents names the Service and is signed by the platform CA, which the
Keycloak provider is given: TLS is verified end to end. A self-hosted runner inside the
cluster needs none of this (run with --check to see what it would do).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from agentplane import namespaces, safeyaml
from agentplane.builders.identity.urls import KEYCLOAK_HTTPS_PORT
from agentplane.config.files import stack_config_path
from agentplane.config.sections.identity import KEYCLOAK_SERVICE

SERVICE_HOST = f"{KEYCLOAK_SERVICE}.{namespaces.IDENTITY}.svc"


class TunnelConfigError(Exception):
    """The stack file asks for a tunnel that cannot work; the message names file and field."""


# kubectl binds the local port as the runner's user: no privileged ports.
_LOWEST_PORT = 1024


def tunnel_target(stack_document: dict) -> tuple[str, int] | None:
    """(host, port) to forward when the stack's providerUrl is Keycloak's in-cluster Service, else None."""
    identity = ((stack_document or {}).get("config") or {}).get("agentplane:identity") or {}
    url = identity.get("providerUrl") if isinstance(identity, dict) else None
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    if parts.hostname not in (SERVICE_HOST, f"{SERVICE_HOST}.cluster.local"):
        return None
    try:
        port = parts.port
    except ValueError:
        port = None
    # The same port on both ends: the local one must be unprivileged, and explicit (a default
    # 443 is neither Keycloak's Service port nor bindable without root).
    if port is None or not _LOWEST_PORT <= port <= 65535:
        raise TunnelConfigError(
            f"agentplane:identity.providerUrl must name Keycloak's Service with an explicit port from {_LOWEST_PORT} "
            f"to 65535, such as https://{SERVICE_HOST}:{KEYCLOAK_HTTPS_PORT}"
        )
    return parts.hostname, port


def kubectl_target(stack_document: dict) -> list[str]:
    """The kubectl options that select the stack's cluster, as the Kubernetes provider does
    (agentplane:cluster.context and .kubeconfig); without them kubectl would use the
    kubeconfig's current context, which may be another cluster."""
    cluster = ((stack_document or {}).get("config") or {}).get("agentplane:cluster") or {}
    if not isinstance(cluster, dict):
        raise TunnelConfigError("agentplane:cluster must be a mapping with `context` (and optionally `kubeconfig`)")
    options: list[str] = []
    context, kubeconfig = cluster.get("context"), cluster.get("kubeconfig")
    if context is not None:
        if not isinstance(context, str) or not context:
            raise TunnelConfigError("agentplane:cluster.context must be a non-empty string")
        options.append(f"--context={context}")
    if kubeconfig is not None:
        if not isinstance(kubeconfig, str) or not kubeconfig or "\n" in kubeconfig:
            raise TunnelConfigError(
                "agentplane:cluster.kubeconfig holds a kubeconfig's contents; the tunnel needs a file: "
                "set KUBECONFIG to a file instead"
            )
        options.append(f"--kubeconfig={kubeconfig}")
    return options


def port_forward_loop(port: int, cluster_options: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The background command: port-forward, restarted whenever it ends (no Service yet, pod
    restarted). Stack values reach kubectl as separate arguments ("$@"), never as shell text."""
    forward = [
        "kubectl",
        *cluster_options,
        f"--namespace={namespaces.IDENTITY}",
        "port-forward",
        f"service/{KEYCLOAK_SERVICE}",
        f"{port}:{port}",
    ]
    return ["bash", "-c", 'while true; do "$@" >/dev/null 2>&1; sleep 1; done', "admin-tunnel", *forward]


HOSTS_FILE = Path("/etc/hosts")


def hosts_line(host: str) -> str:
    return f"127.0.0.1 {host}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agentplane.admin_tunnel", description=__doc__.split("\n")[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--check", action="store_true", help="only say what would be done")
    args = parser.parse_args(argv)
    path = stack_config_path(Path(), args.stack)
    document = safeyaml.load_file(path)
    try:
        target = tunnel_target(document)
        cluster_options = kubectl_target(document) if target is not None else []
    except TunnelConfigError as error:
        print(f"{path}: {error}", file=sys.stderr)
        return 2
    if target is None:
        print(f"{path}: identity.providerUrl is not Keycloak's in-cluster Service; no tunnel needed")
        return 0
    host, port = target
    print(
        f"{path}: forwarding {host}:{port} to Keycloak's Service through the cluster "
        f"({' '.join(cluster_options) or 'current context'})"
    )
    if args.check:
        return 0
    if hosts_line(host) not in HOSTS_FILE.read_text().splitlines():
        # `host` is one of two fixed names (tunnel_target), never free text from the stack file.
        subprocess.run(
            ["sudo", "tee", "-a", str(HOSTS_FILE)],
            input=hosts_line(host) + "\n",
            text=True,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    subprocess.Popen(
        port_forward_loop(port, cluster_options),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
