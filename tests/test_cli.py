"""The standalone command: discovery, configuration, selection, noqa, formats, fixes, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest
from support import fail_analysis, write_tree

from flake8_fastapi_bg import cli, engine
from flake8_fastapi_bg.model import Edit, Finding, Fix
from flake8_fastapi_bg.rules import REGISTRY

ROOT = Path(__file__).resolve().parent.parent
SHOP = ROOT / "examples" / "shop"
BAD = REGISTRY["FBG101"].bad.source  # one FBG101 on its add_task line
GOOD = REGISTRY["FBG101"].good.source

TASK_MODULE = 'def record_visit(user: str) -> None:\n    print("visit", user)\n'
ROUTE_MODULE = '''from fastapi import APIRouter, BackgroundTasks

from app.stats import record_visit

router = APIRouter()


@router.post("/visit")
def visit(user: str, background_tasks: BackgroundTasks) -> dict:
    background_tasks.add_task(record_visit, user)
    return {"ok": True}
'''


def write(root: Path, files: Dict[str, str]) -> Path:
    return write_tree(root, files)


def task_line(source: str) -> int:
    return next(i for i, line in enumerate(source.splitlines(), 1) if ".add_task(" in line)


def with_comment(source: str, comment: str) -> str:
    lines = source.splitlines()
    number = task_line(source)
    lines[number - 1] += f"  {comment}"
    return "\n".join(lines) + "\n"


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple:
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def codes(out: str) -> List[str]:
    return [line.split(": ", 1)[1].split()[0] for line in out.splitlines()]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A two-module app whose task is fine unless configured as critical; cwd is its root."""
    write(tmp_path, {"app/__init__.py": "", "app/stats.py": TASK_MODULE, "app/routes.py": ROUTE_MODULE})
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path.parent))
    return tmp_path


# --- the example app, and parity with flake8 ------------------------------------------------------


def test_example_app_matches_flake8_output_exactly() -> None:
    ours = subprocess.run([sys.executable, "-m", "flake8_fastapi_bg", "app"], cwd=SHOP,
                          capture_output=True, text=True)
    theirs = subprocess.run([sys.executable, "-m", "flake8", "--select", "FBG", "app"], cwd=SHOP,
                            capture_output=True, text=True)
    assert ours.returncode == theirs.returncode == 1, ours.stderr + theirs.stderr
    assert ours.stdout == theirs.stdout
    assert {"FBG101", "FBG102", "FBG103", "FBG104", "FBG105"} <= set(codes(ours.stdout))


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "flake8-fastapi-bg"  # installed by pip install -e .
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("flake8-fastapi-bg ")


# --- exit status and selection --------------------------------------------------------------------


def test_clean_exits_0_findings_exit_1(project: Path, capsys) -> None:
    assert run(capsys, "app") == (0, "", "")
    write(project, {"bad.py": BAD})
    status, out, _ = run(capsys)
    assert status == 1 and codes(out) == ["FBG101"]
    assert out.startswith(f"bad.py:{task_line(BAD)}:5: FBG101 ")  # not ./bad.py: see test_paths_*
    assert run(capsys, "--exit-zero", "bad.py")[0] == 0


@pytest.mark.parametrize("argv, reported", [
    (["--select", "FBG1"], True), (["--select", "FBG2"], False), (["--ignore", "FBG10"], False),
    (["--select", "FBG101", "--ignore", "FBG1"], True), (["--select", "FBG1", "--ignore", "FBG101"], False),
    (["--ignore", "FBG102,FBG103"], True), (["--select", "FBG9"], False), (["--ignore", "FBG"], False),
])
def test_select_and_ignore_by_prefix(project: Path, capsys, argv: List[str], reported: bool) -> None:
    write(project, {"bad.py": BAD})
    status, out, _ = run(capsys, "bad.py", *argv)
    assert (status, bool(out)) == (int(reported), reported)


