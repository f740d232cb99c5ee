"""A real kube-apiserver (+ etcd, + kube-controller-manager) on loopback, and a small client for it.

Started envtest-style: generated CA, serving and admin client certificates (openssl), generated
service-account keys, ``--authorization-mode=RBAC``. kube-controller-manager runs only the
controllers the checks need: ``clusterrole-aggregation`` (fills the aggregated ``admin``/``edit``/
``view`` ClusterRoles), ``namespace`` (deletes a namespace's content) and ``serviceaccount``
(each namespace's ``default`` ServiceAccount, which pod admission requires).
The client speaks plain HTTPS with the standard library (no kubectl, no client package).
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {proc.stderr.strip()[-400:]}")


def make_pki(directory: Path) -> dict[str, Path]:
    """CA, API server serving cert (127.0.0.1), admin client cert (system:masters), SA key pair."""
    directory.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=oracle-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        cwd=directory,
    )
    (directory / "serving.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n",
        encoding="utf-8",
    )
    (directory / "client.ext").write_text("extendedKeyUsage=clientAuth\n", encoding="utf-8")
    for name, subject, ext in (
        ("serving", "/CN=kube-apiserver", "serving.ext"),
        ("admin", "/O=system:masters/CN=oracle-admin", "client.ext"),
    ):
        _openssl(
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            subject,
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            cwd=directory,
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            ext,
            "-out",
            f"{name}.crt",
            cwd=directory,
        )
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "sa.key", cwd=directory)
    _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=directory)
    return {
        n: directory / n for n in ("ca.crt", "serving.crt", "serving.key", "admin.crt", "admin.key", "sa.key", "sa.pub")
    }


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any] | str, what: str):
        self.status = status
        self.body = body
        message = body.get("message", "") if isinstance(body, dict) else str(body)
        super().__init__(f"{what}: HTTP {status}: {message}")

    @property
    def message(self) -> str:
        return self.body.get("message", "") if isinstance(self.body, dict) else str(self.body)


@dataclass
class Client:
    server: str
    context: ssl.SSLContext
    impersonate_user: str | None = None
    impersonate_groups: tuple[str, ...] = ()
    kubeconfig: Path | None = None
    _resources: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_user(self, user: str, groups: tuple[str, ...] = ()) -> Client:
        return Client(self.server, self.context, user, groups, self.kubeconfig, self._resources)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        query: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        target = path + ("?" + urllib.parse.urlencode(query) if query else "")
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        parsed_server = urllib.parse.urlsplit(self.server)
        connection = http.client.HTTPSConnection(
            parsed_server.hostname, parsed_server.port, context=self.context, timeout=60
        )
        try:
            # http.client, not urllib: impersonating several groups takes one Impersonate-Group
            # header per group, and urllib keeps only the last header of a name.
            connection.putrequest(method, target)
            connection.putheader("Accept", "application/json")
            if data is not None:
                connection.putheader("Content-Type", content_type)
                connection.putheader("Content-Length", str(len(data)))
            if self.impersonate_user:
                connection.putheader("Impersonate-User", self.impersonate_user)
                for group in self.impersonate_groups:
                    connection.putheader("Impersonate-Group", group)
            connection.endheaders(data)
            response = connection.getresponse()
            text = response.read().decode()
            status = response.status
        finally:
            connection.close()
        if status >= 400:
            try:
                parsed: dict[str, Any] | str = json.loads(text)
            except ValueError:
                parsed = text
            raise ApiError(status, parsed, f"{method} {path}")
        if not text:
            return {}
        try:
            return json.loads(text)
        except ValueError:  # /readyz and friends answer in plain text
            return {"text": text}

    # --- discovery: kind -> REST path -------------------------------------------------------
    def resource_for(self, api_version: str, kind: str) -> dict[str, Any]:
        key = f"{api_version}/{kind}"
        if key not in self._resources:
            base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            for resource in self.request("GET", base)["resources"]:
                if "/" not in resource["name"]:
                    self._resources[f"{api_version}/{resource['kind']}"] = resource
        if key not in self._resources:
            raise KeyError(f"the API server serves no kind {kind} in {api_version}")
        return self._resources[key]

    def path_for(self, obj: dict[str, Any], *, named: bool = True) -> str:
        api_version, kind = obj["apiVersion"], obj["kind"]
        resource = self.resource_for(api_version, kind)
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        namespace = obj["metadata"].get("namespace")
        if resource["namespaced"]:
            if not namespace:
                raise ValueError(f"{kind} {obj['metadata']['name']} is namespaced but has no namespace")
            base += f"/namespaces/{namespace}"
        path = f"{base}/{resource['name']}"
        return f"{path}/{obj['metadata']['name']}" if named else path

    def apply(self, obj: dict[str, Any], *, dry_run: bool = False, manager: str = "agentplane") -> dict[str, Any]:
        """Server-side apply (force), as Pulumi's kubernetes provider does with SSA enabled."""
        query = {"fieldManager": manager, "force": "true", "fieldValidation": "Strict"}
        if dry_run:
            query["dryRun"] = "All"
        return self.request(
            "PATCH", self.path_for(obj), json.dumps(obj).encode(), "application/apply-patch+yaml", query
        )

    def delete(self, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        return self.request("DELETE", self.path_for(obj), None, query={"dryRun": "All"} if dry_run else None)

    def get(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self.request("GET", self.path_for(obj))

    def can(
        self,
        user: str,
        groups: tuple[str, ...],
        verb: str,
        *,
        group: str = "",
        resource: str,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
    ) -> bool:
        """A SubjectAccessReview: may ``user`` (in ``groups``) do ``verb`` on the resource?"""
        attributes: dict[str, Any] = {"verb": verb, "group": group, "resource": resource}
        if namespace:
            attributes["namespace"] = namespace
        if name:
            attributes["name"] = name
        if subresource:
            attributes["subresource"] = subresource
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {"user": user, "groups": list(groups), "resourceAttributes": attributes},
        }
        return bool(
            self.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)["status"].get("allowed")
        )


