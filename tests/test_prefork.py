"""Loading the engine once in flake8's main process, before it forks its workers.

With `--jobs` above one, flake8 forks workers after reading the options. If at least two of
the files it will check pass the text test, the plugin loads libcst and the analysis there
(`plugin.prepare`), so the workers inherit one copy instead of importing their own. Counted
here with `python -X importtime`, which prints a line for every import in every process.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import subprocess
from pathlib import Path

import pytest
from flake8.main.options import JobsArgument
from support import run_python

from flake8_fastapi_bg import plugin
from flake8_fastapi_bg.plugin import Plugin

SITE = '''\
from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


def crunch(n: int) -> None:
    import numpy
    numpy.linalg.svd(numpy.zeros((n, n)))


@app.post("/{n}")
def endpoint_{i}(n: int, tasks: BackgroundTasks):
    tasks.add_task(crunch, n)
'''

FORKS = (multiprocessing.get_start_method(allow_none=True)
         or multiprocessing.get_all_start_methods()[0]) == "fork"
LIBCST_IMPORT = re.compile(r"^import time:.*\|\s+libcst$", re.MULTILINE)


def make_tree(root: Path, sites: int, clean: int = 4) -> Path:
    (root / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    for i in range(sites):
        (root / f"site_{i}.py").write_text(SITE.replace("{i}", str(i)))
    for i in range(clean):
        (root / f"clean_{i}.py").write_text(f"VALUE_{i} = {i}\n")
    return root


def flake8(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return run_python("-X", "importtime", "-m", "flake8", "--isolated", "--select=FBG", *args, ".",
                      cwd=cwd)


def libcst_imports(result: subprocess.CompletedProcess) -> int:
    return len(LIBCST_IMPORT.findall(result.stderr))


@pytest.mark.skipif(not FORKS, reason="workers are forked only with the 'fork' start method")
def test_forked_workers_share_the_main_process_import(tmp_path: Path) -> None:
    tree = make_tree(tmp_path, sites=3)
    two = flake8(tree, "-j2")
    one = flake8(tree, "-j1", "--fastapi-bg-no-cache")
    assert libcst_imports(two) == 1  # in the main process, not once per worker
    assert libcst_imports(one) == 1
    assert two.stdout.count("FBG101") == 3
    assert sorted(two.stdout.splitlines()) == sorted(one.stdout.splitlines())


@pytest.mark.skipif(not FORKS, reason="workers are forked only with the 'fork' start method")
def test_a_warm_cache_loads_libcst_in_no_process(tmp_path: Path) -> None:
    """The main process loads the engine only for files the persistent cache cannot answer."""
    tree = make_tree(tmp_path, sites=3)
    cold = flake8(tree, "-j2")
    warm = flake8(tree, "-j2")
    assert libcst_imports(cold) == 1 and libcst_imports(warm) == 0
    assert sorted(warm.stdout.splitlines()) == sorted(cold.stdout.splitlines())
    (tree / "site_1.py").write_text(SITE.replace("{i}", "1").replace("n, n", "n, 2 * n"))
    edited = flake8(tree, "-j2")
    assert libcst_imports(edited) == 1  # one file to analyse: its worker loads the engine
    assert edited.stdout.count("FBG101") == 3


@pytest.mark.skipif(not FORKS, reason="workers are forked only with the 'fork' start method")
def test_clean_tree_never_imports_libcst_in_any_process(tmp_path: Path) -> None:
    tree = make_tree(tmp_path, sites=0, clean=6)
    result = flake8(tree, "-j2")
    assert result.returncode == 0, result.stderr
    assert libcst_imports(result) == 0


@pytest.mark.skipif(not FORKS, reason="workers are forked only with the 'fork' start method")
def test_one_site_file_is_left_to_its_worker(tmp_path: Path) -> None:
    """One file passing the test: a single worker imports libcst, as without the preload;
    loading it in the main process first would only delay the fork."""
    tree = make_tree(tmp_path, sites=1)
    result = flake8(tree, "-j2")
    assert libcst_imports(result) == 1
    assert result.stdout.count("FBG101") == 1


def options(tmp_path: Path, jobs: str = "2", filenames=(".",), exclude=()) -> argparse.Namespace:
    return argparse.Namespace(jobs=JobsArgument(jobs), filenames=list(filenames),
                              stdin_display_name="stdin", filename=["*.py"],
                              exclude=list(exclude), extend_exclude=[])


@pytest.fixture()
def forking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(multiprocessing, "get_start_method", lambda allow_none=False: "fork")
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: None)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)


@pytest.mark.parametrize("jobs, filenames, expected", [
    ("2", ["."], True),
    ("auto", ["."], True),
    ("1", ["."], False),       # serial: the one process loads the engine when it needs it
    ("2", ["-"], False),       # stdin is checked in the main process
])
def test_forks_workers(forking, tmp_path: Path, jobs: str, filenames: list, expected: bool) -> None:
    assert plugin._forks_workers(options(tmp_path, jobs, filenames)) is expected


def test_no_preload_for_other_start_methods_one_cpu_or_in_a_worker(
        forking, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ns = options(tmp_path, "auto")
    assert plugin._forks_workers(ns)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert not plugin._forks_workers(ns)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    for method in ("spawn", "forkserver"):  # workers read the options again themselves
        monkeypatch.setattr(multiprocessing, "get_start_method", lambda allow_none=False, m=method: m)
        assert not plugin._forks_workers(ns)
    monkeypatch.setattr(multiprocessing, "get_start_method", lambda allow_none=False: "fork")
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: object())  # we are a worker
    assert not plugin._forks_workers(ns)
    assert not plugin._forks_workers(argparse.Namespace())  # not flake8's options: no opinion


def test_scan_counts_only_the_files_flake8_will_check(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    make_tree(tmp_path, sites=1)
    (tmp_path / "vendored").mkdir()
    (tmp_path / "vendored" / "other.py").write_text(SITE.replace("{i}", "9"))
    (tmp_path / "notes.txt").write_text("tasks.add_task(x)\n")  # not a Python file
    monkeypatch.chdir(tmp_path)
    assert plugin._files_passing_text_test(options(tmp_path), 2)
    assert not plugin._files_passing_text_test(options(tmp_path, exclude=["vendored"]), 2)
    assert plugin._files_passing_text_test(options(tmp_path, exclude=["vendored"]), 1)
    monkeypatch.setattr(plugin, "_SCAN_LIMIT", 2)  # bounded: a large clean tree costs little
    first_two_clean = options(tmp_path, filenames=["clean_0.py", "clean_1.py", "site_0.py"])
    assert not plugin._files_passing_text_test(first_two_clean, 1)


def test_a_failing_preload_never_breaks_the_run(forking, monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    make_tree(tmp_path, sites=2)
    monkeypatch.chdir(tmp_path)
    calls = []

    def broken(settings) -> None:
        calls.append(settings)
        raise ImportError("libcst is broken")

    monkeypatch.setattr(plugin, "prepare", broken)
    Plugin.parse_options(options(tmp_path))
    assert len(calls) == 1


def prepare_in_a_fresh_process(before: str, after: str) -> list:
    """Run `plugin.prepare` in a new interpreter between two snippets; the words printed."""
    script = "\n".join([
        "import gc, sys",
        before,
        "from flake8_fastapi_bg import engine, plugin",
        "from flake8_fastapi_bg.settings import Settings",
        "plugin.prepare(Settings())",
        after])
    result = run_python("-c", script)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_prepare_loads_what_a_lint_needs_and_freezes_it() -> None:
    printed = prepare_in_a_fresh_process("", "\n".join([
        "before, frozen = set(sys.modules), gc.get_freeze_count()",
        "src = 'from fastapi import BackgroundTasks\\ndef f(t: BackgroundTasks):\\n    t.add_task(print)\\n'",
        "engine.lint_source('x.py', src, Settings())",
        "print(sorted(set(sys.modules) - before), frozen > 10000, 'libcst' in before,",
        "      gc.get_freeze_count() == frozen)"]))
    assert printed == ["[]", "True", "True", "True"]  # the lint itself freezes nothing more


def test_prepare_leaves_a_disabled_collector_alone() -> None:
    printed = prepare_in_a_fresh_process("gc.disable()", "print(gc.isenabled(), gc.get_freeze_count())")
    assert printed == ["False", "0"]
