"""The oracle build script (tests/oracles/build.py), without building anything: wrapper modules,
version flags, cache keys, and what a machine without Go is told."""

from __future__ import annotations

import pytest

from tests.oracles import build

UPSTREAM_GOMOD = """module k8s.io/kubernetes

go 1.25.0

require (
	k8s.io/api v0.0.0
	github.com/foo/bar v1.2.3
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/apimachinery => ./staging/src/k8s.io/apimachinery // a comment
)

replace k8s.io/pod-security-admission => github.com/kyverno/pod-security-admission v0.0.0-20251031094455-46f20778634f

replace go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY
"""


def test_wrapper_resolves_in_repository_replaces_to_published_siblings_and_keeps_forks() -> None:
    text = build.wrapper_gomod(
        "k8s.io/kubernetes", "v1.35.4", UPSTREAM_GOMOD, build._staging_version("v1.35.4"), "1.25.0"
    )
    lines = {line.strip() for line in text.splitlines()}
    assert "k8s.io/kubernetes v1.35.4" in lines
    assert "k8s.io/api => k8s.io/api v0.35.4" in lines
    assert "k8s.io/apimachinery => k8s.io/apimachinery v0.35.4" in lines
    assert (
        "k8s.io/pod-security-admission => github.com/kyverno/pod-security-admission v0.0.0-20251031094455-46f20778634f"
        in lines
    )
    assert "go 1.25.0" in lines
    # No path replace survives (a wrapper has no upstream tree beside it), and the guard is dropped.
    assert "./" not in text and "FORBIDDEN" not in text


def test_wrapper_refuses_a_replace_it_cannot_resolve() -> None:
    with pytest.raises(build.OracleBuildError, match="has no version"):
        build.wrapper_gomod("m", "v1.0.0", "replace a/b => c/d\n", lambda _n: "v1", "1.26")


def test_kubernetes_binaries_report_their_real_version() -> None:
    flags = build.ORACLES["kubernetes"].ldflags
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {package}.gitVersion={build.KUBERNETES_VERSION}" in flags
        assert f"-X {package}.gitMajor=1" in flags
        assert f"-X {package}.gitMinor={build.KUBERNETES_VERSION.split('.')[1]}" in flags


def test_cache_is_keyed_by_name_and_version_outside_the_work_tree(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AGENTPLANE_ORACLE_CACHE", str(tmp_path))
    oracle = build.ORACLES["etcd"]
    assert oracle.directory == tmp_path / f"etcd-{build.ETCD_VERSION}"
    assert not oracle.built
    (oracle.directory / "bin").mkdir(parents=True)
    (oracle.binary("etcd")).write_text("")
    assert not oracle.built, "a build without build.json is unfinished and must not be reused"
    (oracle.directory / "build.json").write_text("{}")
    assert oracle.built
    monkeypatch.delenv("AGENTPLANE_ORACLE_CACHE")
    assert ".cache/agentplane/oracles" in str(build.cache_root())


def test_without_go_the_build_says_how_to_get_it(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("AGENTPLANE_ORACLE_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(build.GoMissing, match="Go toolchain"):
        build.build(build.ORACLES["etcd"])
    assert build.main(["etcd"]) == 1
    err = capsys.readouterr().err
    assert "go >= 1.26" in err and "Traceback" not in err


def test_unknown_oracle_name_is_refused_with_the_known_names(capsys) -> None:
    assert build.main(["kubectl"]) == 2
    err = capsys.readouterr().err
    assert "unknown oracle(s) kubectl" in err and "kubernetes" in err


def test_oracle_fixture_skips_without_go_and_fails_when_required(tmp_path, monkeypatch) -> None:
    from tests.oracles import harness as conftest

    monkeypatch.setenv("AGENTPLANE_ORACLE_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(conftest.REQUIRED_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="install Go"):
        conftest.built("etcd")
    monkeypatch.setenv(conftest.REQUIRED_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="missing Go is a broken run"):
        conftest.built("etcd")


def test_collector_distribution_is_generated_from_the_component_list() -> None:
    main_go = build._collector_files()["main.go"]
    for kind, components in build.COLLECTOR_COMPONENTS.items():
        assert components, kind
        for alias, package in components:
            assert f'{alias} "{package}"' in main_go and f"{alias}.NewFactory()" in main_go
    requires = dict(build._collector_requires())
    assert requires["go.opentelemetry.io/collector/otelcol"] == build.COLLECTOR_VERSION
