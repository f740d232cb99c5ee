"""Build the test oracles (real upstream programs) from Go modules into a version-keyed cache.

    python tests/oracles/build.py [NAME ...]      # build (or reuse) oracles; default: all
    python tests/oracles/build.py --list          # names, versions, cache state

Each oracle is built through a wrapper module of our own, generated here at build time in the
cache directory (never in the work tree): ``require`` of the upstream module, and for every
``replace`` of that module pointing into its own repository (``./staging/src/k8s.io/api``,
``../api``) the same module at its published version. Nothing from upstream is committed; the
only project-written Go is the collector distribution's ``components.go``/``main.go``, also
generated here from the component list below.

Cache: ``$AGENTPLANE_ORACLE_CACHE`` or ``~/.cache/agentplane/oracles``, one directory per
``<name>-<version>`` holding ``bin/`` and ``build.json`` (written last: its presence means the
build is complete and is reused). Parallelism: ``AGENTPLANE_ORACLE_GO_P`` (default 2) is passed
as ``go build -p``; builds run one after another so memory stays within a 2-core machine's.
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

GO_MISSING = (
    "the oracle suite needs the Go toolchain (go >= 1.26) on PATH to build the real kube-apiserver, "
    "etcd, OpenTelemetry collector and Kyverno CLI from Go modules: install Go 1.26 or newer "
    "(the go.dev/dl tarball, with its bin/ on PATH) and re-run; the builds fetch modules through "
    "the Go module proxy only"
)

KUBERNETES_VERSION = "v1.35.4"
ETCD_VERSION = "v3.6.16"
KYVERNO_VERSION = "v1.19.0"
# The OpenTelemetry operator 0.158 deploys collector 0.158.0: the distribution is built at that
# release, except contrib's routingconnector, whose v0.158.0 source the proxy refuses (403; so
# are 0.155, 0.156 and 0.159): it is taken at v0.157.0, the nearest served, and compiled against
# the 0.158.0 core (no release has every component served: at 0.157.0 k8sattributesprocessor is refused).
COLLECTOR_VERSION = "v0.158.0"
COLLECTOR_VERSION_OVERRIDES = {
    "github.com/open-telemetry/opentelemetry-collector-contrib/connector/routingconnector": "v0.157.0",
}
# signaltometricsconnector and extension/storage/filestorage are served at v0.158.0 (not at v0.157.0).

WRAPPER_MODULE = "agentplane.invalid/oracles"


class OracleBuildError(RuntimeError):
    """A build failed; the message says which oracle and step, with the tail of go's output."""


class GoMissing(OracleBuildError):
    pass