def usage_error(err: str) -> str:
    """The one-line error of a usage error, checking that a hint line follows it."""
    error, hint = err.splitlines()
    assert error.startswith("flake8-fastapi-bg: error: ") and hint.startswith("hint: "), err
    return error


def test_bad_code_prefix_is_a_usage_error(project: Path, capsys) -> None:
    status, out, err = run(capsys, "--select", "fbg1")
    assert status == 2 and out == "" and "'fbg1'" in usage_error(err)


@pytest.mark.parametrize("argv, fragment, hint", [
    (["--select", "FGB104"], "--select 'FGB104' matches no rule", "did you mean FBG104?"),
    (["--ignore", "FBG1O4"], "--ignore 'FBG1O4' is not a code prefix", "did you mean FBG104?"),
    (["--select", "FBG3"], "--select 'FBG3' matches no rule", "--list-rules"),
    (["--select", "E,W"], "--select 'E' matches no rule", "--list-rules"),  # not flake8: FBG only
    (["--select", "FBG1,FBG10"], None, None),
    (["--select", "FBG1,FBG109"], "--select 'FBG109' matches no rule", "did you mean FBG"),
    (["--select", ""], "--select is empty", "leave --select out"),
    (["--select", "fbg104"], "--select 'fbg104' is not a code prefix", "did you mean FBG104?"),
])
def test_a_code_that_matches_no_rule_is_a_usage_error(project: Path, capsys, argv, fragment, hint) -> None:
    # A typo must never turn a CI gate into a silent pass: this file has a finding.
    write(project, {"bad.py": BAD})
    status, out, err = run(capsys, "bad.py", *argv)
    if fragment is None:  # the same values, all valid
        assert status == 1 and err == ""
        return
    assert (status, out) == (2, "") and fragment in usage_error(err) and hint in err.splitlines()[1]


@pytest.mark.parametrize("argv", [["--select", "FBG"], ["--select", "FBG1"], ["--select", "FBG10"],
                                  ["--ignore", "FBG2"], ["--select", "FBG101"], ["--ignore", "FBG9"]])
def test_prefixes_of_existing_codes_are_valid(project: Path, capsys, argv: List[str]) -> None:
    write(project, {"bad.py": BAD})
    assert run(capsys, "bad.py", *argv)[0] == 1


@pytest.mark.parametrize("argv, fragment", [
    (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["--format", "jsn"], "invalid choice: 'jsn'"),
    (["--fastapi-bg-max-depth"], "expected one argument"),
])
def test_argparse_errors_are_one_line_and_a_hint(capsys, argv: List[str], fragment: str) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    captured = capsys.readouterr()
    assert exc.value.code == 2 and captured.out == ""
    assert fragment in usage_error(captured.err) and "--help" in captured.err


# --- # noqa, as flake8 does it --------------------------------------------------------------------


@pytest.mark.parametrize("comment, reported", [
    ("# noqa", False), ("# NOQA", False), ("# noqa: FBG101", False), ("# noqa:FBG101,E501", False),
    ("# noqa: FBG1", False), ("# noqa: E501", True), ("# noqa: FBG102", True), ("# noqa : FBG101", False),
])
def test_inline_noqa(project: Path, capsys, comment: str, reported: bool) -> None:
    write(project, {"bad.py": with_comment(BAD, comment)})
    assert run(capsys, "bad.py")[0] == int(reported)
    assert run(capsys, "--disable-noqa", "bad.py")[0] == 1


def test_noqa_line_numbers_ignore_form_feeds(project: Path, capsys) -> None:
    # str.splitlines() would split at the form feed and look for `# noqa` one line off.
    write(project, {"bad.py": "# page one\x0c page two\n" + with_comment(BAD, "# noqa: FBG101")})
    assert run(capsys, "bad.py")[0] == 0


