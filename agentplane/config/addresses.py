"""Where a configured endpoint may point: the rules that keep the platform's own programs
(the OpenTelemetry collector, the gateway) from being aimed at the node, the cloud's metadata
service or the cluster's internals (server-side request forgery).

URLs are matched against a strict grammar rather than parsed leniently: scheme, host, optional
port and a path of unreserved characters. Nothing else (user-info, query, fragment, percent
escapes, `${...}` or `$VAR`) can pass, so no value reaches another program's expansion syntax
and no credential rides along. Messages never quote a refused URL: it may hold a secret.
"""

from __future__ import annotations

import ipaddress
import re

_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_URL = re.compile(
    r"^(?P<scheme>https?)://(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:(?P<port>[0-9]{1,5}))?(?P<path>(/[A-Za-z0-9._~-]*)*)$"
)
# Names that resolve to the machine itself, to link-local services, or only inside a private
# network (RFC 6761/6762/8375, the cloud metadata names).
_LOCAL_SUFFIXES = (
    ".localhost",
    ".local",
    ".localdomain",
    ".internal",
    ".home.arpa",
    ".arpa",
    ".lan",
    ".intranet",
    ".corp",
    ".private",
)
# Structural checks before the team is known; the team's own namespace is checked later.
ANY_NAMESPACE = "*"
_CLUSTER_SUFFIXES = (".svc", ".svc.cluster.local", ".cluster.local")
# An IPv4 address spelled inside a name (169.254.169.254.nip.io, 10-0-0-1.sslip.io) resolves to it.
_EMBEDDED_IPV4 = re.compile(r"(^|[.-])\d{1,3}[.-]\d{1,3}[.-]\d{1,3}[.-]\d{1,3}($|[.-])")


def ip_problem(host: str, *, private_ok: bool) -> str | None:
    """Why an IP literal may not be an endpoint (None when it may)."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return "is not a valid IP address"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "is a loopback address (the collector's or gateway's own machine)"
    if address.is_link_local:
        return "is a link-local address (169.254.0.0/16 and fe80::/10 hold cloud metadata services)"
    if address.is_unspecified:
        return "is the unspecified address"
    if address.is_multicast:
        return "is a multicast address"
    if not private_ok and not address.is_global:
        return "is a private or reserved address (inside the cluster's or the company's network)"
    if address.is_reserved:
        return "is a reserved address"
    return None


def service_namespace(host: str) -> str | None:
    """The namespace of an in-cluster Service name, `<service>.<namespace>.svc[.cluster.local]`;
    None for any other host (a public name, an IP literal, another in-cluster name form)."""
    if not host.endswith(_CLUSTER_SUFFIXES):
        return None
    labels = host.split(".")
    svc = labels.index("svc") if "svc" in labels else -1
    return labels[1] if svc == 2 else None


def host_problem(host: str, *, own_namespace: str | None = None, private_ok: bool = False) -> str | None:
    """Why `host` may not be an endpoint's host. `own_namespace`: in-cluster names are allowed
    for Services of that namespace only; `private_ok` (operator settings): private addresses and
    any in-cluster name are allowed, loopback, link-local and metadata never."""
    if host.startswith("[") or re.fullmatch(r"[0-9.]+", host) or re.fullmatch(r"0[xX][0-9a-fA-F.xX]+", host):
        if not host.startswith("[") and not re.fullmatch(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}", host):
            return "is a numeric host that is not a dotted IPv4 address (decimal, octal and hex forms are refused)"
        return ip_problem(host, private_ok=private_ok)
    if host != host.lower() or not _HOST_NAME.match(host) or len(host) > 253:
        return "is not a host name (lowercase letters, digits, '-' and '.')"
    if host.endswith(_CLUSTER_SUFFIXES):
        if private_ok:
            return None
        namespace = service_namespace(host)
        if own_namespace is not None and namespace is not None and own_namespace in (ANY_NAMESPACE, namespace):
            return None
        if own_namespace == ANY_NAMESPACE:
            where = "a Service of the team's own namespace, <service>.<team>.svc"
        elif own_namespace:
            where = f"a Service in namespace {own_namespace!r}, <service>.{own_namespace}.svc"
        else:
            where = "no in-cluster name"
        return f"is an in-cluster name outside the team's own namespace (allowed: {where})"
    if host == "localhost" or host.endswith(_LOCAL_SUFFIXES) or host in ("metadata", "metadata.google.internal"):
        return "resolves to the local machine, a metadata service or a private network only"
    if _EMBEDDED_IPV4.search(host):
        return "spells an IP address inside a name (wildcard DNS such as nip.io resolves it to that address)"
    if "." not in host:
        if private_ok:
            return None
        return (
            "is a single-label name, which the cluster's DNS search path resolves to in-cluster Services; use a "
            "fully qualified name"
        )
    if host.rsplit(".", 1)[1].isdigit():
        return "ends in a numeric label; no public name does"
    return None


def url_problem(url: object, *, own_namespace: str | None = None, private_ok: bool = False) -> str | None:
    """Why `url` is not an acceptable http(s) endpoint (None when it is); never quotes the URL."""
    if not isinstance(url, str):
        return "must be a URL string"
    if len(url) > 512:
        return "is longer than 512 characters"
    if "@" in url:
        return (
            "carries credentials (user-info before '@'); put them in `headers` and keep the values in secret stack "
            "config"
        )
    if "?" in url or "#" in url:
        return "has a query or fragment, which may carry credentials; an endpoint is scheme, host, port and path only"
    if "$" in url or "{" in url or "}" in url or "%" in url:
        return "contains '$', braces or '%': expansion syntax and escapes are never passed to another program"
    match = _URL.match(url)
    if match is None:
        return (
            "is not an endpoint URL: http:// or https://, a host, an optional :port and a path of letters, "
            "digits and ._~- (for example https://otlp.example.com:4318/v1)"
        )
    if match["port"] is not None and not 1 <= int(match["port"]) <= 65535:
        return "has a port outside 1-65535"
    if any(segment in (".", "..") for segment in match["path"].split("/")):
        return "has a '.' or '..' path segment"
    problem = host_problem(match["host"], own_namespace=own_namespace, private_ok=private_ok)
    return f"host {problem}" if problem else None