def cache_root() -> Path:
    env = os.environ.get("AGENTPLANE_ORACLE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "agentplane" / "oracles"


def go_binary() -> str:
    go = shutil.which("go")
    if go is None:
        raise GoMissing(GO_MISSING)
    return go


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CGO_ENABLED", "0")
    env["GOFLAGS"] = "-mod=mod -buildvcs=false"
    env.setdefault("GOTOOLCHAIN", "local")
    return env


def _run(cmd: list[str], cwd: Path, step: str, log: Path) -> str:
    with log.open("a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.run(cmd, cwd=cwd, env=_go_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out.write(proc.stdout)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-25:])
        raise OracleBuildError(f"{step} failed (exit {proc.returncode}; full log {log}):\n{tail}")
    return proc.stdout


def _module_gomod(module: str, version: str, work: Path, log: Path) -> str:
    """The upstream module's go.mod text, from the module cache (downloaded through the proxy)."""
    out = _run(
        [go_binary(), "mod", "download", "-json", f"{module}@{version}"], work, f"download {module}@{version}", log
    )
    info = json.loads(out[out.index("{") :])
    return Path(info["GoMod"]).read_text(encoding="utf-8")


_REPLACE_LINE = re.compile(r"^\s*(?:replace\s+)?(\S+)(?:\s+v\S+)?\s+=>\s+(\S+)(?:\s+(v\S+))?\s*$")


def _replaces(gomod: str) -> list[tuple[str, str, str | None]]:
    """(module, target, target version) of every replace directive in a go.mod text."""
    found: list[tuple[str, str, str | None]] = []
    in_block = False
    for raw in gomod.splitlines():
        line = raw.split("//", 1)[0].rstrip()
        if line.strip().startswith("replace ("):
            in_block = True
            continue
        if in_block and line.strip() == ")":
            in_block = False
            continue
        if in_block or line.strip().startswith("replace "):
            match = _REPLACE_LINE.match(line)
            if match:
                found.append((match.group(1), match.group(2), match.group(3)))
    return found


def wrapper_gomod(
    module: str,
    version: str,
    upstream_gomod: str,
    sibling_version: Callable[[str], str],
    go_version: str,
    extra_require: tuple[tuple[str, str], ...] = (),
) -> str:
    """go.mod of a wrapper requiring ``module@version`` with the upstream module's replaces resolved.

    Replaces into the upstream repository (relative paths) become requirements of the sibling
    module at its published version; replaces to another module version (forks) are kept;
    replaces to a FORBIDDEN_DEPENDENCY marker are dropped (they only guard against bad imports).
    """
    require = [(module, version), *extra_require]
    replace: list[str] = []
    for name, target, target_version in _replaces(upstream_gomod):
        if target.startswith("."):
            if "FORBIDDEN" in target:
                continue
            replace.append(f"\t{name} => {name} {sibling_version(name)}")
        elif target_version:
            replace.append(f"\t{name} => {target} {target_version}")
        else:
            raise OracleBuildError(f"{module}@{version}: replace {name} => {target} has no version; cannot wrap")
    lines = [f"module {WRAPPER_MODULE}", "", f"go {go_version}", "", "require ("]
    lines += [f"\t{m} {v}" for m, v in require]
    lines += [")", ""]
    if replace:
        lines += ["replace (", *sorted(set(replace)), ")", ""]
    return "\n".join(lines)


def _upstream_go_version(gomod: str) -> str:
    match = re.search(r"^go (\S+)", gomod, re.M)
    return match.group(1) if match else "1.26"


@dataclasses.dataclass(frozen=True)
class Oracle:
    name: str
    version: str
    module: str
    module_version: str
    binaries: dict[str, str]  # binary name -> Go package path
    sibling_version: Callable[[str], str] = lambda _name: ""
    ldflags: str = ""
    tags: str = ""
    extra_files: Callable[[], dict[str, str]] | None = None
    extra_require: tuple[tuple[str, str], ...] = ()
    # False where the upstream module's replaces only point at its monorepo siblings during
    # upstream development and its published requirements are consistent without them.
    wrap_replaces: bool = True

    @property
    def directory(self) -> Path:
        return cache_root() / f"{self.name}-{self.version}"

    def binary(self, name: str) -> Path:
        return self.directory / "bin" / name

    @property
    def built(self) -> bool:
        return (self.directory / "build.json").is_file() and all(self.binary(b).is_file() for b in self.binaries)


def _kubernetes_ldflags(version: str) -> str:
    major, minor = version.lstrip("v").split(".")[:2]
    flags = []
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={version}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
            f"-X {package}.buildDate=1970-01-01T00:00:00Z",
        ]
    return " ".join(["-s", "-w", *flags])


def _staging_version(kubernetes_version: str) -> Callable[[str], str]:
    published = "v0." + kubernetes_version.lstrip("v").split(".", 1)[1]
    return lambda _name: published


# The collector components the generated config uses; tests/oracles/test_collector.py asserts this
# list covers every component of every shipped stack's config, so a new component fails loudly.
CONTRIB = "github.com/open-telemetry/opentelemetry-collector-contrib"
COLLECTOR_COMPONENTS: dict[str, tuple[tuple[str, str], ...]] = {
    "receivers": (
        ("otlpreceiver", "go.opentelemetry.io/collector/receiver/otlpreceiver"),
        ("prometheusreceiver", f"{CONTRIB}/receiver/prometheusreceiver"),
    ),
    "processors": (
        ("memorylimiterprocessor", "go.opentelemetry.io/collector/processor/memorylimiterprocessor"),
        ("groupbyattrsprocessor", f"{CONTRIB}/processor/groupbyattrsprocessor"),
        ("k8sattributesprocessor", f"{CONTRIB}/processor/k8sattributesprocessor"),
        ("resourceprocessor", f"{CONTRIB}/processor/resourceprocessor"),
    ),
    "connectors": (
        ("routingconnector", f"{CONTRIB}/connector/routingconnector"),
        ("signaltometricsconnector", f"{CONTRIB}/connector/signaltometricsconnector"),
    ),
    # otlp (gRPC) besides otlp_http: a team's telemetry backend may speak either protocol.
    # file: only for the routing checks, which rewrite every exporter to a file exporter.
    "exporters": (
        ("otlpexporter", "go.opentelemetry.io/collector/exporter/otlpexporter"),
        ("otlphttpexporter", "go.opentelemetry.io/collector/exporter/otlphttpexporter"),
        ("debugexporter", "go.opentelemetry.io/collector/exporter/debugexporter"),
        ("fileexporter", f"{CONTRIB}/exporter/fileexporter"),
    ),
    "extensions": (
        ("healthcheckextension", f"{CONTRIB}/extension/healthcheckextension"),
        ("bearertokenauthextension", f"{CONTRIB}/extension/bearertokenauthextension"),
        ("filestorage", f"{CONTRIB}/extension/storage/filestorage"),
    ),
}
# Packages that are not their module's root (none at 0.158: filestorage is its own module there).
COLLECTOR_MODULE_OF: dict[str, str] = {}


def _collector_files() -> dict[str, str]:
    imports = []
    factories = {}
    for kind, components in COLLECTOR_COMPONENTS.items():
        factories[kind] = []
        for alias, package in components:
            imports.append(f'\t{alias} "{package}"')
            factories[kind].append(f"{alias}.NewFactory()")
    kind_builder = {
        "receivers": "otelcol.MakeFactoryMap[receiver.Factory]",
        "processors": "otelcol.MakeFactoryMap[processor.Factory]",
        "connectors": "otelcol.MakeFactoryMap[connector.Factory]",
        "exporters": "otelcol.MakeFactoryMap[exporter.Factory]",
        "extensions": "otelcol.MakeFactoryMap[extension.Factory]",
    }
    field = {
        "receivers": "Receivers",
        "processors": "Processors",
        "connectors": "Connectors",
        "exporters": "Exporters",
        "extensions": "Extensions",
    }
    body = []
    for kind in COLLECTOR_COMPONENTS:
        body.append(
            f"\tif factories.{field[kind]}, err = {kind_builder[kind]}({', '.join(factories[kind])}); "
            "err != nil {\n\t\treturn factories, err\n\t}"
        )
    main = (
        "// Generated by tests/oracles/build.py: a collector distribution with exactly the components\n"
        "// the platform's generated collector config uses.\n"
        "package main\n\n"
        'import (\n\t"log"\n\n'
        '\t"go.opentelemetry.io/collector/component"\n'
        '\t"go.opentelemetry.io/collector/confmap"\n'
        '\t"go.opentelemetry.io/collector/confmap/provider/fileprovider"\n'
        '\t"go.opentelemetry.io/collector/connector"\n'
        '\t"go.opentelemetry.io/collector/exporter"\n'
        '\t"go.opentelemetry.io/collector/extension"\n'
        '\t"go.opentelemetry.io/collector/otelcol"\n'
        '\t"go.opentelemetry.io/collector/processor"\n'
        '\t"go.opentelemetry.io/collector/receiver"\n'
        '\t"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"\n' + "\n".join(imports) + "\n)\n\n"
        "func components() (otelcol.Factories, error) {\n\tvar err error\n"
        "\tfactories := otelcol.Factories{Telemetry: otelconftelemetry.NewFactory()}\n"
        + "\n".join(body)
        + "\n\treturn factories, nil\n}\n\n"
        "func main() {\n"
        '\tinfo := component.BuildInfo{Command: "agentplane-otelcol", '
        'Description: "agentplane collector oracle", Version: "' + COLLECTOR_VERSION.lstrip("v") + '"}\n'
        "\tset := otelcol.CollectorSettings{\n\t\tBuildInfo: info,\n\t\tFactories: components,\n"
        "\t\tConfigProviderSettings: otelcol.ConfigProviderSettings{ResolverSettings: confmap.ResolverSettings{\n"
        "\t\t\tProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory()},\n"
        "\t\t\t// Only files are read (the configs reference no ${env:...}); the default scheme must be a provider's.\n"
        '\t\t\tDefaultScheme: "file",\n\t\t}},\n\t}\n'
        "\tif err := otelcol.NewCommand(set).Execute(); err != nil {\n\t\tlog.Fatal(err)\n\t}\n}\n"
    )
    return {"main.go": main}


def _collector_requires() -> tuple[tuple[str, str], ...]:
    modules = {"go.opentelemetry.io/collector/otelcol": COLLECTOR_VERSION}
    for components in COLLECTOR_COMPONENTS.values():
        for _alias, package in components:
            module = COLLECTOR_MODULE_OF.get(package, package)
            modules[module] = COLLECTOR_VERSION_OVERRIDES.get(module, COLLECTOR_VERSION)
    return tuple(sorted(modules.items()))


ORACLES: dict[str, Oracle] = {
    o.name: o
    for o in (
        Oracle(
            name="kubernetes",
            version=KUBERNETES_VERSION,
            module="k8s.io/kubernetes",
            module_version=KUBERNETES_VERSION,
            binaries={
                "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
                "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
            },
            sibling_version=_staging_version(KUBERNETES_VERSION),
            ldflags=_kubernetes_ldflags(KUBERNETES_VERSION),
        ),
        Oracle(
            name="etcd",
            version=ETCD_VERSION,
            module="go.etcd.io/etcd/server/v3",
            module_version=ETCD_VERSION,
            binaries={"etcd": "go.etcd.io/etcd/server/v3"},
            sibling_version=lambda _name: ETCD_VERSION,
            ldflags="-s -w",
        ),
        Oracle(
            name="otelcol",
            version=COLLECTOR_VERSION,
            module="go.opentelemetry.io/collector/otelcol",
            module_version=COLLECTOR_VERSION,
            binaries={"otelcol": WRAPPER_MODULE},
            ldflags="-s -w",
            extra_files=_collector_files,
            wrap_replaces=False,
            extra_require=tuple(r for r in _collector_requires() if r[0] != "go.opentelemetry.io/collector/otelcol"),
        ),
        Oracle(
            name="kyverno",
            version=KYVERNO_VERSION,
            module="github.com/kyverno/kyverno",
            module_version=KYVERNO_VERSION,
            binaries={"kyverno": "github.com/kyverno/kyverno/cmd/cli/kubectl-kyverno"},
            sibling_version=lambda _name: KYVERNO_VERSION,
            ldflags=f"-s -w -X github.com/kyverno/kyverno/pkg/version.BuildVersion={KYVERNO_VERSION}",
        ),
    )
}


def build(oracle: Oracle, *, go_p: int | None = None, log_stream=sys.stderr) -> Path:
    """Build ``oracle`` into its cache directory unless already built; return the directory."""
    if oracle.built:
        return oracle.directory
    go = go_binary()
    directory = oracle.directory
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "build.lock").open("w") as lock:
        # One build per oracle at a time (parallel test runs, CI and a developer's shell).
        fcntl.flock(lock, fcntl.LOCK_EX)
        if oracle.built:
            return directory
        return _build_locked(oracle, go, directory, go_p, log_stream)


