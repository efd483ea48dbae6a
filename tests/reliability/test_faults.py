"""Fault injection: an internal error in one file becomes one FBG901 finding on that file, and
every other file is still checked — through the real `flake8` (serial and with `-j2`), the
standalone command, and `lint_source` in-process, whether the fault is injected by the engine's
hook or deep inside the analysis.
"""

from __future__ import annotations

import builtins
import dataclasses
import os
from pathlib import Path
from typing import List

import pytest
from support import fail_analysis

from flake8_fastapi_bg.engine import ISSUES_URL, lint_source
from flake8_fastapi_bg.settings import Settings


ROUTE = '''from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


{task}


@app.post("/{name}")
def endpoint(background_tasks: BackgroundTasks):
    background_tasks.add_task({call})
'''
# a.py: a real finding (FBG101); b.py: a harmless task; c.py: another real finding.
DERIVE = ("import hashlib\n\n\ndef derive(s: bytes) -> bytes:\n"
          "    return hashlib.pbkdf2_hmac('sha256', s, b'salt', 600_000)")
FILES = {
    "a.py": ROUTE.format(name="a", task=DERIVE, call="derive, b's'"),
    "b.py": ROUTE.format(name="b", task="def log(x: int) -> None:\n    print(x)", call="log, 1"),
    "c.py": ROUTE.format(name="c", task=DERIVE, call="derive, b'c'"),
}
TASK_LINE = FILES["a.py"].splitlines().index("    background_tasks.add_task(derive, b's')") + 1
REAL = {("a.py", TASK_LINE, 5, "FBG101"), ("c.py", TASK_LINE, 5, "FBG101")}

