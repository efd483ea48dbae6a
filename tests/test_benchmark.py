"""The benchmark stays honest: its synthetic app is flake8-clean and gives the plugin task sites
to resolve across modules, and its two flake8 runs differ only by the plugin."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
# "   flake8 + plugin       warm      0.96    3.58  1 (1 FBG)"
ROW = re.compile(r"^ +(?P<label>\S.*?) +(?P<run>cold|warm) +[\d.]+ +[\d.]+ "
                 r"+(?P<all>\d+) \((?P<fbg>\d+) FBG\)$", re.M)


@pytest.mark.slow  # a few flake8 runs
def test_one_run_on_a_small_synthetic_app(tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import synth
    finally:
        sys.path.remove(str(BENCHMARKS))
    stats = synth.generate(tmp_path / "app", 60)
    assert stats.modules == len(list((tmp_path / "app").rglob("*.py"))) == 60 and stats.sites
    command = [sys.executable, str(BENCHMARKS / "run.py"), str(tmp_path / "app"), "--repeat", "1",
               "--warmup", "0", "--warm", "--jobs", "1", "--plugin-timer"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {(m["label"], m["run"]): (int(m["all"]), int(m["fbg"])) for m in ROW.finditer(done.stdout)}
    assert len(rows) == 6, done.stdout
    # flake8's own checks find nothing in the generated code; the plugin adds FBG findings only,
    # the same as the standalone command's, and a warm run finds what the cold one found.
    assert rows["flake8 (own checks)", "cold"] == (0, 0)
    found = rows["flake8 + plugin", "cold"]
    assert found[0] == found[1] > 0
    assert found == rows["flake8 + plugin", "warm"] == rows["flake8-fastapi-bg", "cold"]
    assert re.search(r"added CPU: cold [+-]\d+%, warm [+-]\d+%", done.stdout), done.stdout
    # --plugin-timer: the plugin's own CPU inside the flake8 run, cold more than warm
    own = re.search(r"plugin's own CPU s \(main process \+ workers\): cold ([\d.]+) \([\d.]+ \+ [\d.]+\), "
                    r"warm ([\d.]+) ", done.stdout)
    assert own is not None and float(own.group(1)) > float(own.group(2)) >= 0, done.stdout
