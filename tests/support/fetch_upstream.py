#!/usr/bin/env python3
"""Download the pinned upstream schema files the tests validate against.

Usage: ``python tests/support/fetch_upstream.py`` (into the cache the tests look in,
``~/.cache/agentplane/upstream/<digest>``; ``$XDG_CACHE_HOME`` is honoured), or
``python tests/support/fetch_upstream.py DEST`` and run the tests with ``AGENTPLANE_UPSTREAM=DEST``.
The test suite runs this itself when it finds no data (tests/conftest.py); a file whose sha256
differs from ``upstream-sha256.txt`` is refused.

The repository holds no upstream content, only references: ``upstream-sources.tsv`` beside this
script names, for every file of the upstream data directory (see ``upstream.py``), the GitHub
repository, the release tag and the path it comes from. This script downloads each one from
``https://raw.githubusercontent.com/<repository>/<ref>/<path>`` and writes ``DEST/<file>``:

* chart files (``values.yaml``, ``values.schema.json``, ``Chart.yaml``) unchanged;
* CRD files with Helm template-only lines removed (lines whose stripped text starts with
  ``{{``, e.g. ``{{- if .Values.crds.create }}``: charts that ship CRDs as templates wrap them
  so), and, when the manifest gives a ``selector``, only the CRD document of that
  ``metadata.name`` out of a multi-document file (CloudNativePG ships all its CRDs in one).

Every written file is parsed (YAML or JSON) and every CRD checked to be the CRD its path names,
so a moved or renamed upstream file fails here, naming the file, rather than later in a test.
Standard library plus PyYAML only, so CI can run it before installing the project.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePosixPath

import yaml

#: The manifest: one row per file of the upstream data directory.
MANIFEST = Path(__file__).resolve().with_name("upstream-sources.tsv")
#: sha256 of every written file, `sha256sum` format.
CHECKSUMS = Path(__file__).resolve().with_name("upstream-sha256.txt")
MANIFEST_COLUMNS = ("file", "repository", "ref", "path", "selector")
RAW_BASE = "https://raw.githubusercontent.com"

# A ref must be an exact release tag: a branch (or HEAD) would make the tests' data drift.
_MOVING_REFS = frozenset({"head", "main", "master", "develop", "release", "trunk"})
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_REF = re.compile(r"^[A-Za-z0-9_.+-]+$")
_DOCUMENT_SEPARATOR = re.compile(r"^---[ \t]*(?:#.*)?$")
_CRD_FILE = re.compile(r"^crds/(?P<group>[^/]+)/(?P<name>[^/]+)\.yaml$")

USER_AGENT = "agentplane-fetch-upstream"
# The C loader is ~10x faster on the large CRDs; PyYAML built without libyaml lacks it.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
RETRYABLE_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})


class ManifestError(ValueError):
    """The manifest is malformed; the message names the line."""


class FetchError(RuntimeError):
    """A file could not be downloaded or is not what the manifest says; the message names it."""


class Unreachable(FetchError):
    """The host could not be reached at all (no answer, no name, no route) after every retry:
    every other file from it would fail the same way, so fetching stops here."""


@dataclasses.dataclass(frozen=True)
class Source:
    """Where one file of the upstream data directory comes from."""

    file: str  # relative path in the data directory, e.g. crds/cert-manager.io/issuers.cert-manager.io.yaml
    repository: str  # GitHub owner/name
    ref: str  # release tag
    path: str  # path in the repository at that tag
    selector: str | None = None  # metadata.name of the one CRD to keep from a multi-document file

    @property
    def url(self) -> str:
        return raw_url(self.repository, self.ref, self.path)

    @property
    def is_crd(self) -> bool:
        return self.file.startswith("crds/")


# --------------------------------------------------------------------------------------------
# Pure parts (unit-tested offline)
# --------------------------------------------------------------------------------------------


def raw_url(repository: str, ref: str, path: str) -> str:
    return f"{RAW_BASE}/{repository}/{ref}/{path}"


def _check_relative(value: str, what: str) -> str | None:
    posix = PurePosixPath(value)
    if not value or posix.is_absolute() or ".." in posix.parts or "\\" in value or str(posix) != value:
        return f"{what} {value!r} must be a normalised relative path (no '..', no leading '/')"
    return None


def parse_manifest(text: str) -> list[Source]:
    """The manifest's rows. Blank lines and lines starting with '#' are ignored; the first other
    line is the header. All problems are reported at once, each naming its line."""
    sources: list[Source] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    header_seen = False
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = line.split("\t")
        if not header_seen:
            header_seen = True
            if tuple(cells) != MANIFEST_COLUMNS:
                problems.append(f"line {number}: header must be {' <tab> '.join(MANIFEST_COLUMNS)}")
            continue
        if len(cells) == len(MANIFEST_COLUMNS) - 1:
            cells.append("")  # no selector
        if len(cells) != len(MANIFEST_COLUMNS):
            problems.append(f"line {number}: expected {len(MANIFEST_COLUMNS)} tab-separated columns, got {len(cells)}")
            continue
        file, repository, ref, path, selector = (c.strip() for c in cells)
        found = [
            _check_relative(file, "file"),
            _check_relative(path, "path"),
            None if _REPOSITORY.match(repository) else f"repository {repository!r} must be <owner>/<name>",
            None if _REF.match(ref) else f"ref {ref!r} is not a tag name",
            f"ref {ref!r} is a branch; pin a release tag" if ref.lower() in _MOVING_REFS else None,
            f"file {file!r} is listed twice (first on line {seen[file]})" if file in seen else None,
        ]
        if selector and not file.startswith("crds/"):
            found.append(f"selector {selector!r} given for {file!r}: only CRD files are split")
        if file.startswith("crds/") and not _CRD_FILE.match(file):
            found.append(f"file {file!r} must be crds/<group>/<plural>.<group>.yaml")
        if selector and PurePosixPath(file).stem != selector:
            found.append(f"selector {selector!r} must be the CRD name {PurePosixPath(file).stem!r} its file names")
        found = [p for p in found if p]
        if found:
            problems.extend(f"line {number}: {p}" for p in found)
            continue
        seen[file] = number
        sources.append(Source(file, repository, ref, path, selector or None))
    if not header_seen:
        problems.append("no header line")
    if problems:
        raise ManifestError("invalid upstream manifest:\n  " + "\n  ".join(problems))
    return sources


def load_manifest(path: Path = MANIFEST) -> list[Source]:
    try:
        return parse_manifest(path.read_text(encoding="utf-8"))
    except ManifestError as error:
        raise ManifestError(f"{path}: {error}") from None


def strip_template_lines(text: str) -> str:
    """Remove Helm template-only lines (stripped text starting with '{{'); keep the rest as is."""
    kept = [line for line in text.splitlines(keepends=True) if not line.strip().startswith("{{")]
    return "".join(kept)


def split_documents(text: str) -> list[str]:
    """The non-empty YAML documents of a multi-document text, each trimmed to end with one newline.

    Splits on '---' lines at column 0 (how generated CRD bundles separate documents); a
    document that holds only comments or blank lines is dropped."""
    documents: list[list[str]] = [[]]
    for line in text.splitlines():
        if _DOCUMENT_SEPARATOR.match(line):
            documents.append([])
        else:
            documents[-1].append(line)
    result = []
    for lines in documents:
        while lines and not lines[0].strip():
            lines.pop(0)
        while lines and not lines[-1].strip():
            lines.pop()
        if any(line.strip() and not line.lstrip().startswith("#") for line in lines):
            result.append("\n".join(lines) + "\n")
    return result


def _document_name(document: str) -> str | None:
    parsed = yaml.load(document, Loader=_LOADER)
    metadata = parsed.get("metadata") if isinstance(parsed, dict) else None
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else None


@functools.lru_cache(maxsize=8)  # several manifest rows select from the same bundle
def _named_documents(text: str) -> tuple[tuple[str | None, str], ...]:
    return tuple((_document_name(doc), doc) for doc in split_documents(text))


def select_document(text: str, name: str) -> str:
    """The one document of `text` whose metadata.name is `name`."""
    documents = _named_documents(text)
    matches = [doc for doc_name, doc in documents if doc_name == name]
    if len(matches) != 1:
        names = sorted(n for n, _ in documents if n)
        state = "no document" if not matches else f"{len(matches)} documents"
        raise ValueError(f"{state} named {name!r}; the file holds: {', '.join(names) or '(none)'}")
    return matches[0]


def transform(source: Source, raw: bytes) -> bytes:
    """What is written for `source` given the downloaded bytes (chart files pass through)."""
    if not source.is_crd:
        return raw
    text = strip_template_lines(raw.decode("utf-8"))
    if source.selector:
        return select_document(text, source.selector).encode("utf-8")
    documents = split_documents(text)
    if len(documents) != 1:
        raise ValueError(f"expected one CRD document, found {len(documents)}; add a selector to the manifest")
    return documents[0].encode("utf-8")


def verify(source: Source, data: bytes) -> None:
    """Raise ValueError unless `data` parses, and a CRD file holds the CRD its path names."""
    text = data.decode("utf-8")
    if source.file.endswith(".json"):
        json.loads(text)
        return
    documents = [doc for doc in yaml.load_all(text, Loader=_LOADER) if doc is not None]
    if not documents:
        raise ValueError("empty YAML file")
    if not source.is_crd:
        return
    match = _CRD_FILE.match(source.file)
    if len(documents) != 1:
        raise ValueError(f"expected one CRD document, found {len(documents)}")
    crd = documents[0]
    if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition":
        raise ValueError("not a CustomResourceDefinition")
    name = (crd.get("metadata") or {}).get("name")
    group = (crd.get("spec") or {}).get("group")
    if (name, group) != (match["name"], match["group"]):
        raise ValueError(
            f"holds CRD {name!r} of group {group!r}, the path names {match['name']!r} of {match['group']!r}"
        )


def destination(root: Path, source: Source) -> Path:
    """Where `source` is written under `root` (manifest paths are relative, checked on parse)."""
    return root.joinpath(*PurePosixPath(source.file).parts)


# --------------------------------------------------------------------------------------------
# Network and files
# --------------------------------------------------------------------------------------------


def download(
    url: str,
    *,
    timeout: float = 30.0,
    retries: int = 4,
    backoff: float = 2.0,
    opener: Callable[..., object] = urllib.request.urlopen,
    sleep: Callable[[float], None] = time.sleep,
) -> bytes:
    """GET `url`; transient failures (network, 5xx, 429) are retried with exponential backoff."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    attempt = 0
    while True:
        attempt += 1
        try:
            with opener(request, timeout=timeout) as response:  # type: ignore[attr-defined]
                return response.read()
        except urllib.error.HTTPError as error:
            if error.code not in RETRYABLE_HTTP or attempt > retries:
                raise FetchError(f"HTTP {error.code} {error.reason} after {attempt} attempt(s)") from None
            reason = f"HTTP {error.code}"
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            if attempt > retries:
                raise Unreachable(f"{getattr(error, 'reason', error)} after {attempt} attempt(s)") from None
            reason = str(getattr(error, "reason", error))
        delay = backoff * 2 ** (attempt - 1)
        print(f"  retrying {url} in {delay:.0f}s ({reason})", file=sys.stderr)
        sleep(delay)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
        handle.write(data)
    os.replace(handle.name, path)


