"""Invalid configuration: one clear line on standard error, exit status 2, no traceback — from the
command line, `setup.cfg`/`tox.ini`/`.flake8`, and `[tool.flake8-fastapi-bg]` in pyproject.toml,
through the real flake8 and through the standalone command. Unknown pragma tags are FBG902
findings, and the run goes on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Tuple

import pytest

from flake8_fastapi_bg.settings import ConfigError, load_pyproject

SOURCE = '''import hashlib
from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


def derive(secret: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", secret, b"salt", 600_000)


@app.post("/x")
def endpoint(background_tasks: BackgroundTasks):
    background_tasks.add_task(derive, b"s")
'''
TOOLS = ["flake8", "standalone"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "a.py").write_text(SOURCE)
    return tmp_path


@pytest.fixture
def run(flake8_run, cli_run):
    def go(tool: str, *args: str, cwd: Path):
        if tool == "flake8":
            return flake8_run("--select", "FBG", *args, "a.py", cwd=cwd)
        return cli_run(*args, "a.py", cwd=cwd)

    return go


def assert_config_error(result, *fragments: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("flake8-fastapi-bg: invalid configuration: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert result.stdout == ""


def test_valid_configuration_runs(project: Path, run) -> None:
    # the baseline the error cases differ from
    (project / "pyproject.toml").write_text('[tool.flake8-fastapi-bg]\ncpu-heavy = ["a.b", "c.*"]\n'
                                            'max-depth = 3\nfastapi-version = "0.110"\n')
    (project / "setup.cfg").write_text("[flake8]\nfastapi-bg-critical = app.billing.*, x.y\n")
    for tool in TOOLS:
        result = run(tool, "--fastapi-bg-max-depth=0", "--fastapi-bg-fastapi-version=0.115.2", cwd=project)
        assert result.returncode == 1 and result.stderr == "", result.stderr
        assert ": FBG101 " in result.stdout


# --- command line ---------------------------------------------------------------------------

FLAG_CASES = [
    ("--fastapi-bg-cpu-heavy=a b[", ("fastapi-bg-cpu-heavy", "'b['", "is not a qualified-name glob")),
    ("--fastapi-bg-cpu-heavy=app.(x)", ("fastapi-bg-cpu-heavy", "'app.(x)'", "is not a qualified-name glob")),
    ("--fastapi-bg-critical=a..b", ("fastapi-bg-critical", "'a..b'")),
    ("--fastapi-bg-light=app.[abc", ("fastapi-bg-light", "is not a qualified-name glob")),
    ("--fastapi-bg-fastapi-version=abc", ("fastapi-bg-fastapi-version", "'abc' is not a version")),
    ("--fastapi-bg-fastapi-version=0.1.2.3", ("fastapi-bg-fastapi-version", "is not a version")),
    ("--fastapi-bg-fastapi-version=v0.115", ("fastapi-bg-fastapi-version", "is not a version")),
    ("--fastapi-bg-max-depth=-1", ("fastapi-bg-max-depth", "-1 is out of range (0 to 50)")),
    ("--fastapi-bg-max-depth=x", ("fastapi-bg-max-depth", "'x' is not a whole number")),
    ("--fastapi-bg-max-depth=1.5", ("fastapi-bg-max-depth", "is not a whole number")),
    ("--fastapi-bg-max-depth=51", ("fastapi-bg-max-depth", "51 is out of range")),
]


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("flag, fragments", FLAG_CASES, ids=[f for f, _ in FLAG_CASES])
def test_invalid_flag(project: Path, run, tool: str, flag: str, fragments: Tuple[str, ...]) -> None:
    assert_config_error(run(tool, flag, cwd=project), *fragments)


@pytest.mark.parametrize("tool", TOOLS)
def test_unknown_flag_is_a_usage_error(project: Path, run, tool: str) -> None:
    result = run(tool, "--fastapi-bg-bogus=1", cwd=project)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "unrecognized arguments: --fastapi-bg-bogus=1" in result.stderr


# --- setup.cfg / tox.ini / .flake8 ------------------------------------------------------------

INI_CASES = [
    ("setup.cfg", "fastapi-bg-cpu-heavy = a b[", ("fastapi-bg-cpu-heavy", "'b['")),
    (".flake8", "fastapi-bg-fastapi-version = abc", ("fastapi-bg-fastapi-version", "'abc' is not a version")),
    ("tox.ini", "fastapi-bg-max-depth = -1", ("fastapi-bg-max-depth", "-1 is out of range")),
    ("setup.cfg", "fastapi_bg_max_depth = x", ("fastapi-bg-max-depth", "'x' is not a whole number")),
    (".flake8", "fastapi-bg-critical =\n    app.billing.*\n    app.(orders)",
     ("fastapi-bg-critical", "'app.(orders)'")),
]


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("name, line, fragments", INI_CASES,
                         ids=[f"{n}:{v.split()[0]}" for n, v, _ in INI_CASES])
def test_invalid_ini_value(project: Path, run, tool: str, name: str, line: str,
                           fragments: Tuple[str, ...]) -> None:
    (project / name).write_text(f"[flake8]\n{line}\n")
    assert_config_error(run(tool, cwd=project), *fragments)


@pytest.mark.parametrize("tool", TOOLS)
def test_command_line_replaces_a_bad_ini_value(project: Path, run, tool: str) -> None:
    # as in flake8, a flag replaces the same key of the [flake8] section: no error
    (project / "setup.cfg").write_text("[flake8]\nfastapi-bg-max-depth = deep\n")
    result = run(tool, "--fastapi-bg-max-depth=2", cwd=project)
    assert result.returncode == 1 and result.stderr == "", result.stderr


def test_unknown_ini_key_in_the_standalone_command(project: Path, cli_run) -> None:
    (project / "setup.cfg").write_text("[flake8]\nfastapi-bg-critcal = app.billing.*\n")
    assert_config_error(cli_run("a.py", cwd=project), "setup.cfg", "unknown option 'fastapi-bg-critcal'",
                        "fastapi-bg-critical")


# --- pyproject.toml -----------------------------------------------------------------------------

PYPROJECT_CASES = [
    ("unknown-key", '[tool.flake8-fastapi-bg]\nbogus = 1\n',
     ("pyproject.toml", "unknown key(s) in [tool.flake8-fastapi-bg]: bogus", "known: best-effort")),
    ("prefixed-key", '[tool.flake8-fastapi-bg]\nfastapi-bg-critical = ["a.*"]\n',
     ("unknown key(s)", "fastapi-bg-critical")),
    ("underscore-key", '[tool.flake8-fastapi-bg]\ncpu_heavy = ["a.b"]\n', ("unknown key(s)", "cpu_heavy")),
    ("bad-glob", '[tool.flake8-fastapi-bg]\ncpu-heavy = ["a[b"]\n', ("fastapi-bg-cpu-heavy", "'a[b'")),
    ("bad-version", '[tool.flake8-fastapi-bg]\nfastapi-version = "abc"\n', ("'abc' is not a version",)),
    ("bad-depth", '[tool.flake8-fastapi-bg]\nmax-depth = -1\n', ("-1 is out of range",)),
    ("depth-string", '[tool.flake8-fastapi-bg]\nmax-depth = "deep"\n', ("max-depth",)),
    ("depth-bool", '[tool.flake8-fastapi-bg]\nmax-depth = true\n', ("max-depth",)),
    ("depth-float", '[tool.flake8-fastapi-bg]\nmax-depth = 2.5\n', ("max-depth",)),
    ("depth-array", '[tool.flake8-fastapi-bg]\nmax-depth = [1]\n', ("max-depth",)),
    ("globs-int", '[tool.flake8-fastapi-bg]\ncpu-heavy = 5\n', ("cpu-heavy", "list of strings")),
    ("globs-ints", '[tool.flake8-fastapi-bg]\ncpu-heavy = [1, 2]\n', ("cpu-heavy", "list of strings")),
    ("globs-table", '[tool.flake8-fastapi-bg]\ncritical = { a = 1 }\n', ("critical", "list of strings")),
    ("version-float", '[tool.flake8-fastapi-bg]\nfastapi-version = 0.120\n', ("fastapi-version", "string")),
    ("version-array", '[tool.flake8-fastapi-bg]\nfastapi-version = ["0.115"]\n', ("fastapi-version",)),
    ("table-not-table", '[tool]\nflake8-fastapi-bg = 3\n', ("[tool.flake8-fastapi-bg] must be a table",)),
    ("tool-not-table", 'tool = 3\n', ("pyproject.toml", "'tool' must be a table")),
    ("invalid-toml", '[tool.flake8-fastapi-bg\ncritical = ["a"]\n', ("pyproject.toml", "cannot read")),
    ("duplicate-key", '[tool.flake8-fastapi-bg]\nmax-depth = 1\nmax-depth = 2\n', ("cannot read",)),
    ("not-utf8", b'\xff\xfe[tool]\n', ("pyproject.toml", "cannot read")),
]


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("text, fragments", [c[1:] for c in PYPROJECT_CASES],
                         ids=[c[0] for c in PYPROJECT_CASES])
def test_invalid_pyproject(project: Path, run, tool: str, text, fragments: Tuple[str, ...]) -> None:
    path = project / "pyproject.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    assert_config_error(run(tool, cwd=project), *fragments)


@pytest.mark.parametrize("text, fragments", [c[1:] for c in PYPROJECT_CASES],
                         ids=[c[0] for c in PYPROJECT_CASES])
def test_invalid_pyproject_raises_config_error(tmp_path: Path, text, fragments: Tuple[str, ...]) -> None:
    # In-process: only ConfigError (a ValueError) escapes the loader, never TypeError & co.
    path = tmp_path / "pyproject.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError) as caught:
        load_pyproject(path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("text, depth, cpu", [
    ('[tool.flake8-fastapi-bg]\nmax-depth = 3\ncpu-heavy = "a.b, c.*"\n', 3, ("a.b", "c.*")),
    ('[tool.flake8-fastapi-bg]\ncpu-heavy = []\n', 8, ()),
    ('[tool.other]\nx = 1\n', 8, ()),
    ('[project]\nname = "x"\n', 8, ()),
])
def test_valid_pyproject_values_load(tmp_path: Path, text: str, depth: int, cpu: tuple) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    settings = load_pyproject(path)
    assert settings.max_depth == depth and settings.cpu_heavy == cpu


def test_pyproject_found_from_a_parent_directory(tmp_path: Path, run) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.flake8-fastapi-bg]\nmax-depth = "x"\n')
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "a.py").write_text(SOURCE)
    for tool in TOOLS:
        assert_config_error(run(tool, cwd=sub), str(tmp_path / "pyproject.toml"), "max-depth")


def test_isolated_standalone_ignores_a_broken_pyproject(project: Path, cli_run) -> None:
    (project / "pyproject.toml").write_text("[tool.flake8-fastapi-bg\n")
    result = cli_run("--isolated", "a.py", cwd=project)
    assert result.returncode == 1 and result.stderr == "" and ": FBG101 " in result.stdout


def test_config_error_with_stdin(project: Path, flake8_run, cli_run) -> None:
    (project / "pyproject.toml").write_text('[tool.flake8-fastapi-bg]\nbogus = 1\n')
    assert_config_error(flake8_run("--select", "FBG", "-", cwd=project, stdin=SOURCE), "bogus")
    assert_config_error(cli_run("-", cwd=project, stdin=SOURCE), "bogus")


def test_config_error_with_parallel_jobs(project: Path, flake8_run) -> None:
    (project / "b.py").write_text(SOURCE)
    (project / "pyproject.toml").write_text('[tool.flake8-fastapi-bg]\nmax-depth = 99\n')
    result = flake8_run("--select", "FBG", "-j2", "a.py", "b.py", cwd=project)
    assert_config_error(result, "99 is out of range")


# --- pragmas ------------------------------------------------------------------------------------

PRAGMA_SOURCE = SOURCE.replace("def derive", "# fastapi-bg: bogus\ndef derive") + '''

# fastapi-bg: critical, Best-Effort, nonsense
def audit(x: int) -> None:  # fastapi-bg: light
    print(x)


def clean(x: int) -> None:  # FASTAPI-BG : cpu-heavy , long-running
    print(x)


NOTE = "# fastapi-bg: inside-a-string"
'''


def test_unknown_pragma_tags_in_process(lint) -> None:
    messages: list = []
    found = lint(PRAGMA_SOURCE, messages=messages)
    bogus = PRAGMA_SOURCE.splitlines().index("# fastapi-bg: bogus") + 1
    nonsense = PRAGMA_SOURCE.splitlines().index("# fastapi-bg: critical, Best-Effort, nonsense") + 1
    task = PRAGMA_SOURCE.splitlines().index('    background_tasks.add_task(derive, b"s")') + 1
    # the run goes on: the task's own finding is still there
    assert found == sorted([("FBG902", bogus, 0), ("FBG902", nonsense, 0), ("FBG101", task, 4)])
    unknown = sorted(m for m in messages if m.startswith("unknown"))
    known = "known tags: best-effort, cpu-heavy, critical, light, long-running"
    assert unknown == [f"unknown '# fastapi-bg:' tag 'bogus'; {known}",
                       f"unknown '# fastapi-bg:' tag 'nonsense'; {known}"]


def test_unknown_pragma_tag_in_a_file_without_task_sites(lint) -> None:
    # FBG902 does not depend on the task pre-filter
    assert lint("def f():  # fastapi-bg: critcal\n    pass\n") == [("FBG902", 1, 10)]


def test_unknown_pragma_tag_in_a_file_with_a_syntax_error(lint) -> None:
    # tokenizing stops at the error; no crash, no FBG901
    found = lint("def f(:  # fastapi-bg: bogus\n    pass\n")
    assert "FBG901" not in {code for code, _, _ in found}


@pytest.mark.parametrize("tool", TOOLS)
def test_unknown_pragma_tag_through_the_tools(project: Path, run, parse_output, tool: str) -> None:
    (project / "a.py").write_text(PRAGMA_SOURCE)
    (project / "b.py").write_text(SOURCE)
    result = run(tool, "b.py", cwd=project)
    assert result.returncode == 1 and result.stderr == ""
    lines = PRAGMA_SOURCE.splitlines()
    task = lines.index('    background_tasks.add_task(derive, b"s")') + 1
    assert parse_output(result.stdout) == {
        ("a.py", lines.index("# fastapi-bg: bogus") + 1, 1, "FBG902"),
        ("a.py", lines.index("# fastapi-bg: critical, Best-Effort, nonsense") + 1, 1, "FBG902"),
        ("a.py", task, 5, "FBG101"),
        ("b.py", SOURCE.splitlines().index('    background_tasks.add_task(derive, b"s")') + 1, 5, "FBG101"),
    }, result.stdout


def test_unknown_pragma_tag_can_be_silenced_with_noqa(project: Path, run) -> None:
    (project / "a.py").write_text("def f():  # fastapi-bg: critcal  # noqa: FBG902\n    pass\n")
    for tool in TOOLS:
        result = run(tool, cwd=project)
        assert result.returncode == 0 and result.stdout == "", (tool, result.stdout)
