"""The pre-commit hook: its definition, and real `pre-commit` runs against a temporary git
repository, both through this repository's hook and through flake8 with the plugin installed
as an additional dependency. The runs install the package into pre-commit's own virtualenvs
(from the package registry), so they take a minute or so: they are marked slow."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import cfgv
import pytest
import yaml
from pre_commit.clientlib import MANIFEST_SCHEMA

from flake8_fastapi_bg.rules import REGISTRY

try:
    import tomllib  # type: ignore[import-not-found]
except ImportError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
HOOK_ID = "flake8-fastapi-bg"
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "venv", "__pycache__", "*.egg-info", "build",
                                     "dist", ".pytest_cache", ".hypothesis", "out", ".tox",
                                     ".fastapi_bg_cache")


def hooks() -> List[dict]:
    return yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))


def test_hook_definition() -> None:
    (hook,) = [h for h in hooks() if h["id"] == HOOK_ID]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert hook["entry"] in scripts and scripts[hook["entry"]] == "flake8_fastapi_bg.cli:main"
    assert hook["language"] == "python" and {"name", "description"} <= set(hook)
    # The whole project, whenever code or configuration changes: findings are reported at the
    # add_task site, often in a module the commit does not touch (see test_commit_of_a_task_module).
    assert hook["pass_filenames"] is False and "python" in hook["types_or"] and "types" not in hook
    assert {"toml", "ini"} <= set(hook["types_or"])


def test_hook_manifest_is_valid_for_pre_commit() -> None:
    cfgv.validate(hooks(), MANIFEST_SCHEMA)


def _pre_commit() -> List[str]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    return [sys.executable, "-m", "pre_commit"]


def _env(tmp: Path) -> Dict[str, str]:
    (tmp / "gitconfig").write_text("", encoding="utf-8")
    identity = {"GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
                "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.invalid"}
    return dict(os.environ, **identity, GIT_CONFIG_GLOBAL=str(tmp / "gitconfig"), GIT_CONFIG_NOSYSTEM="1",
                PRE_COMMIT_HOME=str(tmp / "pre-commit-home"), NO_COLOR="1", PRE_COMMIT_COLOR="never")


def _git(cwd: Path, env: Dict[str, str], *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def _hook_repo(tmp: Path, env: Dict[str, str]) -> Path:
    """This checkout's working tree, committed in a fresh repository (pre-commit installs from a
    commit, and the working tree may have uncommitted changes)."""
    repo = tmp / "hook-repo"
    shutil.copytree(ROOT, repo, ignore=COPY_IGNORE)
    _git(repo, env, "init", "-q")
    _git(repo, env, "add", "-A")
    _git(repo, env, "commit", "-q", "-m", "snapshot")
    return repo


def _target(tmp: Path, env: Dict[str, str]) -> Path:
    target = tmp / "target"
    (target / "app").mkdir(parents=True)
    (target / "app" / "__init__.py").write_text("", encoding="utf-8")
    (target / "app" / "upload.py").write_text(REGISTRY["FBG101"].bad.source, encoding="utf-8")
    (target / "app" / "fine.py").write_text(REGISTRY["FBG101"].good.source, encoding="utf-8")
    _git(target, env, "init", "-q")
    _git(target, env, "add", "-A")
    return target


def _project(tmp: Path, env: Dict[str, str], files: Dict[str, str]) -> Path:
    project = tmp / "project"
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text, encoding="utf-8")
    _git(project, env, "init", "-q")
    return project


def _head(repo: Path, env: Dict[str, str]) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def _run(cmd: List[str], cwd: Path, env: Dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    command = _pre_commit()
    tmp = tmp_path_factory.mktemp("precommit")
    env = _env(tmp)
    return command, env, _hook_repo(tmp, env), _target(tmp, env)


@pytest.mark.slow
def test_try_repo_runs_the_hook(setup) -> None:
    command, env, repo, target = setup
    done = _run([*command, "try-repo", str(repo), HOOK_ID, "--all-files"], target, env)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "app/upload.py:" in output and "FBG101" in output, output
    assert "app/fine.py" not in output
    (target / "app" / "upload.py").write_text(REGISTRY["FBG101"].good.source, encoding="utf-8")
    _git(target, env, "add", "-A")
    done = _run([*command, "try-repo", str(repo), HOOK_ID, "--all-files"], target, env)
    assert done.returncode == 0, done.stdout + done.stderr
    (target / "app" / "upload.py").write_text(REGISTRY["FBG101"].bad.source, encoding="utf-8")
    _git(target, env, "add", "-A")


@pytest.mark.slow
def test_flake8_hook_with_the_plugin_as_additional_dependency(setup) -> None:
    # The README's flake8 hook, with the plugin installed from this checkout instead of the
    # package index, and flake8 from the index: the same environment pre-commit builds.
    command, env, repo, target = setup
    config = {"repos": [{"repo": "local", "hooks": [{
        "id": "flake8", "name": "flake8", "entry": "flake8", "language": "python",
        "types": ["python"], "args": ["--select", "FBG"], "additional_dependencies": [str(repo)]}]}]}
    (target / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    _git(target, env, "add", "-A")
    done = _run([*command, "run", "--all-files"], target, env)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "app/upload.py:" in output and "FBG101" in output, output


ROUTES = """from fastapi import APIRouter, BackgroundTasks

