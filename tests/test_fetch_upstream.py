"""tests/support/fetch_upstream.py and its manifest, offline (nothing here touches the network).

The manifest must name a pinned source for exactly the files the schema tests read, and the
script's pure parts (template stripping, document selection, path mapping, verification) must
turn upstream files into that layout. Where the workplace's ../shared/upstream exists, it is
used as ground truth: serving its files as if they were the upstream ones must reproduce it
byte for byte.
"""

from __future__ import annotations

import io
import re
import urllib.error
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from tests.support import fetch_upstream as fu
from tests.support.upstream import UpstreamDataMissing, upstream_dir

ROOT = Path(__file__).resolve().parents[1]
# Files of the shared data directory that describe it rather than being schema data.
NOT_DATA = {"README.md", "SOURCES.tsv"}
# A chart-releaser tag: <chart>-<version> (CloudNativePG: <chart>-v<version>).
RELEASE_TAG = re.compile(r"^(?P<chart>[a-z][a-z0-9-]*?)-v?(?P<version>\d+\.\d+\.\d+)$")


def shared_upstream() -> Path:
    try:
        return upstream_dir()
    except UpstreamDataMissing as error:
        pytest.skip(
            f"no upstream data directory to compare with ({error}); "
            "run tests/support/fetch_upstream.py and set AGENTPLANE_UPSTREAM"
        )


def data_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name not in NOT_DATA}


def crd_text(name: str, group: str = "example.io") -> str:
    plural = name.split(".", 1)[0]
    return (
        f"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n"
        f"  name: {name}\nspec:\n  group: {group}\n  names:\n    plural: {plural}\n"
    )


# --------------------------------------------------------------------------- the manifest


def test_manifest_parses_and_pins_every_file_to_a_tag():
    sources = fu.load_manifest()
    assert len(sources) == len({s.file for s in sources}) > 0
    for source in sources:
        assert source.ref.lower() not in {"head", "main", "master"}, source
        assert source.url == f"https://raw.githubusercontent.com/{source.repository}/{source.ref}/{source.path}"


def test_manifest_covers_exactly_the_files_of_the_upstream_directory():
    root = shared_upstream()
    listed = {s.file for s in fu.load_manifest()}
    present = data_files(root)
    assert sorted(present - listed) == [], "files with no source in tests/support/upstream-sources.tsv"
    assert sorted(listed - present) == [], "manifest rows for files the upstream directory lacks"


def test_manifest_agrees_with_the_shared_sources_list():
    """Same repository and path as SOURCES.tsv; its pinned tags kept, its @HEAD rows pinned."""
    sources_tsv = shared_upstream() / "SOURCES.tsv"
    if not sources_tsv.is_file():
        pytest.skip(f"{sources_tsv} is absent (only the workplace's copy has it)")
    shared = {}
    for line in sources_tsv.read_text().splitlines()[1:]:
        file, where = line.split("\t")
        repository, _, rest = where.partition("@")
        ref, _, path = rest.partition(":")
        shared[file] = (repository, ref, path)
    for source in fu.load_manifest():
        repository, ref, path = shared[source.file]
        assert (source.repository, source.path) == (repository, path), source.file
        if ref != "HEAD":
            assert source.ref == ref, source.file


def test_chart_release_tags_match_the_chart_version_each_directory_names():
    """chart-releaser tags (<chart>-<version>, CloudNativePG <chart>-v<version>) must carry the
    version of the charts/<chart>-<version> directory they fill; a bump of one without the
    other is caught here."""
    checked = 0
    for source in fu.load_manifest():
        tag = RELEASE_TAG.match(source.ref)
        if not tag or not source.file.startswith("charts/"):
            continue
        label = source.file.split("/")[1].removesuffix("-subcharts")
        assert label == f"{tag['chart']}-{tag['version']}", (source.file, source.ref)
        checked += 1
    assert checked >= 20  # cloudnative-pg, keycloakx, both OpenTelemetry charts, spire + subcharts


