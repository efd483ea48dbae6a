"""Measure the linter's recall and precision on the labeled real-world corpus.

Each manifest in ``apps/`` names a public FastAPI app at a pinned commit and labels every
background-task site in it with the codes an expert reviewer expects there.  This script runs
the standalone ``flake8-fastapi-bg`` command once on each app's source tree and matches its
findings to the labeled sites by (path, line).  See README.md next to it for how to fetch the
apps.  Standard library only, so it runs without installing anything but the linter.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on old interpreters
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
APPS = HERE / "apps"
UNCERTAIN = "uncertain:"


@dataclass(frozen=True)
class Site:
    path: str
    line: int
    task: str
    expected: Tuple[str, ...]
    why: str
    needs: str = ""

    @property
    def uncertain(self) -> bool:
        return self.why.strip().lower().startswith(UNCERTAIN)


@dataclass(frozen=True)
class Manifest:
    repo: str
    commit: str
    domain: str
    sites: Tuple[Site, ...]
    source: Path

    @property
    def folder(self) -> str:
        """The app's directory name under --apps-dir: OWNER+NAME."""
        return self.repo.replace("/", "+")


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    code: str
    message: str = ""


@dataclass
class Score:
    app: str
    sites: int = 0
    expected: int = 0
    found: int = 0
    false_alarms: List[Tuple[Site, Finding]] = field(default_factory=list)
    misses: List[Tuple[Site, str]] = field(default_factory=list)
    unlabeled: List[Finding] = field(default_factory=list)

    @property
    def recall(self) -> Optional[float]:
        return self.found / self.expected if self.expected else None

    @property
    def precision(self) -> Optional[float]:
        flagged = self.found + len(self.false_alarms)
        return self.found / flagged if flagged else None

    def add(self, other: "Score") -> None:
        self.sites += other.sites
        self.expected += other.expected
        self.found += other.found
        self.false_alarms.extend(other.false_alarms)
        self.misses.extend(other.misses)
        self.unlabeled.extend(other.unlabeled)


def load_manifest(path: Path) -> Manifest:
    with path.open("rb") as stream:
        data = tomllib.load(stream)
    sites = tuple(
        Site(
            path=str(raw["path"]),
            line=int(raw["line"]),
            task=str(raw["task"]),
            expected=tuple(raw["expected"]),
            why=str(raw["why"]),
            needs=str(raw.get("needs", "")),
        )
        for raw in data.get("site", [])
    )
    return Manifest(str(data["repo"]), str(data["commit"]), str(data["domain"]), sites, path)


def load_manifests(folder: Path = APPS) -> List[Manifest]:
    return [load_manifest(path) for path in sorted(folder.glob("*.toml"))]


def parse_findings(report: Sequence[Dict[str, Any]], root: Path) -> List[Finding]:
    """Findings from the linter's JSON report, with paths made relative to the app's root."""
    findings = []
    for item in report:
        path = Path(str(item["path"]))
        try:
            path = path.resolve().relative_to(root.resolve())
        except ValueError:
            pass
        findings.append(Finding(path.as_posix(), int(item["line"]), str(item["code"]),
                                str(item.get("message", ""))))
    return findings


def score(manifest: Manifest, findings: Iterable[Finding]) -> Score:
    """Match findings to labeled sites by (path, line) and count hits, misses and false alarms."""
    result = Score(manifest.repo, sites=len(manifest.sites))
    by_place: Dict[Tuple[str, int], List[Finding]] = {}
    for finding in findings:
        by_place.setdefault((finding.path, finding.line), []).append(finding)
    labeled: Set[Tuple[str, int]] = set()
    for site in manifest.sites:
        place = (site.path, site.line)
        labeled.add(place)
        if site.uncertain:  # not a miss when silent, not a false alarm when flagged
            continue
        codes = {finding.code for finding in by_place.get(place, [])}
        for code in site.expected:
            result.expected += 1
            if code in codes:
                result.found += 1
            else:
                result.misses.append((site, code))
        for finding in by_place.get(place, []):
            if finding.code not in site.expected:
                result.false_alarms.append((site, finding))
    for place, found in sorted(by_place.items()):
        if place not in labeled:
            result.unlabeled.extend(found)
    return result