def _build_locked(oracle: Oracle, go: str, directory: Path, go_p: int | None, log_stream) -> Path:
    wrapper = directory / "wrapper"
    if wrapper.exists():
        shutil.rmtree(wrapper)
    wrapper.mkdir(parents=True)
    (directory / "bin").mkdir(exist_ok=True)
    log = directory / "build.log"
    log.write_text("", encoding="utf-8")
    p = str(go_p or int(os.environ.get("AGENTPLANE_ORACLE_GO_P", "2")))
    started = time.monotonic()
    print(f"[oracles] building {oracle.name} {oracle.version} in {directory} (log {log})", file=log_stream, flush=True)
    upstream = _module_gomod(oracle.module, oracle.module_version, wrapper, log)
    (wrapper / "go.mod").write_text(
        wrapper_gomod(
            oracle.module,
            oracle.module_version,
            upstream if oracle.wrap_replaces else "",
            oracle.sibling_version,
            _upstream_go_version(upstream),
            oracle.extra_require,
        ),
        encoding="utf-8",
    )
    for name, text in (oracle.extra_files() if oracle.extra_files else {}).items():
        (wrapper / name).write_text(text, encoding="utf-8")
    # An explicit @version: a bare `go get PKG` would upgrade the module to its newest release.
    # (`go get`, not `go mod tidy`: tidy also resolves the tests of every dependency, and the
    # proxy refuses some modules only tests need.)
    wanted = [f"{pkg}@{oracle.module_version}" for pkg in oracle.binaries.values() if pkg != WRAPPER_MODULE]
    wanted += [f"{module}@{version}" for module, version in oracle.extra_require]
    _run([go, "get", *wanted], wrapper, f"{oracle.name}: go get", log)
    for binary, package in oracle.binaries.items():
        cmd = [go, "build", "-p", p, "-trimpath", "-o", str(directory / "bin" / binary)]
        if oracle.ldflags:
            cmd += ["-ldflags", oracle.ldflags]
        if oracle.tags:
            cmd += ["-tags", oracle.tags]
        cmd.append("." if package == WRAPPER_MODULE else package)
        _run(cmd, wrapper, f"{oracle.name}: go build {binary}", log)
    seconds = round(time.monotonic() - started, 1)
    (directory / "build.json").write_text(
        json.dumps(
            {
                "name": oracle.name,
                "version": oracle.version,
                "module": f"{oracle.module}@{oracle.module_version}",
                "binaries": sorted(oracle.binaries),
                "seconds": seconds,
                "go_p": int(p),
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"[oracles] built {oracle.name} {oracle.version} in {seconds} s", file=log_stream, flush=True)
    return directory


def build_info(oracle: Oracle) -> dict:
    path = oracle.directory / "build.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"oracles to build (default: all): {', '.join(ORACLES)}")
    parser.add_argument("--list", action="store_true", help="list oracles, versions and cache state")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in ORACLES]
    if unknown:
        print(f"error: unknown oracle(s) {', '.join(unknown)}; known: {', '.join(ORACLES)}", file=sys.stderr)
        return 2
    selected = [ORACLES[n] for n in (args.names or ORACLES)]
    if args.list:
        for oracle in selected:
            state = f"built in {build_info(oracle).get('seconds')} s" if oracle.built else "not built"
            print(f"{oracle.name}\t{oracle.version}\t{oracle.directory}\t{state}")
        return 0
    try:
        for oracle in selected:
            build(oracle)
    except OracleBuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