def test_each_chart_release_tag_is_the_version_its_chart_yaml_declares():
    """The shared copy was taken at these tags: each tagged chart's Chart.yaml has its version."""
    root = shared_upstream()
    checked = 0
    for source in fu.load_manifest():
        tag = RELEASE_TAG.match(source.ref)
        if tag and source.file.endswith("/Chart.yaml") and "-subcharts/" not in source.file:
            chart = yaml.safe_load((root / source.file).read_text())
            assert (chart["name"], str(chart["version"])) == (tag["chart"], tag["version"]), source.file
            checked += 1
    assert checked == 5  # cloudnative-pg, keycloakx, opentelemetry-collector, opentelemetry-operator, spire


def test_multi_document_sources_select_the_crd_their_file_names():
    by_url = defaultdict(list)
    for source in fu.load_manifest():
        by_url[source.url].append(source)
    shared_urls = {url: group for url, group in by_url.items() if len(group) > 1}
    assert shared_urls, "CloudNativePG ships its CRDs in one file"
    for group in shared_urls.values():
        assert all(s.selector == Path(s.file).stem for s in group), group


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("crds/a.io/xs.a.io.yaml\to/r\tHEAD\tx.yaml\t", "is a branch"),
        ("crds/a.io/xs.a.io.yaml\to/r\tmain\tx.yaml\t", "is a branch"),
        ("../escape.yaml\to/r\tv1.0.0\tx.yaml\t", "normalised relative path"),
        ("charts/c-1.0.0/values.yaml\to/r\tv1.0.0\t/abs.yaml\t", "normalised relative path"),
        ("charts/c-1.0.0/values.yaml\tnot-a-repo\tv1.0.0\tx.yaml\t", "<owner>/<name>"),
        ("charts/c-1.0.0/values.yaml\to/r\tv1.0.0\tx.yaml\tsomething", "only CRD files are split"),
        ("crds/a.io/xs.a.io.yaml\to/r\tv1.0.0\tcrds.yaml\tys.a.io", "must be the CRD name 'xs.a.io'"),
        ("crds/xs.yaml\to/r\tv1.0.0\tx.yaml\t", "crds/<group>/<plural>.<group>.yaml"),
        ("charts/c-1.0.0/values.yaml\to/r\tv1.0.0", "expected 5 tab-separated columns"),
    ],
)
def test_manifest_errors_name_the_line_and_the_problem(row, problem):
    text = "# comment\n" + "\t".join(fu.MANIFEST_COLUMNS) + "\n" + row + "\n"
    with pytest.raises(fu.ManifestError, match=re.escape(problem)) as raised:
        fu.parse_manifest(text)
    assert "line 3:" in str(raised.value)


def test_manifest_reports_every_problem_at_once_and_needs_its_header():
    header = "\t".join(fu.MANIFEST_COLUMNS)
    row = "charts/c-1.0.0/values.yaml\to/r\tv1.0.0\tcharts/c/values.yaml"
    with pytest.raises(fu.ManifestError) as raised:
        fu.parse_manifest(f"{header}\n{row}\n{row}\ncharts/d/values.yaml\to/r\tHEAD\tv.yaml\n")
    message = str(raised.value)
    assert "line 3: file 'charts/c-1.0.0/values.yaml' is listed twice (first on line 2)" in message
    assert "line 4: ref 'HEAD' is a branch" in message
    with pytest.raises(fu.ManifestError, match="header must be"):
        fu.parse_manifest(row + "\n")
    assert fu.parse_manifest(f"{header}\n{row}\n") == [
        fu.Source("charts/c-1.0.0/values.yaml", "o/r", "v1.0.0", "charts/c/values.yaml", None)
    ]


# --------------------------------------------------------------------------- pure transformations


