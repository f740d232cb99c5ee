"""Kubernetes NetworkPolicy semantics, for reachability matrices over the rendered plans.

What it mirrors (kubernetes/api@v0.34.10:networking/v1/types.go, the newest 1.34 tag of the
staging repository checked; kind runs v1.34.11; NetworkPolicySpec, NetworkPolicyPeer, NetworkPolicyPort):
* a pod is isolated for ingress (egress) when some policy of its namespace selects it and lists
  Ingress (Egress) in policyTypes; an isolated pod admits exactly what the union of those
  policies' rules allows, a pod that is not isolated admits everything (policies add up);
* a connection needs the source's egress and the destination's ingress;
* a rule without `from`/`to` matches every peer, without `ports` every port; a peer with only a
  podSelector means pods of the policy's own namespace, with only a namespaceSelector every pod
  of the namespaces it selects, with both the selected pods of the selected namespaces;
* a port matches by number and protocol (TCP when absent), up to endPort when set.
Label selectors: tests/support/admission_match.py (kubernetes/apimachinery LabelSelectorAsSelector).
Closed world (UnknownField): ipBlock peers, named ports, an endPort without a numeric port or
below it, a protocol other than TCP/UDP/SCTP, a policyType other than Ingress/Egress and unknown
fields are errors (the plans use none;
a pod IP inside an ipBlock would need the cluster's addressing, which this model does not have).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.support.admission_match import UnknownField, selector_matches

_SPEC = {"podSelector", "policyTypes", "ingress", "egress"}
_RULE = {"from", "to", "ports"}
_PEER = {"podSelector", "namespaceSelector"}
_PORT = {"protocol", "port", "endPort"}


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    labels: tuple[tuple[str, str], ...]
    # (port, protocol) the pod listens on
    ports: tuple[tuple[int, str], ...]

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


def pod(namespace: str, name: str, labels: Mapping[str, str], ports: Iterable[int | tuple[int, str]]) -> Pod:
    normalized = tuple(p if isinstance(p, tuple) else (p, "TCP") for p in ports)
    return Pod(namespace, name, tuple(sorted(labels.items())), normalized)


def _closed(obj: Mapping[str, Any], allowed: set[str], what: str) -> None:
    unknown = set(obj) - allowed
    if unknown:
        raise UnknownField(f"{what}: fields the NetworkPolicy model does not know: {sorted(unknown)}")


class Network:
    def __init__(self, policies: Iterable[Mapping[str, Any]], namespace_labels: Mapping[str, Mapping[str, str]]):
        self.policies = list(policies)
        self.namespace_labels = {
            ns: {**labels, "kubernetes.io/metadata.name": ns} for ns, labels in namespace_labels.items()
        }
        for policy in self.policies:
            spec = policy["spec"]
            _closed(spec, _SPEC, f"NetworkPolicy {policy['metadata']['name']}")
            for direction in ("ingress", "egress"):
                for rule in spec.get(direction) or []:
                    _closed(rule, _RULE, f"NetworkPolicy {policy['metadata']['name']} {direction} rule")
                    for peer in rule.get("from" if direction == "ingress" else "to") or []:
                        _closed(peer, _PEER, f"NetworkPolicy {policy['metadata']['name']} peer")
                    for port in rule.get("ports") or []:
                        where = f"NetworkPolicy {policy['metadata']['name']} port {port}"
                        _closed(port, _PORT, where)
                        if port.get("protocol", "TCP") not in ("TCP", "UDP", "SCTP"):
                            raise UnknownField(f"{where}: protocol must be TCP, UDP or SCTP")
                        if not isinstance(port.get("port", 0), int) or isinstance(port.get("port"), bool):
                            raise UnknownField(f"{where}: named ports are not modelled (pods here carry numbers only)")
                        if "endPort" in port and ("port" not in port or port["endPort"] < port["port"]):
                            raise UnknownField(
                                f"{where}: endPort needs a numeric port not above it (the API server rejects it)"
                            )
            types = spec.get("policyTypes")
            if types is not None and (not types or set(types) - {"Ingress", "Egress"}):
                raise UnknownField(f"NetworkPolicy {policy['metadata']['name']}: policyTypes {types!r}")

    def _selecting(self, target: Pod, policy_type: str) -> list[Mapping[str, Any]]:
        return [
            p
            for p in self.policies
            if p["metadata"]["namespace"] == target.namespace
            and selector_matches(p["spec"]["podSelector"], target.label_map)
            and policy_type in self._policy_types(p["spec"])
        ]

    @staticmethod
    def _policy_types(spec: Mapping[str, Any]) -> list[str]:
        """Absent policyTypes: Ingress, plus Egress when the policy has egress rules."""
        if "policyTypes" in spec:
            return spec["policyTypes"]
        return ["Ingress", *(["Egress"] if spec.get("egress") else [])]

    def _peer_matches(self, peer: Mapping[str, Any], policy_namespace: str, other: Pod) -> bool:
        if "namespaceSelector" in peer:
            if not selector_matches(peer["namespaceSelector"], self.namespace_labels[other.namespace]):
                return False
        elif other.namespace != policy_namespace:
            return False
        return selector_matches(peer.get("podSelector"), other.label_map)

    @staticmethod
    def _port_matches(rule: Mapping[str, Any], port: int, protocol: str) -> bool:
        ports = rule.get("ports")
        if not ports:
            return True
        for entry in ports:
            if entry.get("protocol", "TCP") != protocol:
                continue
            if "port" not in entry:
                return True
            if entry["port"] <= port <= entry.get("endPort", entry["port"]):
                return True
        return False

    def _allowed(self, policy_type: str, target: Pod, other: Pod, port: int, protocol: str) -> bool:
        policies = self._selecting(target, policy_type)
        if not policies:
            return True
        direction, peers_key = ("ingress", "from") if policy_type == "Ingress" else ("egress", "to")
        for policy in policies:
            for rule in policy["spec"].get(direction) or []:
                peers = rule.get(peers_key)
                if (
                    not peers or any(self._peer_matches(peer, policy["metadata"]["namespace"], other) for peer in peers)
                ) and self._port_matches(rule, port, protocol):
                    return True
        return False

    def egress_allowed(self, source: Pod, destination: Pod, port: int, protocol: str = "TCP") -> bool:
        return self._allowed("Egress", source, destination, port, protocol)

    def ingress_allowed(self, source: Pod, destination: Pod, port: int, protocol: str = "TCP") -> bool:
        return self._allowed("Ingress", destination, source, port, protocol)

    def reaches(self, source: Pod, destination: Pod, port: int, protocol: str = "TCP") -> bool:
        return self.egress_allowed(source, destination, port, protocol) and self.ingress_allowed(
            source, destination, port, protocol
        )