def test_noqa_agrees_with_flake8_on_multiline_strings(project: Path, capsys) -> None:
    # The finding is on the add_task line; the string token spans to the next line, and flake8
    # searches `# noqa` in every line of that token.
    source = BAD.replace('"/tmp/avatar.png")', '"""/tmp/\navatar.png""")  # noqa: FBG101')
    assert source != BAD
    write(project, {"bad.py": source, "other.py": source.replace("# noqa: FBG101", "")})
    status, out, _ = run(capsys, "bad.py", "other.py")
    assert status == 1 and out.startswith("other.py:")
    flake8 = subprocess.run([sys.executable, "-m", "flake8", "--select", "FBG", "bad.py", "other.py"],
                            cwd=project, capture_output=True, text=True)
    assert flake8.stdout == out


def test_noqa_map_only_for_files_that_can_silence(project: Path, capsys, monkeypatch) -> None:
    # Mapping lines to `# noqa` tokenizes the whole file: only a file with the word pays it.
    tokenized: List[str] = []
    real = cli.noqa_lines
    monkeypatch.setattr(cli, "noqa_lines", lambda text: tokenized.append(text) or real(text))
    write(project, {"bad.py": BAD, "quiet.py": with_comment(BAD, "# NoQA: FBG101")})
    assert run(capsys, "bad.py")[0] == 1 and tokenized == []
    assert run(capsys, "quiet.py")[0] == 0 and len(tokenized) == 1


def test_file_level_flake8_noqa(project: Path, capsys) -> None:
    write(project, {"bad.py": "# flake8: noqa\n" + BAD})
    assert run(capsys, "bad.py")[0] == 0
    assert run(capsys, "--disable-noqa", "bad.py")[0] == 1


# --- configuration --------------------------------------------------------------------------------


def test_pyproject_configuration(project: Path, capsys) -> None:
    write(project, {"pyproject.toml": '[tool.flake8-fastapi-bg]\ncritical = ["app.stats.*"]\n'})
    status, out, _ = run(capsys, "app")
    assert status == 1 and codes(out) == ["FBG104"] and "fastapi-bg-critical" in out


@pytest.mark.parametrize("name", ["setup.cfg", "tox.ini", ".flake8"])
def test_flake8_ini_configuration_found_upward(project: Path, capsys, monkeypatch, name: str) -> None:
    config = "[flake8]\nmax-line-length = 100\nfastapi_bg_critical =\n    app.stats.*\n    other.*\n"
    write(project, {name: config})
    monkeypatch.chdir(project / "app")
    status, out, _ = run(capsys, ".")
    assert status == 1 and codes(out) == ["FBG104"]


def test_ini_without_flake8_section_is_not_a_config(project: Path, capsys) -> None:
    write(project, {"setup.cfg": "[metadata]\nname = x\n",
                    "tox.ini": "[flake8]\nfastapi-bg-critical = app.*\n"})
    assert run(capsys, "app")[0] == 1


def test_command_line_options_from_settings_options(project: Path, capsys) -> None:
    flag = "--fastapi-bg-critical"
    assert run(capsys, "app", flag, "nothing.*", flag, "app.stats.*")[0] == 1
    assert run(capsys, "app", flag, "x.*,app.stats.record_*", "--fastapi-bg-max-depth", "3")[0] == 1
    write(project, {"pyproject.toml": '[tool.flake8-fastapi-bg]\nbest-effort = ["app.stats.*"]\n'})
    assert run(capsys, "app", "--fastapi-bg-critical", "app.stats.*")[0] == 0


def test_command_line_overrides_ini_per_option_like_flake8(project: Path, capsys) -> None:
    write(project, {"setup.cfg": "[flake8]\nfastapi-bg-critical = app.stats.*\n"})
    assert run(capsys, "app")[0] == 1
    assert run(capsys, "app", "--fastapi-bg-critical", "other.*")[0] == 0
    assert run(capsys, "app", "--isolated")[0] == 0
    write(project, {"custom.ini": "[flake8]\nfastapi-bg-critical = app.stats.*\n", "setup.cfg": "[flake8]\n"})
    assert run(capsys, "app")[0] == 0
    assert run(capsys, "app", "--config", "custom.ini")[0] == 1


