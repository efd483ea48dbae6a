"""The persistent cache (flake8_fastapi_bg/cache.py, deps.py): a warm run answers what a cold
run would, and anything a result rests on invalidates it.

In-process runs of the standalone command count analyses with its `--verbose` line and with a
wrapper around `engine.lint_source`; each run forgets the process's parsed projects first, as
a new process would. The slow tests run the real `flake8` and `flake8-fastapi-bg` executables.
conftest.py points FLAKE8_FASTAPI_BG_CACHE_DIR at a fresh temporary directory for every test.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import support
from support import QUIET_HELPER, STRIPE_HELPER

from flake8_fastapi_bg import cache as cache_module
from flake8_fastapi_bg import deps, engine
from flake8_fastapi_bg.cli import main

ROUTES = """\
from fastapi import APIRouter, BackgroundTasks

from app.services.orders import finish_order

router = APIRouter()


@router.post("/orders/{order_id}")
def create_order(order_id: int, background_tasks: BackgroundTasks):
    background_tasks.add_task(finish_order, order_id)
    return {"ok": True}
"""

OTHER = """\
from fastapi import APIRouter, BackgroundTasks

from app.jobs import tidy

router = APIRouter()


@router.post("/tidy")
def tidy_up(background_tasks: BackgroundTasks):
    background_tasks.add_task(tidy)
    return {}
"""

PROJECT = {
    "pyproject.toml": "[project]\nname = \"demo\"\n",
    "app/__init__.py": "",
    "app/routes.py": ROUTES,  # -> orders -> audit -> helpers: three modules away
    "app/services/__init__.py": "",
    "app/services/orders.py": "from app.services.audit import record\n\n\n"
                              "def finish_order(order_id):\n    record(order_id)\n",
    "app/services/audit.py": "from app.lib.helpers import note\n\n\n"
                             "def record(order_id):\n    note(order_id)\n",
    "app/lib/__init__.py": "",
    "app/lib/helpers.py": QUIET_HELPER,
    "app/other.py": OTHER,
    "app/jobs.py": "def tidy():\n    return None\n",
}

STATS = re.compile(r"cache: (\d+) hits, (\d+) misses \((\d+) files? analysed\)")


def write(root: Path, files: Dict[str, str]) -> Path:
    return support.write_tree(root, files)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    write(root, PROJECT)
    return root


@pytest.fixture
def analysed(monkeypatch) -> List[str]:
    """The files the engine analyses (that pass its text test), in order."""
    seen: List[str] = []
    real = engine.lint_source

    def counting(display, source, *args, **kwargs):
        if "add_task" in source:
            seen.append(Path(display).as_posix())
        return real(display, source, *args, **kwargs)

    monkeypatch.setattr(engine, "lint_source", counting)
    return seen


def run(root: Path, capsys, monkeypatch, *args: str) -> Tuple[List[dict], Tuple[int, int, int]]:
    """The standalone command in this process on `root`, as a fresh process would run it:
    (its JSON findings, (hits, misses, files analysed))."""
    support.forget_projects()
    monkeypatch.chdir(root)
    capsys.readouterr()
    status = main(["--verbose", "--format", "json", *args, "."])
    out, err = capsys.readouterr()
    assert status in (0, 1), err
    found = STATS.search(err)
    assert found is not None and "Traceback" not in err, err
    findings = json.loads(out)
    return findings, (int(found.group(1)), int(found.group(2)), int(found.group(3)))


def codes(findings: List[dict]) -> List[Tuple[str, int, str]]:
    return [(f["path"], f["line"], f["code"]) for f in findings]


def edit(path: Path, text: str) -> None:
    """Rewrite a file; its stamp may not change (same second, same size): the content decides."""
    path.write_text(text, encoding="utf-8")


# --- warm equals cold, and what invalidates ---------------------------------------------------------


def test_a_warm_run_answers_what_the_cold_run_did(project, capsys, monkeypatch, analysed) -> None:
    cold, cold_stats = run(project, capsys, monkeypatch)
    assert cold_stats == (0, 2, 2) and sorted(analysed) == ["app/other.py", "app/routes.py"]
    warm, warm_stats = run(project, capsys, monkeypatch)
    assert warm == cold  # evidence, ends and fixes included
    assert warm_stats == (2, 0, 0) and len(analysed) == 2


def test_editing_a_helper_three_modules_away_re_analyses_only_the_route_that_reaches_it(
        project, capsys, monkeypatch, analysed) -> None:
    quiet, _ = run(project, capsys, monkeypatch)
    assert codes(quiet) == []
    edit(project / "app/lib/helpers.py", STRIPE_HELPER)
    loud, stats = run(project, capsys, monkeypatch)
    assert codes(loud) == [("app/routes.py", 10, "FBG104")]
    assert "app/lib/helpers.py:5" in loud[0]["message"]
    assert stats == (1, 1, 1) and analysed[-1] == "app/routes.py"  # app/other.py came from the cache
    again, stats = run(project, capsys, monkeypatch)
    assert again == loud and stats == (2, 0, 0)
    edit(project / "app/lib/helpers.py", QUIET_HELPER)
    quiet_again, stats = run(project, capsys, monkeypatch)
    assert codes(quiet_again) == [] and stats == (1, 1, 1)


REFUNDS = """\
from fastapi import APIRouter, BackgroundTasks

