"""The real-world corpus (tests/realworld/): every manifest is well formed, and the evaluator
scores a synthetic manifest as documented. No network and no real app needed."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path, PurePosixPath

import pytest

from flake8_fastapi_bg.rules import REGISTRY


def _load_evaluator():
    """tests/realworld/evaluate.py under a private name (a package called `evaluate` exists)."""
    path = Path(__file__).resolve().parent / "realworld" / "evaluate.py"
    spec = importlib.util.spec_from_file_location("realworld_evaluate", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


evaluate = _load_evaluator()

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MANIFESTS = sorted(evaluate.APPS.glob("*.toml"))
COMMIT = re.compile(r"[0-9a-f]{40}\Z")
REPO = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*\Z")
SITE_KEYS = {"path", "line", "task", "expected", "why", "needs"}


def test_there_are_manifests():
    assert MANIFESTS


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.stem)
def test_manifest_is_well_formed(path: Path):
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    assert set(raw) <= {"repo", "commit", "domain", "site"}, path
    assert REPO.match(raw["repo"]), raw["repo"]
    assert path.stem == raw["repo"].replace("/", "__"), "file name must be OWNER__NAME.toml"
    assert COMMIT.match(raw["commit"]), raw["commit"]
    assert isinstance(raw["domain"], str) and raw["domain"].strip()
    assert raw.get("site"), "a manifest labels at least one site"
    places = set()
    for site in raw["site"]:
        assert {"path", "line", "task", "expected", "why"} <= set(site) <= SITE_KEYS, site
        where = PurePosixPath(site["path"])
        assert not where.is_absolute() and ".." not in where.parts and "\\" not in site["path"], site
        assert where.suffix == ".py", site
        assert isinstance(site["line"], int) and site["line"] > 0, site
        assert isinstance(site["task"], str) and site["task"], site
        assert isinstance(site["why"], str) and len(site["why"].strip()) >= 10, site
        assert isinstance(site["expected"], list), site
        assert len(set(site["expected"])) == len(site["expected"]), site
        for code in site["expected"]:
            assert code in REGISTRY and not code.startswith("FBG9"), (code, site)
        if "needs" in site:
            assert isinstance(site["needs"], str) and site["needs"].strip(), site
        place = (site["path"], site["line"])
        assert place not in places, f"duplicate site {place}"
        places.add(place)
    manifest = evaluate.load_manifest(path)
    assert len(manifest.sites) == len(raw["site"])


SYNTHETIC = '''
repo = "example/app"
commit = "0123456789abcdef0123456789abcdef01234567"
domain = "test"

[[site]]
path = "app/a.py"
line = 10
task = "crawl"
expected = ["FBG103"]
why = "crawls every page"

[[site]]
path = "app/a.py"
line = 20
task = "ingest"
expected = ["FBG101", "FBG103"]
why = "parses and embeds a PDF"
needs = "self-attribute"

[[site]]
path = "app/b.py"
line = 5
task = "notify"
expected = []
why = "one short webhook post"

[[site]]
path = "app/b.py"
line = 9
task = "maybe"
expected = []
why = "uncertain: the client may be sync"

[[site]]
path = "app/b.py"
line = 12
task = "perhaps"
expected = ["FBG104"]
why = "uncertain: may touch billing"
'''


@pytest.fixture
def manifest(tmp_path: Path) -> evaluate.Manifest:
    path = tmp_path / "example__app.toml"
    path.write_text(SYNTHETIC)
    return evaluate.load_manifest(path)


def finding(path: str, line: int, code: str) -> evaluate.Finding:
    return evaluate.Finding(path, line, code, f"{code} message")


def test_scoring(manifest: evaluate.Manifest):
    findings = [
        finding("app/a.py", 10, "FBG103"),  # hit
        finding("app/a.py", 20, "FBG101"),  # hit; FBG103 at the same site missed
        finding("app/b.py", 5, "FBG104"),  # false alarm on a fine site
        finding("app/b.py", 9, "FBG102"),  # uncertain site: ignored
        finding("app/c.py", 3, "FBG103"),  # not a labeled site
    ]
    result = evaluate.score(manifest, findings)
    assert (result.sites, result.expected, result.found) == (5, 3, 2)
    misses = [(site.line, code, site.needs) for site, code in result.misses]
    assert misses == [(20, "FBG103", "self-attribute")]
    assert [(site.line, hit.code) for site, hit in result.false_alarms] == [(5, "FBG104")]
    assert [(hit.path, hit.line) for hit in result.unlabeled] == [("app/c.py", 3)]
    assert result.recall == pytest.approx(2 / 3)
    assert result.precision == pytest.approx(2 / 3)


def test_silent_linter_scores_no_precision(manifest: evaluate.Manifest):
    result = evaluate.score(manifest, [])
    assert (result.found, len(result.misses), result.recall, result.precision) == (0, 3, 0.0, None)


def test_totals_add_up(manifest: evaluate.Manifest):
    total = evaluate.Score("overall")
    for _ in range(2):
        total.add(evaluate.score(manifest, [finding("app/a.py", 10, "FBG103")]))
    assert (total.sites, total.expected, total.found, len(total.misses)) == (10, 6, 2, 4)
    report = evaluate.as_json([total], total)
    assert report["overall"]["recall"] == pytest.approx(1 / 3)


def test_paths_are_made_relative_to_the_app(tmp_path: Path):
    report = [{"path": str(tmp_path / "app" / "a.py"), "line": 3, "code": "FBG101", "message": "m"}]
    assert evaluate.parse_findings(report, tmp_path) == [evaluate.Finding("app/a.py", 3, "FBG101", "m")]


def test_main_runs_a_fake_linter(manifest: evaluate.Manifest, tmp_path: Path, capsys):
    apps = tmp_path / "apps"
    (apps / "example+app").mkdir(parents=True)
    fake = tmp_path / "fake_linter.py"
    fake.write_text(
        "import json, sys\n"
        "if '--help' in sys.argv: print('usage: --no-cache'); sys.exit(0)\n"
        "assert '--no-cache' in sys.argv and '--format' in sys.argv\n"
        "root = sys.argv[-1]\n"
        "print(json.dumps([{'path': root + '/app/a.py', 'line': 10, 'code': 'FBG103', 'message': 'm'}]))\n"
    )
    out = tmp_path / "scores.json"
    code = evaluate.main(["--apps-dir", str(apps), "--manifests", str(manifest.source.parent),
                          "--linter", f"{sys.executable} {fake}", "--json", str(out), "--verbose"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "miss   app/a.py:20 FBG101 ingest [needs: self-attribute]" in printed
    assert '"found": 1' in out.read_text()