def test_strip_template_lines_removes_only_template_only_lines():
    text = (
        "{{- if .Values.crds.create }}\n"
        "metadata:\n"
        "  annotations:\n"
        "    {{- if .Values.crds.keep }}\n"
        "    helm.sh/resource-policy: keep\n"
        "    {{- end }}\n"
        "  description: values look like {{ .Values.x }} here\n"
        "{{ end }}"
    )
    assert fu.strip_template_lines(text) == (
        "metadata:\n  annotations:\n    helm.sh/resource-policy: keep\n"
        "  description: values look like {{ .Values.x }} here\n"
    )


def test_split_documents_drops_empty_and_comment_only_documents():
    text = "---\n# a licence header\n---\na: 1\n\n--- # second\nb: 2\n---\n\n"
    assert fu.split_documents(text) == ["a: 1\n", "b: 2\n"]
    assert fu.split_documents("a: |\n  ---not a separator\n") == ["a: |\n  ---not a separator\n"]


def test_select_document_picks_by_metadata_name_and_explains_a_miss():
    bundle = "---\n" + crd_text("xs.example.io") + "---\n" + crd_text("ys.example.io")
    assert fu.select_document(bundle, "ys.example.io") == crd_text("ys.example.io")
    with pytest.raises(
        ValueError, match=r"no document named 'zs.example.io'; the file holds: xs.example.io, ys.example.io"
    ):
        fu.select_document(bundle, "zs.example.io")
    with pytest.raises(ValueError, match="2 documents named"):
        fu.select_document(bundle + "---\n" + crd_text("ys.example.io"), "ys.example.io")


def test_transform_strips_and_selects_crds_and_passes_chart_files_through():
    bundle = (
        "{{- if .Values.crds.create }}\n---\n"
        + crd_text("xs.example.io")
        + "---\n"
        + crd_text("ys.example.io")
        + "{{- end }}\n"
    )
    crd = fu.Source("crds/example.io/ys.example.io.yaml", "o/r", "v1", "crds.yaml", "ys.example.io")
    assert fu.transform(crd, bundle.encode()) == crd_text("ys.example.io").encode()
    single = fu.Source("crds/example.io/xs.example.io.yaml", "o/r", "v1", "x.yaml")
    assert fu.transform(single, b"---\n" + crd_text("xs.example.io").encode()) == crd_text("xs.example.io").encode()
    with pytest.raises(ValueError, match="found 2; add a selector"):
        fu.transform(single, bundle.encode())
    chart = fu.Source("charts/c-1.0.0/values.yaml", "o/r", "v1", "values.yaml")
    raw = b"# {{ not stripped in values }}\n---\nkey: value\n"
    assert fu.transform(chart, raw) == raw


def test_verify_checks_parsing_and_that_a_crd_is_the_one_its_path_names():
    crd = fu.Source("crds/example.io/xs.example.io.yaml", "o/r", "v1", "x.yaml")
    fu.verify(crd, crd_text("xs.example.io").encode())
    with pytest.raises(ValueError, match="holds CRD 'ys.example.io'"):
        fu.verify(crd, crd_text("ys.example.io").encode())
    with pytest.raises(ValueError, match="of group 'other.io'"):
        fu.verify(crd, crd_text("xs.example.io", group="other.io").encode())
    with pytest.raises(ValueError, match="not a CustomResourceDefinition"):
        fu.verify(crd, b"kind: ConfigMap\nmetadata: {name: xs.example.io}\n")
    with pytest.raises(yaml.YAMLError):
        fu.verify(fu.Source("charts/c-1/values.yaml", "o/r", "v1", "v.yaml"), b"a: [1\n")
    with pytest.raises(ValueError):
        fu.verify(fu.Source("charts/c-1/values.schema.json", "o/r", "v1", "s.json"), b"{not json")
    with pytest.raises(ValueError, match="empty YAML"):
        fu.verify(fu.Source("charts/c-1/values.yaml", "o/r", "v1", "v.yaml"), b"# only a comment\n")


