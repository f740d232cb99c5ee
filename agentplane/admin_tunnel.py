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
from agentplane.builders.identity import KEYCLOAK_SERVICE

SERVICE_HOST = f"{KEYCLOAK_SERVICE}.{namespaces.IDENTITY}.svc"


def tunnel_target(stack_document: dict) -> tuple[str, int] | None:
    """(host, port) to forward when the stack's providerUrl is Keycloak's in-cluster Service, else None."""
    identity = ((stack_document or {}).get("config") or {}).get("agentplane:identity") or {}
    url = identity.get("providerUrl") if isinstance(identity, dict) else None
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    if parts.hostname not in (SERVICE_HOST, f"{SERVICE_HOST}.cluster.local"):
        return None
    return parts.hostname, parts.port or 443


def port_forward_loop(port: int) -> list[str]:
    """The background command: port-forward, restarted whenever it ends (no Service yet, pod restarted)."""
    forward = f"kubectl --namespace {namespaces.IDENTITY} port-forward service/{KEYCLOAK_SERVICE} {port}:{port}"
    return ["bash", "-c", f"while true; do {forward} >/dev/null 2>&1; sleep 5; done"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agentplane.admin_tunnel", description=__doc__.split("\n")[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--check", action="store_true", help="only say what would be done")
    args = parser.parse_args(argv)
    path = Path("stacks") / f"Pulumi.{args.stack}.yaml"
    target = tunnel_target(safeyaml.load_file(path))
    if target is None:
        print(f"{path}: identity.providerUrl is not Keycloak's in-cluster Service; no tunnel needed")
        return 0
    host, port = target
    print(f"{path}: forwarding {host}:{port} to Keycloak's Service through the cluster")
    if args.check:
        return 0
    subprocess.run(["sudo", "sh", "-c", f"echo '127.0.0.1 {host}' >> /etc/hosts"], check=True)
    subprocess.Popen(port_forward_loop(port), start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