from app.services.audit import record

router = APIRouter()


@router.post("/refunds/{order_id}")
def refund(order_id: int, background_tasks: BackgroundTasks):
    background_tasks.add_task(record, order_id)
    return {}
"""


def test_a_summary_computed_for_an_earlier_file_carries_its_dependencies(
        project, capsys, monkeypatch) -> None:
    """app/refunds.py is linted first and summarises audit.record (which calls the helper);
    app/routes.py reaches record through orders and reuses that summary without looking at
    the helper's module itself. Its entry must still depend on the helper: the module groups
    of deps.py see to it (with `deps.touch` made a no-op, this run reports only refunds.py)."""
    write(project, {"app/refunds.py": REFUNDS})
    run(project, capsys, monkeypatch)
    edit(project / "app/lib/helpers.py", STRIPE_HELPER)
    found, stats = run(project, capsys, monkeypatch)
    assert codes(found) == [("app/refunds.py", 10, "FBG104"), ("app/routes.py", 10, "FBG104")]
    assert stats == (1, 2, 2)


def test_creating_a_module_that_was_looked_for_invalidates(project, capsys, monkeypatch) -> None:
    (project / "app/services/orders.py").write_text(
        "from app.services.payments import settle\n\n\ndef finish_order(order_id):\n    settle(order_id)\n",
        encoding="utf-8")
    missing, _ = run(project, capsys, monkeypatch)
    assert codes(missing) == []
    write(project, {"app/services/payments.py": "import stripe\n\n\ndef settle(order_id):\n"
                                                "    stripe.Refund.create(payment_intent=order_id)\n"})
    found, stats = run(project, capsys, monkeypatch)
    assert codes(found) == [("app/routes.py", 10, "FBG104")] and stats == (1, 1, 1)


def test_a_new_package_level_module_invalidates(project, capsys, monkeypatch) -> None:
    """`from app.jobs import tidy` finds app/jobs.py; a package app/jobs/ would win: the
    candidates looked for before the one found are dependencies too."""
    run(project, capsys, monkeypatch)
    write(project, {"app/jobs/__init__.py": "import time\n\n\ndef tidy():\n    time.sleep(3600)\n"})
    found, stats = run(project, capsys, monkeypatch)
    assert stats[1] == 1 and ("app/other.py", 10, "FBG105") in codes(found)  # it sleeps first


# A module too deep for Python's parser is left unanalysed (FBG903 where a task needs it); its
# read is a dependency like any module's, so replacing it re-analyses what reached it.
CALLS_GENERATED = "from app.lib.generated import compute\n\n\ndef note(order_id):\n    compute(order_id)\n"
HOSTILE_GENERATED = "x = " + " + ".join(["1"] * 5000) + "\n\n\ndef compute(n):\n    return n\n"
STRIPE_GENERATED = "import stripe\n\n\ndef compute(n):\n    stripe.Refund.create(payment_intent=n)\n"


def test_replacing_a_module_too_deep_to_analyse_re_analyses_the_tasks_that_need_it(
        project, capsys, monkeypatch, analysed) -> None:
    edit(project / "app/lib/helpers.py", CALLS_GENERATED)
    # a second route reaching the helper through another function: both entries need the module
    again = ROUTES.replace("app.services.orders import finish_order", "app.services.audit import record") \
        .replace("add_task(finish_order,", "add_task(record,").replace("/orders/", "/again/")
    write(project, {"app/lib/generated.py": HOSTILE_GENERATED, "app/again.py": again})
    cold, stats = run(project, capsys, monkeypatch)
    assert codes(cold) == [("app/again.py", 10, "FBG903"), ("app/routes.py", 10, "FBG903")]
    assert all("app/lib/generated.py, which was not analysed (nested too deeply" in f["message"]
               for f in cold)
    warm, stats = run(project, capsys, monkeypatch)
    assert warm == cold and stats == (3, 0, 0)
    edit(project / "app/lib/generated.py", STRIPE_GENERATED)  # the work it hid is now seen
    seen, stats = run(project, capsys, monkeypatch)
    assert codes(seen) == [("app/again.py", 10, "FBG104"), ("app/routes.py", 10, "FBG104")]
    assert stats == (1, 2, 2) and sorted(analysed[-2:]) == ["app/again.py", "app/routes.py"]
    edit(project / "app/lib/generated.py", HOSTILE_GENERATED)
    again, stats = run(project, capsys, monkeypatch)
    assert again == cold and stats == (1, 2, 2)


@pytest.mark.parametrize("option", [
    ("--fastapi-bg-fastapi-version", "0.110"),
    ("--fastapi-bg-max-depth", "2"),
    ("--fastapi-bg-critical", "app.jobs.*"),
    ("--fastapi-bg-light", "app.services.*"),
])
def test_changing_a_setting_that_feeds_the_analysis_invalidates(project, capsys, monkeypatch, option) -> None:
    run(project, capsys, monkeypatch)
    assert run(project, capsys, monkeypatch)[1] == (2, 0, 0)
    _, stats = run(project, capsys, monkeypatch, *option)
    assert stats == (0, 2, 2)
    _, stats = run(project, capsys, monkeypatch, *option)  # its own entries, kept beside the others
    assert stats == (2, 0, 0)


def test_a_knowledge_base_extension_in_pyproject_invalidates(project, capsys, monkeypatch) -> None:
    run(project, capsys, monkeypatch)
    (project / "pyproject.toml").write_text(
        "[project]\nname = \"demo\"\n\n[tool.flake8-fastapi-bg]\ncritical = [\"app.jobs.*\"]\n",
        encoding="utf-8")
    found, stats = run(project, capsys, monkeypatch)
    assert stats == (0, 2, 2) and ("app/other.py", 10, "FBG104") in codes(found)


def test_select_and_ignore_do_not_invalidate(project, capsys, monkeypatch) -> None:
    edit(project / "app/lib/helpers.py", STRIPE_HELPER)
    run(project, capsys, monkeypatch)
    found, stats = run(project, capsys, monkeypatch, "--ignore", "FBG104")
    assert codes(found) == [] and stats == (2, 0, 0)


def test_another_linter_version_invalidates(project, capsys, monkeypatch) -> None:
    run(project, capsys, monkeypatch)
    monkeypatch.setattr(cache_module, "__version__", "99.0.0")
    assert run(project, capsys, monkeypatch)[1] == (0, 2, 2)


def test_an_edited_linter_invalidates(project, capsys, monkeypatch) -> None:
    """A development install changes without a new version: the linter's own files count."""
    run(project, capsys, monkeypatch)
    monkeypatch.setattr(cache_module, "_code", ["another build"])
    assert run(project, capsys, monkeypatch)[1] == (0, 2, 2)