def linter_command(linter: str) -> List[str]:
    """The linter command with JSON output, and without its cache when it has one."""
    command = shlex.split(linter)
    usage = subprocess.run([*command, "--help"], capture_output=True, text=True).stdout
    extra = ["--no-cache"] if "--no-cache" in usage else []
    return [*command, "--format", "json", "--exit-zero", *extra]


def run_linter(command: Sequence[str], root: Path) -> List[Finding]:
    done = subprocess.run([*command, str(root)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"linter failed on {root} ({done.returncode}): {done.stderr.strip()}")
    return parse_findings(json.loads(done.stdout or "[]"), root)


def ratio(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.2f}"


def summary_line(result: Score) -> str:
    return (f"{result.app:45} sites {result.sites:3}  expected {result.expected:3}  "
            f"found {result.found:3}  recall {ratio(result.recall):>4}  "
            f"false alarms {len(result.false_alarms):2}  precision {ratio(result.precision):>4}  "
            f"unlabeled {len(result.unlabeled)}")


def details(result: Score) -> List[str]:
    lines = []
    for site, code in result.misses:
        hint = f" [needs: {site.needs}]" if site.needs else ""
        lines.append(f"  miss   {site.path}:{site.line} {code} {site.task}{hint}")
    for site, finding in result.false_alarms:
        lines.append(f"  false  {site.path}:{site.line} {finding.code} {finding.message}")
    for finding in result.unlabeled:
        lines.append(f"  unlabeled {finding.path}:{finding.line} {finding.code} {finding.message}")
    return lines


def as_json(results: Sequence[Score], total: Score) -> Dict[str, Any]:
    def row(result: Score) -> Dict[str, Any]:
        return {
            "app": result.app, "sites": result.sites, "expected": result.expected,
            "found": result.found, "recall": result.recall, "precision": result.precision,
            "false_alarms": [{"path": site.path, "line": site.line, "code": hit.code}
                             for site, hit in result.false_alarms],
            "misses": [{"path": s.path, "line": s.line, "code": code, "needs": s.needs}
                       for s, code in result.misses],
            "unlabeled": [{"path": f.path, "line": f.line, "code": f.code} for f in result.unlabeled],
        }
    return {"apps": [row(result) for result in results], "overall": row(total)}


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps-dir", type=Path, required=True,
                        help="folder holding each app's source as OWNER+NAME")
    parser.add_argument("--linter", default="flake8-fastapi-bg", help="the standalone command to run")
    parser.add_argument("--manifests", type=Path, default=APPS, help="folder of *.toml manifests")
    parser.add_argument("--app", action="append", default=[], help="only this repo (owner/name); repeatable")
    parser.add_argument("--json", type=Path, help="also write the scores as JSON to this file")
    parser.add_argument("--verbose", action="store_true",
                        help="list misses, false alarms and unlabeled findings")
    args = parser.parse_args(argv)

    command = linter_command(args.linter)
    total = Score("overall")
    results = []
    for manifest in load_manifests(args.manifests):
        if args.app and manifest.repo not in args.app:
            continue
        root = args.apps_dir / manifest.folder
        if not root.is_dir():
            print(f"{manifest.repo}: no source at {root} (see tests/realworld/README.md)", file=sys.stderr)
            return 2
        result = score(manifest, run_linter(command, root))
        results.append(result)
        total.add(result)
        print(summary_line(result))
        if args.verbose:
            for line in details(result):
                print(line)
    print(summary_line(total))
    if args.json:
        args.json.write_text(json.dumps(as_json(results, total), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