@pytest.mark.parametrize("files, argv, fragment", [
    ({"pyproject.toml": "[tool.flake8-fastapi-bg]\ncritcal = ['a.*']\n"}, [], "critcal"),
    ({"pyproject.toml": "[tool.flake8-fastapi-bg]\nmax-depth = 'lots'\n"}, [], "max-depth"),
    ({"setup.cfg": "[flake8]\nfastapi-bg-max-depth = 99\n"}, [], "out of range"),
    ({"setup.cfg": "[flake8]\nfastapi-bg-critcal = a.*\n"}, [], "fastapi-bg-critcal"),
    ({"setup.cfg": "[flake8\nbroken"}, ["--config", "setup.cfg"], "cannot parse"),
    ({}, ["--fastapi-bg-fastapi-version", "new"], "not a version"),
    ({}, ["--fastapi-bg-light", "app.(x)"], "not a qualified-name glob"),
    ({}, ["--config", "missing.cfg"], "missing.cfg"),
])
def test_configuration_errors_exit_2_with_one_line(project: Path, capsys, files, argv, fragment) -> None:
    write(project, files)
    status, out, err = run(capsys, "app", *argv)
    assert (status, out) == (2, "")
    assert len(err.strip().splitlines()) == 1 and fragment in err, err


# --- files: discovery, encodings, stdin -----------------------------------------------------------


def test_discovery_skips_tool_directories_and_excludes(project: Path, capsys) -> None:
    for skipped in (".venv", "venv", ".git", "__pycache__", "node_modules", "build", "dist", ".tox",
                    "pkg.egg-info", "migrations"):
        write(project, {f"{skipped}/bad.py": BAD})
    write(project, {"src/bad.py": BAD, "src/notes.txt": BAD, "src/gen/bad_pb2.py": BAD})
    status, out, _ = run(capsys, "--exclude", "migrations", "--exclude", "*_pb2.py")
    assert status == 1
    assert [line.split(":")[0] for line in out.splitlines()] == ["src/bad.py"]
    status, out, _ = run(capsys, "src/notes.txt")  # a named file is linted whatever its suffix
    assert status == 1 and out.startswith("src/notes.txt:")


def test_missing_and_unreadable_files_are_reported_and_skipped(project: Path, capsys) -> None:
    write(project, {"bad.py": BAD})
    (project / "binary.py").write_bytes(b"x = '\xff\xfe'\n")
    (project / "cookie.py").write_bytes(b"# -*- coding: klingon -*-\nx = 1\n")
    status, out, err = run(capsys, "missing.py", "binary.py", "cookie.py", "bad.py")
    assert status == 1 and codes(out) == ["FBG101"]
    assert [line.split(":")[1].strip() for line in err.splitlines()] == [
        "cannot read missing.py", "cannot read binary.py", "cannot read cookie.py"]
    assert run(capsys, "missing.py")[0] == 1


def test_coding_cookie_and_bom(project: Path, capsys) -> None:
    latin = "# -*- coding: latin-1 -*-\n# café\n" + BAD
    (project / "latin.py").write_bytes(latin.encode("latin-1"))
    (project / "bom.py").write_bytes(b"\xef\xbb\xbf" + BAD.encode("utf-8"))
    status, out, err = run(capsys, "latin.py", "bom.py")
    assert (status, err) == (1, "")
    assert [line.split(":")[:2] for line in out.splitlines()] == [
        ["latin.py", str(task_line(BAD) + 2)], ["bom.py", str(task_line(BAD))]]


def test_stdin(project: Path, capsys, monkeypatch) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(BAD.encode())))
    status, out, _ = run(capsys, "-", "--stdin-display-name", "app/upload.py")
    assert status == 1 and out.startswith("app/upload.py:")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(BAD.encode())))
    assert run(capsys, "-")[1].startswith("stdin:")
    status, _, err = run(capsys, "--fix", "-")
    assert status == 2 and "standard input" in usage_error(err) and "--diff" in err