def test_the_scan_for_state_setters_depends_on_what_it_took_from_each_file(project) -> None:
    """A project-wide text scan depends on what it found in each file, not on every byte."""
    from flake8_fastapi_bg.project import Project

    write(project, {"app/main.py": "from fastapi import FastAPI\n\napp = FastAPI()\n"})
    scanner = Project((project,))
    deps.start()
    assert scanner.state_setters("llm") == []
    used = deps.finish()
    edit(project / "app/jobs.py", "def tidy():\n    return 1  # another body, no state\n")
    write(project, {"app/new_module.py": "VALUE = 1\n"})  # a new file the scan takes nothing from
    deps.forget()
    assert deps.all_hold(used)
    write(project, {"app/settings.py": "def configure(app):\n    app.state.llm = object()\n"})
    deps.forget()
    assert not deps.all_hold(used)
    (project / "app/settings.py").unlink()
    deps.forget()
    assert deps.all_hold(used)
    edit(project / "app/main.py",
         "from fastapi import FastAPI\n\napp = FastAPI()\napp.state.llm = object()\n")
    deps.forget()
    assert not deps.all_hold(used)


# --- where, and what is never cached ---------------------------------------------------------------


def test_a_new_module_that_nothing_reaches_invalidates_nothing(project, capsys, monkeypatch) -> None:
    run(project, capsys, monkeypatch)
    write(project, {"app/unrelated.py": "def helper():\n    return 1\n"})
    assert run(project, capsys, monkeypatch)[1] == (2, 0, 0)