# Runs a command with a hook wrapped around `engine._lint`: the hook logs "pid display" for every analysed
# file and raises EXC for the file named TARGET. argv: TARGET LOG EXC then the command's args.
DRIVER = '''
import builtins, os, sys
from flake8_fastapi_bg import engine
target, log, exc = sys.argv[1:4]
def hook(display):
    with open(log, "a") as handle:
        handle.write(f"{{os.getpid()}} {{display}}\\n")
    if os.path.basename(display) == target:
        raise getattr(builtins, exc)("injected fault in " + display)
analyse = engine._lint
def hooked(display, *args, **kwargs):
    hook(display)
    return analyse(display, *args, **kwargs)
engine._lint = hooked
with open(log + ".main", "w") as handle:
    handle.write(str(os.getpid()))
from {module} import main
sys.exit(main(sys.argv[4:]))
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'faulty'\n")
    for name, source in FILES.items():
        (tmp_path / name).write_text(source)
    return tmp_path


@pytest.fixture
def run_with_fault(python_run):
    """Run `module.main(args)` with a hook raising `exc` for `target`; returns the process, the
    (pid, display) of every hook call, and the pid of the process that called main()."""

    def run(project: Path, module: str, target: str, exc: str, *args: str):
        log = project / "hook.log"
        result = python_run("-c", DRIVER.format(module=module), target, str(log), exc, *args, cwd=project)
        calls = [line.split(" ", 1) for line in log.read_text().splitlines()] if log.exists() else []
        main_pid = (project / "hook.log.main").read_text()
        return result, calls, main_pid

    return run


def internal_errors(output: str) -> List[str]:
    return [line for line in output.splitlines() if ": FBG901 " in line]


def assert_one_internal_error(result, target: str, exc: str) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    errors = internal_errors(result.stdout)
    assert len(errors) == 1, result.stdout
    line = errors[0]
    assert line.startswith(f"{target}:1:1: FBG901 ") or line.startswith(f"./{target}:1:1: FBG901 "), line
    assert f"internal error while analysing this file: {exc}: " in line, line
    assert "injected fault in " in line and f"{target}" in line, line  # KeyError quotes its message
    assert "the file was not checked" in line and f"please report it at {ISSUES_URL}" in line, line


FLAKE8_CASES = [
    ("-j1", "c.py", "RuntimeError"),
    ("-j1", "b.py", "RecursionError"),
    ("-j1", "c.py", "MemoryError"),
    ("-j2", "c.py", "RuntimeError"),
    ("-j2", "b.py", "KeyError"),
    ("-j2", "a.py", "MemoryError"),
]


@pytest.mark.parametrize("jobs, target, exc", FLAKE8_CASES)
def test_fault_through_flake8(project: Path, run_with_fault, parse_output, jobs: str, target: str,
                              exc: str) -> None:
    result, calls, main_pid = run_with_fault(project, "flake8.main.cli", target, exc,
                                             "--select", "FBG", jobs, "a.py", "b.py", "c.py")
    assert result.returncode == 1, result.stderr
    assert_one_internal_error(result, target, exc)
    # the faulted file reports only FBG901; the others keep their findings
    assert parse_output(result.stdout) == {f for f in REAL if f[0] != target} | {(target, 1, 1, "FBG901")}, \
        result.stdout
    # the hook ran once per file
    assert sorted(display for _, display in calls) == ["a.py", "b.py", "c.py"]
    pids = {pid for pid, _ in calls}
    if jobs == "-j2":
        # flake8 ran the files in forked pool workers, which inherited the hook set before main()
        assert main_pid not in pids, (main_pid, pids)
    else:
        assert pids == {main_pid}


def test_fault_alone_makes_the_exit_status_1(project: Path, run_with_fault, parse_output) -> None:
    # b.py has no real finding: the FBG901 alone fails the run
    result, _, _ = run_with_fault(project, "flake8.main.cli", "b.py", "ValueError", "--select", "FBG", "b.py")
    assert result.returncode == 1
    assert_one_internal_error(result, "b.py", "ValueError")
    assert parse_output(result.stdout) == {("b.py", 1, 1, "FBG901")}


@pytest.mark.parametrize("target, exc", [("c.py", "RuntimeError"), ("a.py", "RecursionError")])
def test_fault_through_the_standalone_command(project: Path, run_with_fault, parse_output, target: str,
                                              exc: str) -> None:
    result, calls, _ = run_with_fault(project, "flake8_fastapi_bg.cli", target, exc, ".")
    assert result.returncode == 1, result.stderr
    assert_one_internal_error(result, target, exc)
    assert parse_output(result.stdout) == {f for f in REAL if f[0] != target} | {(target, 1, 1, "FBG901")}
    assert sorted(os.path.basename(display) for _, display in calls) == ["a.py", "b.py", "c.py"]


def test_fault_through_the_standalone_command_json(project: Path, run_with_fault) -> None:
    import json

    result, _, _ = run_with_fault(project, "flake8_fastapi_bg.cli", "b.py", "KeyError",
                                  "--format", "json", ".")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    records = json.loads(result.stdout)
    assert sorted((r["path"].removeprefix("./"), r["code"]) for r in records) == [
        ("a.py", "FBG101"), ("b.py", "FBG901"), ("c.py", "FBG101")]


# --- in-process -------------------------------------------------------------------------------


@pytest.fixture
def hook_raising(monkeypatch):
    def install(exc: BaseException, only: str = "c.py") -> None:
        def hook(display: str) -> None:
            if os.path.basename(display) == only:
                raise exc

        fail_analysis(monkeypatch, hook)

    return install


def _lint(project: Path, name: str) -> list:
    return lint_source(name, (project / name).read_text(), Settings(), project / name)


@pytest.mark.parametrize("exc", [ValueError("bad value"), KeyError("missing"), RecursionError("deep"),
                                 AttributeError("'NoneType' object has no attribute 'x'"),
                                 TypeError(), MemoryError(), UnicodeDecodeError("utf-8", b"\xff", 0, 1, "no"),
                                 ZeroDivisionError("x\ny\nz" * 100)])
def test_hook_exception_becomes_one_internal_error(project: Path, hook_raising, exc: BaseException) -> None:
    hook_raising(exc)
    findings = _lint(project, "c.py")
    assert [(f.code, f.line, f.col) for f in findings] == [("FBG901", 1, 0)]
    message = findings[0].message
    assert message.startswith(f"internal error while analysing this file: {type(exc).__name__}")
    assert "\n" not in message and len(message) < 400
    assert "(at engine.py:" in message and ISSUES_URL in message
    # the other files are untouched by the hook
    assert [(f.code, f.line) for f in _lint(project, "a.py")] == [("FBG101", TASK_LINE)]
    assert _lint(project, "b.py") == []


def test_hook_not_called_for_files_without_task_words(project: Path, hook_raising) -> None:
    # The pre-filter keeps files that cannot schedule a task away from the analysis entirely.
    (project / "c.py").write_text("def derive(s):\n    return s\n")
    hook_raising(RuntimeError("never"))
    assert _lint(project, "c.py") == []


def test_keyboard_interrupt_is_not_swallowed(project: Path, hook_raising) -> None:
    # The barrier catches errors, not the user's Ctrl-C.
    hook_raising(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        _lint(project, "c.py")


def test_pragma_findings_survive_nothing_but_the_fault(project: Path, hook_raising) -> None:
    # A fault during analysis replaces the whole file's findings, FBG902 included: one finding.
    (project / "c.py").write_text(FILES["c.py"].replace("def derive", "# fastapi-bg: bogus\ndef derive"))
    hook_raising(RuntimeError("boom"))
    assert [f.code for f in _lint(project, "c.py")] == ["FBG901"]


DEEP_TARGETS = [
    ("flake8_fastapi_bg.analyse.Analyser", "facts"),
    ("flake8_fastapi_bg.analyse.Analyser", "reach"),
    ("flake8_fastapi_bg.collect", "collect_sites"),
    ("flake8_fastapi_bg.analyse", "resolve"),
    ("flake8_fastapi_bg.project", "project_for"),
    ("flake8_fastapi_bg.slicing", "_statement_groups"),  # the linted file's `ast` summary
    ("flake8_fastapi_bg.pragmas", "unknown_tags"),
    ("flake8_fastapi_bg.engine", "may_schedule_tasks"),
    ("flake8_fastapi_bg.engine", "knowledge_for"),
]


@pytest.mark.parametrize("owner, attribute", DEEP_TARGETS, ids=[a for _, a in DEEP_TARGETS])
def test_fault_deep_inside_the_analysis(project: Path, monkeypatch, owner: str, attribute: str) -> None:
    import importlib

    module_name, _, class_name = owner.rpartition(".") if owner.endswith("Analyser") else (owner, "", "")
    target = getattr(importlib.import_module(module_name), class_name) if class_name else \
        importlib.import_module(owner)
    assert hasattr(target, attribute), f"{owner}.{attribute} is gone: update DEEP_TARGETS"

    def boom(*args, **kwargs):
        raise LookupError(f"deep fault in {attribute}")

    monkeypatch.setattr(target, attribute, boom)
    findings = _lint(project, "c.py")
    assert [f.code for f in findings] == ["FBG901"]
    assert f"LookupError: deep fault in {attribute}" in findings[0].message


@pytest.mark.parametrize("code", ["FBG101", "FBG204"])
def test_fault_in_a_rule_check(project: Path, monkeypatch, code: str) -> None:
    from flake8_fastapi_bg.rules import REGISTRY

    def boom(*args, **kwargs):
        raise IndexError("rule fault")

    monkeypatch.setitem(REGISTRY, code, dataclasses.replace(REGISTRY[code], check=boom))
    for name in ("a.py", "b.py", "c.py"):  # every file has a site, so every file faults
        findings = _lint(project, name)
        assert [f.code for f in findings] == ["FBG901"], name
        assert "IndexError: rule fault" in findings[0].message


def test_fault_in_a_module_the_task_reaches(tmp_path: Path, monkeypatch) -> None:
    # A module the task reaches that cannot be read is simply absent: no finding, no FBG901.
    route = ROUTE.format(name="r", task="from jobs import derive", call="derive, b'x'")
    for name in ("ok", "broken"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "pyproject.toml").write_text("[project]\nname = 'x'\n")
        (tmp_path / name / "jobs.py").write_text("import hashlib\n\n\ndef derive(s):\n"
                                                 "    return hashlib.pbkdf2_hmac('sha256', s, b'salt', 1)\n")
        (tmp_path / name / "r.py").write_text(route)
    ok = lint_source("r.py", route, Settings(), tmp_path / "ok" / "r.py")
    assert [f.code for f in ok] == ["FBG101"]

    unreadable = str(tmp_path / "broken" / "jobs.py")
    real_open = builtins.open

    def broken_open(file, *args, **kwargs):  # however the engine reads it
        if os.fspath(file) == unreadable:
            raise PermissionError("unreadable")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", broken_open)
    assert lint_source("r.py", route, Settings(), tmp_path / "broken" / "r.py") == []