def test_internal_errors_are_findings_not_crashes(project: Path, capsys, monkeypatch) -> None:
    def explode(display: str) -> None:
        raise RuntimeError("boom")

    fail_analysis(monkeypatch, explode)
    write(project, {"bad.py": BAD})
    status, out, _ = run(capsys, "bad.py")
    assert status == 1 and codes(out) == ["FBG901"] and "boom" in out


# --- formats --------------------------------------------------------------------------------------


def test_json_format_and_output_file(project: Path, capsys) -> None:
    write(project, {"bad.py": BAD})
    status, out, _ = run(capsys, "--format", "json", "bad.py")
    records = json.loads(out)
    assert status == 1 and [r["code"] for r in records] == ["FBG101"]
    assert records[0]["path"] == "bad.py" and records[0]["column"] == 5 and records[0]["fix"] is None
    status, out, _ = run(capsys, "--format", "sarif", "--output-file", "report.sarif", "bad.py")
    assert (status, out) == (1, "")
    log = json.loads((project / "report.sarif").read_text(encoding="utf-8"))
    location = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "bad.py"
    assert json.loads(run(capsys, "--format", "json", "app")[1]) == []


def test_github_format(project: Path, capsys) -> None:
    write(project, {"src/bad.py": BAD})
    out = run(capsys, "--format", "github", ".")[1]
    line = task_line(BAD)
    end = len(BAD.splitlines()[line - 1]) + 1
    expected = (f"::warning file=src/bad.py,line={line},col=5,endLine={line},endColumn={end},"
                f"title=FBG101 cpu-heavy-task::")
    assert out.startswith(expected)


def test_colour_only_on_a_terminal_without_no_color(project: Path, monkeypatch) -> None:
    import io

    write(project, {"bad.py": BAD})

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    def output(*argv: str) -> str:
        out = Terminal()
        cli.run(cli.build_parser().parse_args(["bad.py", *argv]), out)
        return out.getvalue()

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert "\033[" in output()
    assert "\033[" not in output("--color", "never")
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\033[" not in output()
    assert "\033[" in output("--color", "always")


# --- fixes ----------------------------------------------------------------------------------------

FIXABLE = 'import os\n\n\ndef job():\n    pass\n\n\ntasks.add_task(job())  # a comment stays\n'


def fake_engine(display: str, source: str, settings, path: Optional[Path] = None,
                **_: object) -> List[Finding]:
    """Stands in for the engine: one fixable finding per `add_task(job())`."""
    findings = []
    for number, line in enumerate(source.split("\n"), 1):
        col = line.find("add_task(job())")
        if col >= 0:
            start = col + len("add_task(")
            fix = Fix("pass the function", (Edit((number, start), (number, start + len("job()")), "job"),))
            findings.append(Finding("FBG201", number, 0, "task called, not passed", fix))
        if "add_task(" in line and "never" in line:
            findings.append(Finding("FBG202", number, 0, "not fixable"))
    return findings


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "lint_source", fake_engine)


def test_fix_applies_edits_in_place_keeping_encoding_and_newlines(project: Path, capsys, fake) -> None:
    source = "# -*- coding: latin-1 -*-\n# café\n" + FIXABLE + "tasks.add_task(job(), never)\n"
    (project / "t.py").write_bytes(source.replace("\n", "\r\n").encode("latin-1"))
    status, out, err = run(capsys, "--fix", "t.py")
    expected = source.replace("tasks.add_task(job())  #", "tasks.add_task(job)  #")
    assert (project / "t.py").read_bytes() == expected.replace("\n", "\r\n").encode("latin-1")
    assert status == 1 and codes(out) == ["FBG202"]  # what the re-lint still finds
    assert "fixed 1 finding(s) in 1 file(s)" in err
    status, out, err = run(capsys, "--fix", "t.py")
    assert status == 1 and err == ""


