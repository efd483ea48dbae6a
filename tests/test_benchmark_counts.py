"""The benchmark's instruction count: every process counted once, forked workers included."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_run", RUN)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        yield module
    finally:
        del sys.modules[spec.name]


def test_worker_counts_lose_what_they_inherited_at_the_fork(bench) -> None:
    stderr = ("fbg-bench: fork probe 11 worker 12\n"
              "fbg-bench: fork probe 13 worker 14\n"
              "==11== I   refs:      1,000\n"
              "==12== I   refs:      5,000\n"
              "==13== I   refs:      1,100\n"
              "==14== I   refs:      4,100\n"
              "==10== I   refs:      1,500\n")
    # main 1,500 + worker 12 (5,000 - 1,000) + worker 14 (4,100 - 1,100)
    assert bench.own_instructions(stderr) == 8_500
    assert bench.own_instructions("==10== I   refs:      1,500\n") == 1_500  # no fork
    assert bench.own_instructions("fbg-bench: fork probe 11 worker 12\n==12== I refs: 5\n") is None
    assert bench.own_instructions("") is None


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind")
def test_a_forked_child_starts_with_its_parents_count(bench, tmp_path: Path) -> None:
    """The premise of the probes: cachegrind copies the count into a forked child."""
    script = tmp_path / "fork.py"
    script.write_text("import os\nsum(i * i for i in range(300_000))\n"
                      "pid = os.fork()\nif pid == 0:\n    os._exit(0)\nos.waitpid(pid, 0)\n")
    result = subprocess.run(bench.CACHEGRIND + [sys.executable, str(script)], capture_output=True,
                            text=True, timeout=600)
    counts = [int(n.replace(",", "")) for _, n in bench.INSTRUCTIONS.findall(result.stderr)]
    assert len(counts) == 2
    child, parent = sorted(counts)
    assert child > 0.9 * parent  # the child did nothing after the fork but exit


def test_measured_commands_keep_the_bytecode_cache(bench, monkeypatch) -> None:
    """With PYTHONDONTWRITEBYTECODE inherited, the plugin's modules would be compiled again in
    every measured run (a fresh checkout has no `.pyc`) and counted as the plugin's cost."""
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setenv("FBG_SOMETHING", "kept")
    env = bench.measured_environment()
    assert "PYTHONDONTWRITEBYTECODE" not in env and env["FBG_SOMETHING"] == "kept"
