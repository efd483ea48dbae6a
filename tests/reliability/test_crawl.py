"""Crawl real code: the installed standard library and the web stack's own packages.

No file of that code may make the linter fail (FBG901). Each file is linted the way the flake8
plugin lints it: read as flake8 reads it (PEP 263 encoding, universal newlines), then
`lint_source(display, source, Settings(), path)` with the file's real path, so that project and
module resolution across the installed packages (`fastapi` importing `starlette`, relative
imports, re-exports, `__init__` chains) is exercised too.

The pre-filter lets only a few dozen of these files through to the analysis. So that more real
code reaches it, a file that mentions "background" or `add_task` in any other sense (CSS, docs,
threads, tkinter's `background=` option...) but is rejected by the pre-filter is linted a second
time with a small task site appended: the whole module is then parsed, scoped and searched for
sites, with its real path.

Budget: almost every file is rejected by the text pre-filter in microseconds; the crawl's cost is
the files that are analysed (together with the project modules their task sites reach). That work
is spread over a small pool of forked processes; the test asserts a CPU-time budget and prints the
wall time (about 10 s on an idle 2-core machine).
"""

from __future__ import annotations

import multiprocessing
import os
import re
import sysconfig
import time
import tokenize
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import List, NamedTuple, Optional, Tuple

import pytest
from support import fail_analysis, run_python

from flake8_fastapi_bg.engine import lint_source
from flake8_fastapi_bg.prefilter import may_schedule_tasks
from flake8_fastapi_bg.settings import Settings

pytestmark = pytest.mark.slow  # lints the installed stdlib and web stack (run with -m slow)

STDLIB = Path(sysconfig.get_paths()["stdlib"])
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])
# The web stack the plugin reasons about, plus what it is built on.
PACKAGES = ("fastapi", "starlette", "pydantic", "pydantic_core", "anyio", "httpx", "sqlalchemy")
# Looser than the pre-filter: the words of a task site in any sense and any case.
LOOSE_WORDS = re.compile(r"add_task|background", re.IGNORECASE)
# Appended to a file to make it go through the analysis. Valid after any module that compiles.
TASK_SITE = """

from fastapi import BackgroundTasks as BackgroundTasks_crawl


def work_crawl(x):
    print(x)


def endpoint_crawl(background_tasks: BackgroundTasks_crawl):
    background_tasks.add_task(work_crawl, 1)
"""
# CPU seconds summed over the pool: wall-clock time is at most this on an idle machine, and
# about half of it on 2 cores. CPU time, unlike wall time, does not grow when CI is busy.
CRAWL_BUDGET_CPU_SECONDS = 60


class Outcome(NamedTuple):
    path: str
    passed_prefilter: bool
    analysed: bool  # the engine reached real analysis (the fault hook fired)
    findings: Tuple[Tuple[int, str, str], ...]  # (line, code, message)
    seconds: float  # CPU time of the worker process
    forced: bool  # also linted with TASK_SITE appended (rejected by the pre-filter, loose words)
    forced_analysed: bool
    forced_findings: Tuple[Tuple[int, str, str], ...]


def installed_packages() -> List[Path]:
    return [SITE_PACKAGES / name for name in PACKAGES if (SITE_PACKAGES / name).is_dir()]


def crawl_files() -> List[Path]:
    """Every .py file of the standard library (not its site-packages) and the web stack."""
    files = [p for p in STDLIB.rglob("*.py") if "site-packages" not in p.relative_to(STDLIB).parts]
    for package in installed_packages():
        files.extend(package.rglob("*.py"))
    return sorted(set(files))


def read_like_flake8(path: Path) -> Optional[str]:
    """The source as flake8 sees it, or None when flake8 could not decode it either."""
    try:
        with tokenize.open(path) as handle:
            return handle.read()
    except (SyntaxError, UnicodeDecodeError, LookupError, OSError):
        return None


def _lint_counting(display: str, source: str, path: Path) -> Tuple[bool, Tuple[Tuple[int, str, str], ...]]:
    """(whether the analysis ran, findings), linting as the flake8 plugin does."""
    analysed: List[str] = []
    with pytest.MonkeyPatch.context() as monkeypatch:
        fail_analysis(monkeypatch, analysed.append)
        findings = lint_source(display, source, Settings(), path)
    return bool(analysed), tuple((f.line, f.code, f.message) for f in findings)