def parse_checksums(text: str) -> dict[str, str]:
    """`sha256sum` lines ("<64 hex>  <file>"); '#' comments and blank lines ignored."""
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r"([0-9a-f]{64})  (\S+)", line)
        if not match:
            raise ManifestError(f"checksums line {number}: expected '<sha256>  <file>'")
        out[match[2]] = match[1]
    return out


def load_checksums(path: Path = CHECKSUMS) -> dict[str, str]:
    return parse_checksums(path.read_text(encoding="utf-8"))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def default_cache_dir(environ: dict[str, str] | None = None) -> Path:
    """~/.cache/agentplane/upstream/<digest of the manifest and checksums>: a pin bump gets a new directory."""
    environ = dict(os.environ) if environ is None else environ
    base = Path(environ.get("XDG_CACHE_HOME") or Path(environ.get("HOME") or Path.home()) / ".cache")
    digest = sha256(MANIFEST.read_bytes() + CHECKSUMS.read_bytes())[:16]
    return base / "agentplane" / "upstream" / digest


def complete(root: Path, sources: Sequence[Source], checksums: dict[str, str]) -> bool:
    """Whether every source's file is under `root` with its recorded checksum."""
    for source in sources:
        path = destination(root, source)
        if not path.is_file() or sha256(path.read_bytes()) != checksums.get(source.file):
            return False
    return True