def test_destination_mirrors_the_manifest_path(tmp_path):
    source = fu.Source("charts/spire-0.30.0-subcharts/spire-agent-0.30.0/values.yaml", "o/r", "v1", "p")
    assert (
        fu.destination(tmp_path, source)
        == tmp_path / "charts" / "spire-0.30.0-subcharts" / "spire-agent-0.30.0" / "values.yaml"
    )


# --------------------------------------------------------------------------- download and writing


class FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def scripted_opener(outcomes):
    calls = []

    def opener(request, timeout):
        calls.append((request.full_url, timeout, request.get_header("User-agent")))
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return FakeResponse(outcome)

    return opener, calls


def http_error(code):
    return urllib.error.HTTPError("https://x", code, "status", {}, None)


def test_download_retries_transient_failures_with_backoff():
    opener, calls = scripted_opener([http_error(503), urllib.error.URLError("reset"), b"data"])
    sleeps = []
    assert fu.download("https://x/a", timeout=7, retries=2, opener=opener, sleep=sleeps.append) == b"data"
    assert len(calls) == 3 and all(c[1] == 7 and c[2] == fu.USER_AGENT for c in calls)
    assert sleeps == [2.0, 4.0]


def test_download_does_not_retry_a_missing_file_and_gives_up_after_the_retries():
    opener, calls = scripted_opener([http_error(404)])
    with pytest.raises(fu.FetchError, match="HTTP 404 status after 1 attempt"):
        fu.download("https://x/a", opener=opener, sleep=lambda _: None)
    assert len(calls) == 1
    opener, calls = scripted_opener([TimeoutError("timed out")] * 3)
    with pytest.raises(fu.FetchError, match="timed out after 3 attempt"):
        fu.download("https://x/a", retries=2, opener=opener, sleep=lambda _: None)


def test_fetch_all_names_each_failing_file_and_writes_the_others(tmp_path):
    good = fu.Source("crds/example.io/xs.example.io.yaml", "o/r", "v1", "bundle.yaml", "xs.example.io")
    missing = fu.Source("crds/example.io/zs.example.io.yaml", "o/r", "v1", "bundle.yaml", "zs.example.io")
    gone = fu.Source("charts/c-1.0.0/values.yaml", "o/r", "v1", "gone.yaml")
    fetched = []

    def fetch(url):
        fetched.append(url)
        if url.endswith("gone.yaml"):
            raise fu.FetchError("HTTP 404 Not Found after 1 attempt(s)")
        return ("{{- if .Values.crds.create }}\n" + crd_text("xs.example.io") + "{{- end }}\n").encode()

    errors = fu.fetch_all([good, missing, gone], tmp_path, fetch=fetch)
    assert fetched == [good.url, gone.url], "a file shared by several rows is downloaded once"
    assert errors == [
        f"crds/example.io/zs.example.io.yaml (from {missing.url}): no document named 'zs.example.io'; "
        "the file holds: xs.example.io",
        f"charts/c-1.0.0/values.yaml (from {gone.url}): HTTP 404 Not Found after 1 attempt(s)",
    ]
    assert data_files(tmp_path) == {good.file}
    assert (tmp_path / good.file).read_text() == crd_text("xs.example.io")


def test_an_unreachable_host_stops_the_fetch_instead_of_retrying_every_file(tmp_path):
    """Offline, every file would wait out the same retries (minutes each): the first one stops it."""
    sources = [fu.Source(f"charts/c-1.0.0/f{i}.yaml", "o/r", "v1", f"f{i}.yaml") for i in range(3)]
    fetched = []

    def fetch(url):
        fetched.append(url)
        raise fu.Unreachable("[Errno -2] Name or service not known after 5 attempt(s)")

    errors = fu.fetch_all(sources, tmp_path, fetch=fetch)
    assert fetched == [sources[0].url]
    assert errors == [
        f"charts/c-1.0.0/f0.yaml (from {sources[0].url}): [Errno -2] Name or service not known after 5 attempt(s); "
        "2 more file(s) not tried"
    ]