def test_fix_everything_exits_0(project: Path, capsys, fake) -> None:
    write(project, {"t.py": FIXABLE})
    assert run(capsys, "--fix", "t.py")[:2] == (0, "")
    assert "add_task(job)  # a comment stays" in (project / "t.py").read_text()


def test_fix_respects_noqa_and_select(project: Path, capsys, fake) -> None:
    write(project, {"a.py": FIXABLE.replace("# a comment stays", "# noqa: FBG201"), "b.py": FIXABLE})
    run(capsys, "--fix", "a.py")
    run(capsys, "--fix", "--ignore", "FBG2", "b.py")
    assert (project / "a.py").read_text() == FIXABLE.replace("# a comment stays", "# noqa: FBG201")
    assert (project / "b.py").read_text() == FIXABLE


def test_diff_prints_without_writing(project: Path, capsys, fake) -> None:
    write(project, {"src/t.py": FIXABLE, "src/clean.py": "x = 1\n"})
    status, out, _ = run(capsys, "--diff", "src")
    assert status == 1 and (project / "src/t.py").read_text() == FIXABLE
    assert out.splitlines()[:2] == ["--- a/src/t.py", "+++ b/src/t.py"]
    assert "-tasks.add_task(job())  # a comment stays" in out
    assert "+tasks.add_task(job)  # a comment stays" in out
    assert run(capsys, "--diff", "src/clean.py") == (0, "", "")


def test_a_fix_that_breaks_the_code_is_refused(project: Path, capsys, monkeypatch) -> None:
    def breaking(display, source, settings, path=None, **_):
        return [Finding("FBG201", 1, 0, "x", Fix("break", (Edit((1, 0), (1, 1), "("),)))]

    monkeypatch.setattr(engine, "lint_source", breaking)
    write(project, {"t.py": "x = 1\n"})
    status, _, err = run(capsys, "--fix", "t.py")
    assert status == 1 and "invalid code" in err and (project / "t.py").read_text() == "x = 1\n"


@pytest.mark.parametrize("code", ["FBG201", "FBG208"])
def test_real_fixes_from_the_rules(project: Path, capsys, code: str) -> None:
    rule = REGISTRY[code]
    assert rule.fixable
    write(project, {"bad.py": rule.bad.source})
    assert code in codes(run(capsys, "bad.py")[1])
    status, diff, _ = run(capsys, "--diff", "bad.py")
    assert status == 1 and diff.startswith("--- a/bad.py")
    run(capsys, "--fix", "bad.py")
    fixed = (project / "bad.py").read_text(encoding="utf-8")
    compile(fixed, "bad.py", "exec")
    assert code not in codes(run(capsys, "bad.py")[1])
    assert run(capsys, "--diff", "bad.py")[0] in (0, 1) and run(capsys, "--diff", "bad.py")[1] == ""


# --- information ----------------------------------------------------------------------------------


def test_explain_prints_the_rule_page_as_plain_text(capsys) -> None:
    for code, rule in sorted(REGISTRY.items()):
        page = (ROOT / "docs" / "rules" / f"{code}.md").read_text(encoding="utf-8")
        status, out, _ = run(capsys, "--explain", code.lower())
        assert status == 0 and out == cli.plain_text(page)
        assert out.startswith(f"{code}: {rule.name}\n") and rule.summary in out
        assert "<!--" not in out and "```" not in out and "](" not in out and "**" not in out
        for title, url in rule.references:
            assert f"{title} ({url})" in out
        for name in (rule.name, rule.name.upper(), rule.name.replace("-", "_"), f" {code} "):
            assert run(capsys, "--explain", name)[1] == out


@pytest.mark.parametrize("wrong, hint", [("FBG000", "--list-rules"), ("critcal-task", "critical-task"),
                                         ("FGB104", "FBG104")])