def fetch_all(
    sources: Sequence[Source], dest: Path, *, fetch: Callable[[str], bytes], checksums: dict[str, str] | None = None
) -> list[str]:
    """Download, transform, verify and write every source; errors (one per failing file) are
    collected so one run reports all of them, except that an unreachable host stops the run (the
    rest would only wait out the same retries). A URL shared by several files is fetched once.
    With `checksums`, a file whose sha256 differs (or that has none recorded) is refused."""
    cache: dict[str, bytes] = {}
    errors: list[str] = []
    for source in sources:
        try:
            if source.url not in cache:
                cache[source.url] = fetch(source.url)
            data = transform(source, cache[source.url])
            verify(source, data)
            if checksums is not None and sha256(data) != checksums.get(source.file):
                raise ValueError(
                    f"sha256 {sha256(data)} is not the recorded {checksums.get(source.file, '(none recorded)')}"
                )
        except Unreachable as error:
            untried = len(sources) - sources.index(source) - 1
            errors.append(f"{source.file} (from {source.url}): {error}; {untried} more file(s) not tried")
            break
        except (FetchError, ValueError, UnicodeDecodeError, yaml.YAMLError) as error:
            errors.append(f"{source.file} (from {source.url}): {error}")
            continue
        _write_atomically(destination(dest, source), data)
    return errors