def test_a_network_failure_after_the_retries_is_unreachable_and_an_http_error_is_not():
    def no_name(request, timeout):
        raise urllib.error.URLError("Name or service not known")

    with pytest.raises(fu.Unreachable):
        fu.download("https://x/a", retries=1, opener=no_name, sleep=lambda _: None)

    def not_found(request, timeout):
        raise urllib.error.HTTPError("https://x/a", 404, "Not Found", {}, None)

    with pytest.raises(fu.FetchError) as excinfo:
        fu.download("https://x/a", opener=not_found, sleep=lambda _: None)
    assert not isinstance(excinfo.value, fu.Unreachable)


def test_main_reports_failures_and_exits_nonzero(tmp_path, monkeypatch, capsys):
    manifest = tmp_path / "sources.tsv"
    manifest.write_text(
        "\t".join(fu.MANIFEST_COLUMNS) + "\ncharts/c-1.0.0/values.yaml\to/r\tv1.0.0\tcharts/c/values.yaml\n"
    )

    def offline(url, **_):
        raise fu.FetchError("network unreachable after 5 attempt(s)")

    monkeypatch.setattr(fu, "download", offline)
    assert fu.main([str(tmp_path / "out"), "--manifest", str(manifest)]) == 1
    err = capsys.readouterr().err
    assert "charts/c-1.0.0/values.yaml (from https://raw.githubusercontent.com/o/r/v1.0.0/charts/c/values.yaml)" in err
    manifest.write_text("file\tsource\n")
    assert fu.main([str(tmp_path / "out"), "--manifest", str(manifest)]) == 2
    assert "header must be" in capsys.readouterr().err


def test_serving_the_shared_files_as_upstream_reproduces_the_directory(tmp_path):
    """End to end, offline: each shared file is served as its upstream would be (CRDs wrapped in
    Helm template lines and '---' separators; files sharing a URL bundled into one), and the
    script must write back exactly the shared directory."""
    root = shared_upstream()
    sources = fu.load_manifest()
    by_url = defaultdict(list)
    for source in sources:
        by_url[source.url].append(source)

    def serve(url):
        group = by_url[url]
        if not group[0].is_crd:
            return (root / group[0].file).read_bytes()
        parts = ["{{- if .Values.crds.create }}\n"]
        for source in group:
            parts += ["---\n", (root / source.file).read_text()]
        return "".join(parts + ["{{- end }}\n"]).encode()

    assert fu.fetch_all(sources, tmp_path, fetch=serve) == []
    assert data_files(tmp_path) == data_files(root)
    differing = [f for f in data_files(root) if (tmp_path / f).read_bytes() != (root / f).read_bytes()]
    assert differing == []


# --------------------------------------------------------------------------- GitHub CI