def test_explain_an_unknown_rule(capsys, wrong: str, hint: str) -> None:
    status, out, err = run(capsys, "--explain", wrong)
    assert (status, out) == (2, "") and repr(wrong) in usage_error(err) and hint in err.splitlines()[1]


def test_plain_text() -> None:
    page = ("# FBG1: x\n\n<!-- generated -->\n\n**Fix available**: see [`opt`](../c.md#opt) and "
            "[Docs](https://e.org/a).\n\n## Example\n\n```python\nif x:\n\n    y()\n```\n")
    assert cli.plain_text(page) == ("FBG1: x\n=======\n\nFix available: see `opt` and Docs "
                                    "(https://e.org/a).\n\nExample\n-------\n\n    if x:\n\n        y()\n")


# --- paths: the finding's and the evidence's are written alike --------------------------------------


CRITICAL_TASK = "import stripe\n\n\ndef record_visit(user: str) -> None:\n    stripe.Charge.create()\n"


@pytest.mark.parametrize("argv, cwd", [
    ([], "."), (["."], "."), (["./app"], "."), (["app"], "."), (["app/routes.py"], "."),
    (["ABSOLUTE"], "."), (["../app"], "other"), (["./app/../app"], "."),
])
def test_paths_of_finding_and_evidence_are_written_alike(
        project: Path, capsys, monkeypatch, argv: List[str], cwd: str) -> None:
    write(project, {"app/stats.py": CRITICAL_TASK, "other/notes.txt": ""})
    monkeypatch.chdir(project / cwd)
    argv = [str(project / "app") if a == "ABSOLUTE" else a for a in argv]
    status, out, _ = run(capsys, "--format", "json", *argv)
    (record,) = json.loads(out)
    assert status == 1 and record["code"] == "FBG104"
    evidence = record["message"].split(" at ", 1)[1].split(":")[0]
    prefix = "../" if cwd != "." else ""
    assert (record["path"], evidence) == (f"{prefix}app/routes.py", f"{prefix}app/stats.py"), record
    text = run(capsys, *argv)[1]
    assert text.startswith(f"{prefix}app/routes.py:") and f" at {prefix}app/stats.py:" in text


def test_version_and_list_rules(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"flake8-fastapi-bg {cli.__version__}"
    status, out, _ = run(capsys, "--list-rules")
    assert status == 0 and [line.split()[0] for line in out.splitlines()] == sorted(REGISTRY)
    assert all(REGISTRY[line.split()[0]].name == line.split()[1] for line in out.splitlines())


def test_python_dash_m(tmp_path: Path) -> None:
    write(tmp_path, {"bad.py": BAD})
    env = dict(os.environ, NO_COLOR="1")
    done = subprocess.run([sys.executable, "-m", "flake8_fastapi_bg", "--format", "json", "bad.py"],
                          cwd=tmp_path, capture_output=True, text=True, env=env)
    assert done.returncode == 1 and json.loads(done.stdout)[0]["code"] == "FBG101"


def test_show_chain_on_the_example_app_matches_flake8(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """`--show-chain` (standalone) and `--fastapi-bg-show-chain` (flake8) print the same chain
    below each FBG1xx finding; the one-line messages stay as they were."""
    monkeypatch.chdir(SHOP)
    status, plain, _ = run(capsys, "app")
    status, chained, _ = run(capsys, "--show-chain", "app")
    assert status == 1
    assert [line for line in chained.splitlines() if not line.startswith("    ")] == plain.splitlines()
    indented = [line for line in chained.splitlines() if line.startswith("    ")]
    assert any(line.startswith("    site app/routes/checkout.py:") for line in indented)
    assert any(line.startswith("    leaf app/services/billing.py:") and "stripe.PaymentIntent.create" in line
               for line in indented)
    theirs = subprocess.run([sys.executable, "-m", "flake8", "--select", "FBG", "--fastapi-bg-show-chain",
                             "app"], cwd=SHOP, capture_output=True, text=True)
    assert sorted(theirs.stdout.splitlines()) == sorted(chained.splitlines())