from app.tasks import settle

router = APIRouter()


@router.post("/orders/{order_id}/settle")
def settle_order(order_id: int, background_tasks: BackgroundTasks) -> dict:
    background_tasks.add_task(settle, order_id)
    return {"ok": True}
"""
TASKS = """import logging

log = logging.getLogger(__name__)


def settle(order_id: int) -> None:
    log.info("settling %s", order_id)
"""
TASKS_CHARGING = """import logging

import stripe

log = logging.getLogger(__name__)


def settle(order_id: int) -> None:
    log.info("settling %s", order_id)
    stripe.Charge.create(amount=1000, currency="usd", metadata={"order": order_id})
"""


@pytest.mark.slow
def test_commit_of_a_task_module_is_checked_at_the_route_that_schedules_it(setup) -> None:
    """The README's hook, installed as a real git pre-commit hook and pinned to a commit: a commit
    that stages only the task module (it now charges a card) fails with FBG104 reported in the
    route module, which the commit does not touch."""
    command, env, repo, _ = setup
    config = {"repos": [{"repo": str(repo), "rev": _head(repo, env), "hooks": [{"id": HOOK_ID}]}]}
    project = _project(repo.parent, env, {
        "app/__init__.py": "", "app/routes.py": ROUTES, "app/tasks.py": TASKS,
        ".pre-commit-config.yaml": yaml.safe_dump(config)})
    done = _run([*command, "install"], project, env)
    assert done.returncode == 0, done.stdout + done.stderr
    _git(project, env, "add", "-A")
    first = subprocess.run(["git", "commit", "-q", "-m", "start"], cwd=project, env=env, capture_output=True,
                           text=True, timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr  # the hook ran and found nothing

    (project / "app" / "tasks.py").write_text(TASKS_CHARGING, encoding="utf-8")
    _git(project, env, "add", "app/tasks.py")
    staged = subprocess.run(["git", "diff", "--cached", "--name-only"], cwd=project, env=env,
                            capture_output=True, text=True, check=True).stdout.split()
    assert staged == ["app/tasks.py"]
    done = subprocess.run(["git", "commit", "-m", "charge the card when settling"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    (finding,) = [line for line in output.splitlines() if ": FBG104 " in line]
    assert finding.startswith("app/routes.py:10:5: FBG104 ") and "at app/tasks.py:10" in finding, finding
    log = subprocess.run(["git", "log", "--format=%s"], cwd=project, env=env, capture_output=True, text=True)
    assert log.stdout.split("\n")[0] == "start"  # the commit was refused

    # A commit that touches neither code nor configuration does not run the hook at all.
    (project / "NOTES.txt").write_text("settlement charges the card\n", encoding="utf-8")
    _git(project, env, "reset", "-q", "app/tasks.py")
    _git(project, env, "add", "NOTES.txt")
    done = subprocess.run(["git", "commit", "-m", "notes"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0 and "Skipped" in done.stdout + done.stderr, done.stdout + done.stderr