def test_ci_fetches_the_upstream_data_before_running_the_checks():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    steps = workflow["jobs"]["ci"]["steps"]
    runs = [s.get("run", "") for s in steps]
    fetch = next(i for i, run in enumerate(runs) if "tests/support/fetch_upstream.py" in run)
    checks = next(i for i, run in enumerate(runs) if run.strip() == "bash .ci/run")
    assert fetch < checks
    dest = re.search(r'fetch_upstream\.py "\$RUNNER_TEMP/([^"]+)"', runs[fetch]).group(1)
    assert steps[checks]["env"]["AGENTPLANE_UPSTREAM"] == f"${{{{ runner.temp }}}}/{dest}"
    cache = next(s for s in steps[:fetch] if s.get("uses", "").startswith("actions/cache@"))
    assert cache["with"]["path"] == f"${{{{ runner.temp }}}}/{dest}"
    assert "hashFiles('tests/support/upstream-sources.tsv'" in cache["with"]["key"]
    assert steps[fetch]["if"] == f"steps.{cache['id']}.outputs.cache-hit != 'true'"
    # The script runs before the project is installed: its one dependency is pinned as in pyproject.
    pyyaml = re.search(r'"pyyaml==([0-9.]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert f"pyyaml=={pyyaml}" in runs[fetch]


# --------------------------------------------------------------------------- a fresh machine


def _server(root: Path):
    """Serve each shared file as its upstream would (as in the test above)."""
    by_url = defaultdict(list)
    for source in fu.load_manifest():
        by_url[source.url].append(source)
    served = []

    def serve(url):
        served.append(url)
        group = by_url[url]
        if not group[0].is_crd:
            return (root / group[0].file).read_bytes()
        return "".join(
            ["{{- if .Values.crds.create }}\n"]
            + [part for s in group for part in ("---\n", (root / s.file).read_text())]
            + ["{{- end }}\n"]
        ).encode()

    return serve, served


def test_checksums_cover_exactly_the_manifest_and_match_the_shared_data():
    checksums = fu.load_checksums()
    assert set(checksums) == {s.file for s in fu.load_manifest()}
    root = shared_upstream()
    assert fu.complete(root, fu.load_manifest(), checksums)


def test_a_fresh_machine_fetches_once_into_the_cache_then_reuses_it(tmp_path):
    serve, served = _server(shared_upstream())
    fresh_repo = tmp_path / "elsewhere" / "agentplane"  # no ../shared/upstream next to it
    environ = {"HOME": str(tmp_path / "home")}
    logged = []
    where, problem = fu.ensure(environ, fresh_repo, fetch=serve, log=logged.append)
    assert problem == "" and where is not None
    assert where.is_relative_to(tmp_path / "home" / ".cache" / "agentplane" / "upstream")
    assert fu.complete(where, fu.load_manifest(), fu.load_checksums())
    assert served and len(logged) == 1 and "once; cached" in logged[0]
    served.clear()
    again, _ = fu.ensure(environ, fresh_repo, fetch=serve)
    assert again == where and served == [], "a complete cache is used without downloading"


def test_a_tampered_download_is_refused_by_its_checksum(tmp_path):
    serve, _ = _server(shared_upstream())
    victim = next(s for s in fu.load_manifest() if s.file.endswith("values.yaml"))

    def tampered(url):
        data = serve(url)
        return data + b"\n# changed\n" if url == victim.url else data

    where, problem = fu.ensure({"HOME": str(tmp_path)}, tmp_path / "repo", fetch=tampered)
    assert where is None
    assert victim.file in problem and "sha256" in problem
    assert "python tests/support/fetch_upstream.py" in problem


def test_without_network_one_clear_message_names_the_one_command(tmp_path):
    def offline(url):
        raise fu.FetchError("<urlopen error [Errno -3] Temporary failure in name resolution> after 5 attempt(s)")

    where, problem = fu.ensure({"HOME": str(tmp_path)}, tmp_path / "repo", fetch=offline)
    assert where is None
    assert problem.count("python tests/support/fetch_upstream.py") == 1
    assert re.search(
        r"fetching \d+ of \d+ files failed \(first: charts/\S+ \(from https://\S+\): <urlopen error", problem
    ), problem
    where, problem = fu.ensure(
        {"HOME": str(tmp_path), "AGENTPLANE_FETCH_UPSTREAM": "0"}, tmp_path / "repo", fetch=offline
    )
    assert where is None and "fetching" not in problem


def test_the_suite_stops_with_that_one_message(tmp_path):
    """The session hook (tests/conftest.py): no data and no download allowed -> one message, no test errors."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "AGENTPLANE_UPSTREAM": str(tmp_path / "nowhere"), "AGENTPLANE_FETCH_UPSTREAM": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_prcomment.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 4, output
    assert output.count("python tests/support/fetch_upstream.py") == 1, output
    assert "UpstreamDataMissing" not in output and "passed" not in output