def test_the_default_cache_is_at_the_project_root_tagged_and_ignored_by_git(
        project, capsys, monkeypatch) -> None:
    monkeypatch.delenv(cache_module.ENV_DIR)
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    run(project / "app", capsys, monkeypatch)  # from a subdirectory: still the project root
    where = project / ".fastapi_bg_cache"
    assert (where / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
    assert (where / ".gitignore").read_text().splitlines()[-1] == "*"
    assert (where / cache_module.DATABASE_NAME).is_file()
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=project,
                            capture_output=True, text=True, check=True).stdout
    assert ".fastapi_bg_cache" not in status and "app/routes.py" in status


def test_options_choose_or_turn_off_the_cache(project, tmp_path, capsys, monkeypatch) -> None:
    env_dir = Path(os.environ[cache_module.ENV_DIR])
    assert run(project, capsys, monkeypatch, "--no-cache")[1] == (0, 0, 2)
    assert not (env_dir / cache_module.DATABASE_NAME).exists()
    chosen = tmp_path / "chosen"
    run(project, capsys, monkeypatch, "--cache-dir", str(chosen))
    assert (chosen / cache_module.DATABASE_NAME).is_file()
    assert not (env_dir / cache_module.DATABASE_NAME).exists()
    assert run(project, capsys, monkeypatch, "--fastapi-bg-cache-dir", str(chosen))[1] == (2, 0, 0)
    (project / "pyproject.toml").write_text("[tool.flake8-fastapi-bg]\nno-cache = true\n", encoding="utf-8")
    assert run(project, capsys, monkeypatch, "--cache-dir", str(chosen))[1] == (0, 0, 2)
    (project / "pyproject.toml").write_text(
        f"[tool.flake8-fastapi-bg]\ncache-dir = {json.dumps(str(chosen))}\n", encoding="utf-8")
    monkeypatch.delenv(cache_module.ENV_DIR)
    run(project, capsys, monkeypatch)
    assert run(project, capsys, monkeypatch)[1] == (2, 0, 0)
    assert not (project / ".fastapi_bg_cache").exists()


def test_a_bad_cache_option_in_pyproject_is_a_configuration_error(project, capsys, monkeypatch) -> None:
    (project / "pyproject.toml").write_text("[tool.flake8-fastapi-bg]\nno-cache = \"sometimes\"\n",
                                            encoding="utf-8")
    monkeypatch.chdir(project)
    assert main(["."]) == 2
    assert "no-cache in [tool.flake8-fastapi-bg] must be true or false" in capsys.readouterr().err


def test_standard_input_is_never_cached(project, capsys, monkeypatch) -> None:
    import io

    support.forget_projects()
    monkeypatch.chdir(project)
    for args in (["-"], ["-"], ["--stdin-display-name", "app/routes.py", "-"]):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(ROUTES.encode())))
        assert main(["--verbose", *args]) in (0, 1)
        assert "cache: 0 hits, 0 misses (1 file analysed)" in capsys.readouterr().err
    assert not (Path(os.environ[cache_module.ENV_DIR]) / cache_module.DATABASE_NAME).exists()


# --- damage, and bounds ---------------------------------------------------------------------------