def lint_one(path_text: str) -> Optional[Outcome]:
    path = Path(path_text)
    source = read_like_flake8(path)
    if source is None:
        return None
    start = time.process_time()
    analysed, findings = _lint_counting(path_text, source, path)
    passed = may_schedule_tasks(source)
    forced = not passed and LOOSE_WORDS.search(source) is not None
    forced_analysed, forced_findings = _lint_counting(path_text, source + TASK_SITE, path) if forced \
        else (False, ())
    return Outcome(path_text, passed, analysed, findings, time.process_time() - start,
                   forced, forced_analysed, forced_findings)


def crawl(files: List[Path]) -> List[Outcome]:
    # Biggest first, one file per job: the pool stays balanced to the end.
    ordered = [str(p) for p in sorted(files, key=lambda p: p.stat().st_size, reverse=True)]
    workers = min(4, os.cpu_count() or 1)
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        results = [lint_one(p) for p in ordered]
    else:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            results = list(pool.map(lint_one, ordered, chunksize=1))
    return [r for r in results if r is not None]


def test_stdlib_and_web_stack_never_make_the_linter_fail() -> None:
    files = crawl_files()
    start = time.perf_counter()
    outcomes = crawl(files)
    elapsed = time.perf_counter() - start

    failures = [f"{o.path}:{line}: {message}" for o in outcomes
                for line, code, message in o.findings if code == "FBG901"]
    failures += [f"{o.path}:{line}: {message} (with a task site appended)" for o in outcomes
                 for line, code, message in o.forced_findings if code == "FBG901"]
    assert not failures, f"FBG901 in {len(failures)} file(s):\n" + "\n".join(failures)

    # The crawl must not pass vacuously: the files that can schedule a task were analysed.
    passed = [o for o in outcomes if o.passed_prefilter]
    forced = [o for o in outcomes if o.forced]
    stdlib_analysed = [o for o in passed + forced if Path(o.path).is_relative_to(STDLIB)]
    assert len(outcomes) > 1000, len(outcomes)
    assert len(stdlib_analysed) >= 20, [o.path for o in stdlib_analysed]
    assert all(o.analysed for o in passed), [o.path for o in passed if not o.analysed]
    assert not any(o.analysed for o in outcomes if not o.passed_prefilter)
    assert all(o.forced_analysed for o in forced), [o.path for o in forced if not o.forced_analysed]
    background = [o for o in passed if o.path.endswith(os.path.join("starlette", "background.py"))]
    assert background, "starlette/background.py was not analysed"

    cpu = sum(o.seconds for o in outcomes)
    slowest = sorted(outcomes, key=lambda o: o.seconds, reverse=True)[:5]
    print(f"\ncrawled {len(outcomes)} files, {len(passed)} analysed, {len(forced)} more with a task site, "
          f"in {elapsed:.1f}s "
          f"({cpu:.1f} CPU seconds); slowest: "
          + ", ".join(f"{Path(o.path).name} {o.seconds:.1f}s" for o in slowest))
    for o in outcomes:
        for line, code, message in o.findings:
            print(f"{o.path}:{line}: {code} {message}")
    assert cpu < CRAWL_BUDGET_CPU_SECONDS, f"crawl took {cpu:.1f} CPU seconds ({elapsed:.1f}s wall)"


PLANTED = """import time

from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


async def nap() -> None:
    time.sleep(1)


@app.post("/x")
def endpoint(background_tasks: BackgroundTasks) -> dict:
    background_tasks.add_task(nap)
    return {}
"""


def test_flake8_over_starlette_and_fastapi(tmp_path: Path) -> None:
    """The real flake8, with 2 jobs, over the installed starlette and fastapi packages, plus one
    planted file that proves the plugin ran in this very invocation."""
    targets = [SITE_PACKAGES / name for name in ("starlette", "fastapi")]
    assert all(t.is_dir() for t in targets), targets  # both are in the test extra
    planted = tmp_path / "planted.py"
    planted.write_text(PLANTED)
    # From an empty directory, so no project configuration is picked up.
    result = run_python("-m", "flake8", "--select", "FBG", "-j2", *map(str, targets), str(planted),
                        cwd=tmp_path)
    library = [line for line in result.stdout.splitlines() if not line.startswith(str(planted))]
    print("\nfindings in the libraries:", *library or ["none"], sep="\n")
    assert "Traceback" not in result.stderr, result.stderr
    assert "FBG901" not in result.stdout, result.stdout
    own = [line.split(":", 3)[1:] for line in result.stdout.splitlines() if line.startswith(str(planted))]
    assert [(line, rest.split()[0]) for line, _col, rest in own] == [("14", "FBG102")], result.stdout
    assert result.returncode == 1, (result.returncode, result.stderr)