FETCH_COMMAND = "python tests/support/fetch_upstream.py"


def ensure(
    environ: dict[str, str],
    repo_root: Path,
    *,
    fetch: Callable[[str], bytes] | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> tuple[Path | None, str]:
    """Where the tests find the pinned upstream data: (directory, "") or (None, one clear message).

    1. ``$AGENTPLANE_UPSTREAM`` when set; 2. ``<repo>/../shared/upstream`` when it exists;
    3. the checksummed cache (:func:`default_cache_dir`), filled by downloading the pinned
    files unless ``AGENTPLANE_FETCH_UPSTREAM=0`` (a directory named by 1. is filled the same way).
    """
    sources, checksums = load_manifest(), load_checksums()
    explicit = environ.get("AGENTPLANE_UPSTREAM")
    shared = (repo_root / ".." / "shared" / "upstream").resolve()
    if explicit:
        target = Path(explicit).expanduser().resolve()
        if (target / "crds").is_dir() and (target / "charts").is_dir():
            return target, ""
    elif (shared / "crds").is_dir() and (shared / "charts").is_dir():
        return shared, ""
    else:
        target = default_cache_dir(environ)
        if complete(target, sources, checksums):
            return target, ""
    how = (
        f"run once, with internet access:  {FETCH_COMMAND}"
        + (f" {target}" if explicit else "")
        + f"\n(it downloads {len(sources)} pinned files from raw.githubusercontent.com, checks their sha256 "
        f"and caches them in {target}; or set AGENTPLANE_UPSTREAM to a directory holding them)"
    )
    if environ.get("AGENTPLANE_FETCH_UPSTREAM") == "0":
        return None, f"the tests need the pinned upstream schema data, and {target} does not hold it; {how}"
    log(f"fetching the pinned upstream schema data ({len(sources)} files) into {target} (once; cached)")
    errors = fetch_all(sources, target, fetch=fetch or download, checksums=checksums)
    if errors:
        return None, (
            f"the tests need the pinned upstream schema data, and fetching {len(errors)} of "
            f"{len(sources)} files failed (first: {errors[0]}); {how}"
        )
    return target, ""


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "dest",
        type=Path,
        nargs="?",
        help="directory to write (becomes AGENTPLANE_UPSTREAM; default: the cache the tests use)",
    )
    parser.add_argument(
        "--write-checksums",
        action="store_true",
        help="record the sha256 of the files in DEST into upstream-sha256.txt (after a pin bump)",
    )
    parser.add_argument("--manifest", type=Path, default=MANIFEST, help="default: %(default)s")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default: %(default)s)")
    parser.add_argument("--retries", type=int, default=4, help="retries per file (default: %(default)s)")
    args = parser.parse_args(None if argv is None else list(argv))

    try:
        sources = load_manifest(args.manifest)
    except (ManifestError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    dest = (args.dest or default_cache_dir()).expanduser().resolve()
    if args.write_checksums:
        header = [line for line in CHECKSUMS.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
        rows = [f"{sha256(destination(dest, s).read_bytes())}  {s.file}" for s in sources]
        CHECKSUMS.write_text("\n".join(header + rows) + "\n", encoding="utf-8")
        print(f"recorded {len(rows)} checksums in {CHECKSUMS}")
        return 0
    print(f"fetching {len(sources)} upstream files into {dest}")
    errors = fetch_all(
        sources,
        dest,
        fetch=lambda url: download(url, timeout=args.timeout, retries=args.retries),
        checksums=load_checksums(),
    )
    if errors:
        print(f"error: {len(errors)} of {len(sources)} upstream files failed:", file=sys.stderr)
        for error in errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    print(f"wrote {len(sources)} files; run the tests with AGENTPLANE_UPSTREAM={dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
