"""End to end through the real `flake8` executable with the installed plugin."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from support import run_python

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "shop"

# What the example app must report: (file, line, code). Everything else stays silent.
EXAMPLE_FINDINGS = {
    ("app/routes/checkout.py", 11, "FBG104"),
    ("app/routes/media.py", 21, "FBG101"),
    ("app/routes/media.py", 46, "FBG103"),
    ("app/routes/users.py", 16, "FBG105"),
    ("app/routes/webhooks.py", 14, "FBG102"),
    ("app/routes/mistakes.py", 15, "FBG201"),
    ("app/routes/mistakes.py", 17, "FBG202"),
    ("app/routes/mistakes.py", 19, "FBG208"),
    ("app/routes/mistakes.py", 25, "FBG204"),
    ("app/routes/mistakes.py", 34, "FBG205"),
    ("app/routes/mistakes.py", 39, "FBG209"),
}


def flake8(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess:
    return run_python("-m", "flake8", *args, cwd=cwd, stdin=stdin)


def parse(output: str) -> set:
    found = set()
    for line in output.splitlines():
        path, line_no, _col, rest = line.split(":", 3)
        found.add((path.removeprefix("./"), int(line_no), rest.split()[0]))
    return found


def test_plugin_is_registered() -> None:
    result = flake8("--version", cwd=ROOT)
    assert "flake8-fastapi-bg" in result.stdout


def test_example_app_reports_exactly_the_planted_problems() -> None:
    result = flake8("--select", "FBG", "app", cwd=EXAMPLE)
    assert result.stderr == ""
    found = parse(result.stdout)
    assert found == EXAMPLE_FINDINGS, result.stdout


@pytest.mark.slow
def test_jobs_and_file_order_do_not_change_findings() -> None:
    one = flake8("--select", "FBG", "-j1", "app", cwd=EXAMPLE).stdout
    two = flake8("--select", "FBG", "-j2", "app", cwd=EXAMPLE).stdout
    files = sorted(str(p.relative_to(EXAMPLE)) for p in (EXAMPLE / "app").rglob("*.py"))
    reverse = flake8("--select", "FBG", "-j1", *reversed(files), cwd=EXAMPLE).stdout
    assert parse(one) == parse(two) == parse(reverse) and parse(one)


def test_stdin_with_display_name_resolves_the_project() -> None:
    source = (EXAMPLE / "app/routes/media.py").read_text()
    result = flake8("--select", "FBG", "--stdin-display-name", "app/routes/media.py", "-",
                    cwd=EXAMPLE, stdin=source)
    codes = {(line, code) for _, line, code in parse(result.stdout)}
    assert {(21, "FBG101"), (46, "FBG103")} <= codes, result.stdout


def test_setup_cfg_options_and_noqa(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    shutil.copytree(EXAMPLE, project)
    (project / "setup.cfg").write_text(
        "[flake8]\n"
        "fastapi-bg-best-effort = app.services.billing.BillingService.charge_card\n"
        "fastapi-bg-critical = app.tasks.notify.increment_metric\n"
    )
    media = project / "app/routes/media.py"
    media.write_text(media.read_text().replace(
        "background_tasks.add_task(images.resize_image, path)",
        "background_tasks.add_task(images.resize_image, path)  # noqa: FBG101"))
    found = parse(flake8("--select", "FBG", "app", cwd=project).stdout)
    assert ("app/routes/checkout.py", 11, "FBG104") not in found  # best-effort by option
    assert ("app/routes/users.py", 14, "FBG104") in found  # critical by option
    assert ("app/routes/media.py", 21, "FBG101") not in found  # noqa
    assert ("app/routes/media.py", 46, "FBG103") in found


def test_invalid_configuration_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "setup.cfg").write_text("[flake8]\nfastapi-bg-max-depth = deep\n")
    (tmp_path / "a.py").write_text("x = 1\n")
    result = flake8("a.py", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "fastapi-bg-max-depth" in result.stderr and "not a whole number" in result.stderr


def test_syntax_error_leaves_e999_to_flake8(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("from fastapi import BackgroundTasks\ndef f(:\n")
    result = flake8("bad.py", cwd=tmp_path)
    assert "E999" in result.stdout and "FBG" not in result.stdout


@pytest.mark.parametrize("extra", [[], ["--select", "FBG"]])
def test_clean_file_is_clean(tmp_path: Path, extra: list) -> None:
    (tmp_path / "ok.py").write_text("def add(a: int, b: int) -> int:\n    return a + b\n")
    result = flake8(*extra, "ok.py", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == ""