def _wait(check, what: str, process: subprocess.Popen | None, log: Path, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}; log tail:\n{log.read_text()[-3000:]}")
        try:
            if check():
                return
        except Exception as error:  # noqa: BLE001 - polling a server that is still starting
            last = error
        time.sleep(0.5)
    raise RuntimeError(f"{what} not ready after {timeout} s (last error: {last}); log tail:\n{log.read_text()[-3000:]}")


@dataclass
class Cluster:
    client: Client
    processes: list[subprocess.Popen]
    workdir: Path

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def start_cluster(workdir: Path, etcd: Path, apiserver: Path, controller_manager: Path | None) -> Cluster:
    pki = make_pki(workdir / "pki")
    processes: list[subprocess.Popen] = []
    try:
        client_port, peer_port, api_port = free_port(), free_port(), free_port()
        etcd_log = workdir / "etcd.log"
        processes.append(
            subprocess.Popen(
                [
                    str(etcd),
                    "--name=oracle",
                    f"--data-dir={workdir / 'etcd'}",
                    f"--listen-client-urls=http://127.0.0.1:{client_port}",
                    f"--advertise-client-urls=http://127.0.0.1:{client_port}",
                    f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                    f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                    f"--initial-cluster=oracle=http://127.0.0.1:{peer_port}",
                    "--unsafe-no-fsync",
                    "--log-level=warn",
                ],
                stdout=etcd_log.open("w"),
                stderr=subprocess.STDOUT,
            )
        )

        def etcd_healthy() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{client_port}/health", timeout=5) as response:
                return json.loads(response.read()).get("health") == "true"

        _wait(etcd_healthy, "etcd", processes[0], etcd_log)

        api_log = workdir / "kube-apiserver.log"
        processes.append(
            subprocess.Popen(
                [
                    str(apiserver),
                    f"--etcd-servers=http://127.0.0.1:{client_port}",
                    "--bind-address=127.0.0.1",
                    "--advertise-address=127.0.0.1",
                    f"--secure-port={api_port}",
                    f"--tls-cert-file={pki['serving.crt']}",
                    f"--tls-private-key-file={pki['serving.key']}",
                    f"--client-ca-file={pki['ca.crt']}",
                    "--authorization-mode=RBAC",
                    f"--service-account-key-file={pki['sa.pub']}",
                    f"--service-account-signing-key-file={pki['sa.key']}",
                    "--service-account-issuer=https://kubernetes.default.svc",
                    "--service-cluster-ip-range=10.0.0.0/24",
                    "--allow-privileged=true",
                    f"--cert-dir={workdir / 'cert-dir'}",
                    "--v=1",
                    # The kubernetes Service's endpoint would be 127.0.0.1, which Endpoints refuse (as envtest does).
                    "--endpoint-reconciler-type=none",
                ],
                stdout=api_log.open("w"),
                stderr=subprocess.STDOUT,
            )
        )
        context = ssl.create_default_context(cafile=str(pki["ca.crt"]))
        context.load_cert_chain(str(pki["admin.crt"]), str(pki["admin.key"]))
        client = Client(f"https://127.0.0.1:{api_port}", context)
        kubeconfig = workdir / "admin.kubeconfig"
        kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "oracle",
                    "clusters": [
                        {
                            "name": "oracle",
                            "cluster": {"server": client.server, "certificate-authority": str(pki["ca.crt"])},
                        }
                    ],
                    "users": [
                        {
                            "name": "admin",
                            "user": {"client-certificate": str(pki["admin.crt"]), "client-key": str(pki["admin.key"])},
                        }
                    ],
                    "contexts": [{"name": "oracle", "context": {"cluster": "oracle", "user": "admin"}}],
                }
            ),
            encoding="utf-8",
        )
        client.kubeconfig = kubeconfig

        def api_ready() -> bool:
            return client.request("GET", "/readyz").get("text", "").strip() == "ok"

        _wait(api_ready, "kube-apiserver", processes[1], api_log)

        if controller_manager is not None:
            kcm_log = workdir / "kube-controller-manager.log"
            processes.append(
                subprocess.Popen(
                    [
                        str(controller_manager),
                        f"--kubeconfig={kubeconfig}",
                        "--leader-elect=false",
                        "--controllers=clusterrole-aggregation,namespace,serviceaccount",
                        "--secure-port=0",
                        "--v=1",
                    ],
                    stdout=kcm_log.open("w"),
                    stderr=subprocess.STDOUT,
                )
            )

            def edit_aggregated() -> bool:
                edit = client.request("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/edit")
                return bool(edit.get("rules"))

            _wait(edit_aggregated, "kube-controller-manager (clusterrole-aggregation)", processes[2], kcm_log)
    except BaseException:
        Cluster(None, processes, workdir).stop()  # type: ignore[arg-type]
        raise
    return Cluster(client, processes, workdir)