def _database() -> Path:
    return Path(os.environ[cache_module.ENV_DIR]) / cache_module.DATABASE_NAME


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database, just some bytes\n" * 100)


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(data[:len(data) // 3])


def _foreign_format(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value='0' WHERE key='format'")


def _foreign_schema(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE entries (name TEXT, blob BLOB)")
        db.execute("INSERT INTO entries VALUES ('x', 'y')")


def _bad_values(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("UPDATE entries SET findings='{\"not\": \"a list\"}', depset='[1, 2]'")


@pytest.mark.parametrize("damage", [_garbage, _truncated, _foreign_format, _foreign_schema, _bad_values])
def test_a_damaged_or_foreign_cache_is_ignored_and_replaced(project, capsys, monkeypatch, damage) -> None:
    edit(project / "app/lib/helpers.py", STRIPE_HELPER)
    cold, _ = run(project, capsys, monkeypatch)
    damage(_database())
    found, stats = run(project, capsys, monkeypatch)  # `run` asserts: no traceback
    assert found == cold and stats[0] == 0
    again, stats = run(project, capsys, monkeypatch)
    assert again == cold and stats == (2, 0, 0)


def test_an_unusable_cache_directory_turns_the_cache_off(project, tmp_path, capsys, monkeypatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory", encoding="utf-8")
    edit(project / "app/lib/helpers.py", STRIPE_HELPER)
    for where in (blocker, blocker / "below"):
        found, stats = run(project, capsys, monkeypatch, "--cache-dir", str(where))
        assert codes(found) == [("app/routes.py", 10, "FBG104")] and stats == (0, 0, 2)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_cache_directory_turns_the_cache_off(project, tmp_path, capsys, monkeypatch) -> None:
    where = tmp_path / "read-only"
    where.mkdir()
    where.chmod(0o500)
    try:
        found, stats = run(project, capsys, monkeypatch, "--cache-dir", str(where))
        assert stats == (0, 0, 2)
    finally:
        where.chmod(0o700)


def test_a_database_that_cannot_be_written_still_answers(project, capsys, monkeypatch) -> None:
    """What a read-only directory does to SQLite, without needing one (the tests may run as
    root, who writes anywhere): every write fails, reads work, the results stay right."""
    run(project, capsys, monkeypatch)
    connect = sqlite3.connect

    def read_only(path, *args, **kwargs):
        return connect(f"file:{path}?mode=ro", *args, uri=True, **kwargs)

    monkeypatch.setattr(cache_module.sqlite3, "connect", read_only)
    assert run(project, capsys, monkeypatch)[1] == (2, 0, 0)
    edit(project / "app/lib/helpers.py", STRIPE_HELPER)
    for _ in range(2):
        found, stats = run(project, capsys, monkeypatch)
        assert codes(found) == [("app/routes.py", 10, "FBG104")] and stats[0] == 1


def test_old_entries_are_pruned_and_hits_refresh_rarely(project, capsys, monkeypatch) -> None:
    run(project, capsys, monkeypatch)
    old = int(time.time()) - (cache_module.MAX_AGE_DAYS + 1) * 86400
    with sqlite3.connect(_database()) as db:
        db.execute("UPDATE entries SET used=? WHERE path LIKE '%other.py'", (old,))
        db.execute("UPDATE entries SET used=? WHERE path LIKE '%routes.py'", (old + 2 * 86400,))
        db.execute("UPDATE meta SET value='0' WHERE key='pruned'")
    _, stats = run(project, capsys, monkeypatch)
    assert stats == (1, 1, 1)  # other.py's entry was pruned on opening; routes.py's was used
    with sqlite3.connect(_database()) as db:
        used = dict(db.execute("SELECT path, used FROM entries").fetchall())
        chunks = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
    assert all(u > time.time() - 60 for u in used.values()) and chunks > 0
    with sqlite3.connect(_database()) as db:
        db.execute("UPDATE entries SET used=?", (int(time.time()) - 3600,))
    run(project, capsys, monkeypatch)
    with sqlite3.connect(_database()) as db:  # a hit less than a day after the last use writes nothing
        assert all(u < time.time() - 3000 for (u,) in db.execute("SELECT used FROM entries"))


def test_the_size_cap_drops_the_oldest_entries(project, capsys, monkeypatch) -> None:
    run(project, capsys, monkeypatch)
    with sqlite3.connect(_database()) as db:
        db.execute("UPDATE entries SET used=used-100 WHERE path LIKE '%other.py'")
        db.execute("UPDATE meta SET value='0' WHERE key='pruned'")
        sizes = [len(f) for (f,) in db.execute("SELECT findings FROM entries")]
    monkeypatch.setattr(cache_module, "MAX_BYTES", 1)  # everything is too much: all go, oldest first
    _, stats = run(project, capsys, monkeypatch)
    assert stats == (0, 2, 2) and sizes


# --- the real executables -------------------------------------------------------------------------


def _tool(args: List[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          env=support.clean_env(), timeout=300)


def _flake8(project: Path, *args: str) -> List[str]:
    done = _tool(["-m", "flake8", "--select", "FBG", *args, "."], project)
    assert done.returncode in (0, 1) and not done.stderr, done.stderr
    return sorted(done.stdout.splitlines())


def _standalone(project: Path, *args: str) -> Tuple[List[str], str]:
    done = _tool(["-m", "flake8_fastapi_bg", "--verbose", *args, "."], project)
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr
    return sorted(done.stdout.splitlines()), STATS.search(done.stderr).group(0)  # type: ignore[union-attr]


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_flake8_warm_runs_follow_an_edit_three_modules_away(project, jobs) -> None:
    cold = _flake8(project, "--jobs", jobs)
    assert cold == [] and _database().is_file()
    assert _flake8(project, "--jobs", jobs) == cold
    edit(project / "app/lib/helpers.py", STRIPE_HELPER)
    loud = _flake8(project, "--jobs", jobs)
    assert [line.split(": ")[1].split()[0] for line in loud] == ["FBG104"]
    assert "./app/routes.py:10:5" in loud[0]
    assert _flake8(project, "--jobs", jobs) == loud
    edit(project / "app/lib/helpers.py", QUIET_HELPER)
    assert _flake8(project, "--jobs", jobs) == []
    assert _flake8(project, "--jobs", jobs, "--fastapi-bg-no-cache") == []


@pytest.mark.slow
def test_flake8_warm_runs_follow_new_modules_settings_and_damage(project) -> None:
    orders = project / "app/services/orders.py"
    orders.write_text("from app.services.payments import settle\n\n\ndef finish_order(order_id):\n"
                      "    settle(order_id)\n", encoding="utf-8")
    assert _flake8(project) == []
    write(project, {"app/services/payments.py": "import stripe\n\n\ndef settle(order_id):\n"
                                                "    stripe.Refund.create(payment_intent=order_id)\n"})
    loud = _flake8(project)
    assert len(loud) == 1 and "FBG104" in loud[0]
    for option in (("--fastapi-bg-max-depth", "0"), ("--fastapi-bg-fastapi-version", "0.110"),
                   ("--fastapi-bg-critical", "app.jobs.*")):
        assert _flake8(project, *option) == _flake8(project, "--fastapi-bg-no-cache", *option), option
    assert _flake8(project, "--fastapi-bg-max-depth", "0") == []
    assert any("other.py" in line for line in _flake8(project, "--fastapi-bg-critical", "app.jobs.*"))
    _garbage(_database())
    assert _flake8(project) == loud
    assert _flake8(project) == loud


@pytest.mark.slow
def test_flake8_and_the_standalone_command_keep_their_own_entries(project) -> None:
    """They show the linted file differently (`./app/x.py`, `app/x.py`): one entry each."""
    edit(project / "app/lib/helpers.py", STRIPE_HELPER)
    plugin = _flake8(project)
    alone, stats = _standalone(project)
    assert stats == "cache: 0 hits, 2 misses (2 files analysed)"
    assert _flake8(project) == plugin
    assert _standalone(project) == (alone, "cache: 2 hits, 0 misses (0 files analysed)")


@pytest.mark.slow
def test_flake8_never_caches_standard_input(project) -> None:
    done = subprocess.run([sys.executable, "-m", "flake8", "--select", "FBG", "--stdin-display-name",
                           "app/routes.py", "-"], cwd=project, input=ROUTES, capture_output=True, text=True,
                          env=support.clean_env(), timeout=300)
    assert done.returncode == 0 and not done.stderr, done.stderr
    assert not _database().exists()


@pytest.mark.slow
def test_flake8_and_the_standalone_command_drop_fbg903_once_the_skipped_module_is_replaced(project) -> None:
    edit(project / "app/lib/helpers.py", CALLS_GENERATED)
    write(project, {"app/lib/generated.py": HOSTILE_GENERATED})
    # flake8 itself cannot build the generated module's `ast` (RecursionError): excluded from
    # flake8's own files, it is still a module the plugin reaches.
    exclude = ("--extend-exclude", "generated.py")
    for _ in range(2):  # cold, then warm
        plugin = _flake8(project, *exclude)
        assert len(plugin) == 1 and plugin[0].startswith("./app/routes.py:10:5: FBG903 "), plugin
        alone, _ = _standalone(project)
        assert len(alone) == 1 and alone[0].startswith("app/routes.py:10:5: FBG903 "), alone
    assert _standalone(project)[1] == "cache: 2 hits, 0 misses (0 files analysed)"
    edit(project / "app/lib/generated.py", STRIPE_GENERATED)
    plugin = _flake8(project, *exclude)
    assert len(plugin) == 1 and " FBG104 " in plugin[0] and "generated.py:5" in plugin[0], plugin
    alone, stats = _standalone(project)
    assert len(alone) == 1 and " FBG104 " in alone[0] and stats == "cache: 1 hits, 1 misses (1 file analysed)"


@pytest.mark.slow
def test_the_standalone_command_warm_runs_follow_an_edit_and_never_load_libcst(project) -> None:
    cold, stats = _standalone(project)
    assert cold == [] and stats == "cache: 0 hits, 2 misses (2 files analysed)"
    edit(project / "app/lib/helpers.py", STRIPE_HELPER)
    loud, stats = _standalone(project)
    assert len(loud) == 1 and "FBG104" in loud[0] and stats == "cache: 1 hits, 1 misses (1 file analysed)"
    probe = ("import sys\nfrom flake8_fastapi_bg.cli import main\nstatus = main(['--verbose', '.'])\n"
             "print('libcst loaded' if 'libcst' in sys.modules else 'libcst not loaded', file=sys.stderr)\n")
    done = _tool(["-c", probe], project)
    assert "cache: 2 hits, 0 misses (0 files analysed)" in done.stderr
    assert "libcst not loaded" in done.stderr and sorted(done.stdout.splitlines()) == loud


@pytest.mark.slow
def test_parallel_flake8_runs_never_corrupt_the_cache(project) -> None:
    edit(project / "app/lib/helpers.py", STRIPE_HELPER)
    for index in range(20):  # more files with task sites, for more concurrent writes
        write(project, {f"app/more_{index}.py": ROUTES.replace("/orders/", f"/orders{index}/")})
    command = [sys.executable, "-m", "flake8", "--select", "FBG", "--jobs", "2", "."]
    runs = [subprocess.Popen(command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=support.clean_env())
            for _ in range(3)]
    outputs = [process.communicate(timeout=300) for process in runs]
    assert all(not err for _, err in outputs), outputs
    assert len({out for out, _ in outputs}) == 1 and outputs[0][0].count("FBG104") == 21
    with sqlite3.connect(_database()) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM entries").fetchone()[0] == 22
    assert sorted(_flake8(project)) == sorted(outputs[0][0].splitlines())


def test_every_scanner_named_in_deps_exists(tmp_path) -> None:
    """deps.SCANNERS names functions by module path: a module moved without it would break
    every dependency on that scan (they would never hold again), silently."""
    empty = tmp_path / "empty.py"
    empty.write_text("VALUE = 1\n", encoding="utf-8")
    for name in deps.SCANNERS:
        assert deps._scanner(name)("x", str(empty)) == "", name


# --- hosts that never show evidence -----------------------------------------------------------------


def _lint_routes(project: Path, monkeypatch, evidence: bool) -> Tuple[List, cache_module.Stats, int]:
    """`app/routes.py` through a fresh `Cache(evidence=...)`, as a new process would: (its
    findings, the cache's stats, how many evidence positions were rendered)."""
    from flake8_fastapi_bg import analyse
    from flake8_fastapi_bg.settings import Settings

    support.forget_projects()
    monkeypatch.chdir(project)
    rendered: List[int] = []
    real = analyse.NodeWhere._resolve

    def resolve(where):
        rendered.append(1)
        return real(where)

    monkeypatch.setattr(analyse.NodeWhere, "_resolve", resolve)
    store = cache_module.Cache(Settings(), evidence=evidence)
    path = project / "app/routes.py"
    try:
        findings = store.lint("./app/routes.py", path.read_text(encoding="utf-8"), path)
    finally:
        store.close()
    return findings, store.stats, len(rendered)


def _chains(findings) -> List:
    def place(where):
        return where and (where.path, where.line, where.col)

    return [(f.code, f.line, f.col, f.message, [(h.function, h.role, h.reason, place(h.where))
                                                for h in f.evidence]) for f in findings]


def test_a_host_that_never_shows_evidence_neither_renders_nor_stores_it(project, monkeypatch) -> None:
    edit(project / "app/lib/helpers.py", STRIPE_HELPER)
    full, _, rendered_for_full = _lint_routes(project, monkeypatch, evidence=True)  # to compare with
    _database().unlink()
    lean, stats, rendered = _lint_routes(project, monkeypatch, evidence=False)
    assert [f.code for f in lean] == ["FBG104"] and stats.analysed == 1
    assert rendered < rendered_for_full  # the hops three modules away were never positioned
    assert lean == full  # code, position, message and fix: what flake8 shows
    with sqlite3.connect(_database()) as db:
        (stored,) = db.execute("SELECT findings FROM entries").fetchone()
    assert [row["evidence"] for row in json.loads(stored)] == [None]
    again, stats, _ = _lint_routes(project, monkeypatch, evidence=False)
    assert (stats.hits, stats.analysed) == (1, 0) and again == full
    # A host that shows evidence takes the lean entry for a miss, and stores the whole one ...
    shown, stats, _ = _lint_routes(project, monkeypatch, evidence=True)
    assert (stats.misses, stats.analysed) == (1, 1) and _chains(shown) == _chains(full)
    assert len(full[0].evidence) > 1
    # ... which answers both kinds of host from then on.
    for evidence in (True, False):
        hit, stats, _ = _lint_routes(project, monkeypatch, evidence=evidence)
        assert stats.hits == 1 and _chains(hit) == _chains(full)


@pytest.mark.slow
def test_flake8_shows_the_same_chains_after_a_run_that_did_not_show_them(project) -> None:
    edit(project / "app/lib/helpers.py", STRIPE_HELPER)
    plain = _flake8(project)
    assert len(plain) == 1 and "FBG104" in plain[0]
    chained = _flake8(project, "--fastapi-bg-show-chain")
    assert chained == _flake8(project, "--fastapi-bg-show-chain", "--fastapi-bg-no-cache")
    assert len(chained) > 1  # the chain's lines below the finding
    assert _flake8(project) == plain


def test_a_memo_replayed_again_into_a_frame_adds_nothing_and_still_reaches_the_file(tmp_path) -> None:
    """`replay` skips a memo's dependencies already replayed into the current frame (a module
    handed out a thousand times during one file); into a new frame they go again, and a
    memo frame's dependencies reach the file's when it ends."""
    helper = tmp_path / "helper.py"
    helper.write_text("x = 1\n")
    deps.start()
    try:
        deps.frame()
        deps.read(helper)
        memo = deps.end_frame()
        assert list(memo) == [("f", str(helper))]
        deps.frame()  # a later memo, computed while the first one is used twice
        deps.replay(memo)
        deps.replay(memo)
        assert deps.end_frame() == memo
        deps.replay(memo)
        assert deps.finish() == memo
    finally:
        deps.stop()


def test_a_memoised_find_records_its_probes_for_every_file_that_asks(tmp_path) -> None:
    """`Project.find` answers a name once per project; every later file that asks gets the
    probes of that answer as its own dependencies: a module looked for and not found is still
    looked for (a new file there invalidates), and a module found is still where it was."""
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "helpers.py").write_text("x = 1\n")
    from flake8_fastapi_bg.project import Project

    tree = Project((tmp_path,))
    missing = ("isfile", str(tmp_path / "app" / "gone.py"))
    present = ("isfile", str(tmp_path / "app" / "helpers.py"))
    for _ in range(2):  # the second time from the memo
        deps.start()
        try:
            assert tree.find("app.gone") is None
            assert tree.find("app.helpers") == (tmp_path / "app" / "helpers.py", False)
            recorded = deps.finish()
        finally:
            deps.stop()
        assert recorded[missing] is False and recorded[present] is True
        assert ("isfile", str(tmp_path / "app" / "gone" / "__init__.pyi")) in recorded
    deps.frame()  # a memo computed around a hit gets the hit's probes too
    assert tree.find("app.gone") is None
    assert missing in deps.end_frame()
