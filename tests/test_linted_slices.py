"""The linted file is summarised with `ast`, and libcst parses only its statements that may
hold a task site (`SlicedModuleInfo.site_groups`) and what their analysis looks up.

A pure optimisation for every site the file-level text test lets through: findings, messages,
positions and fixes must be what the whole-file parse gives. The oracle is the engine with the
linted file's `ast` withheld (`engine._ast_of`), which makes it parse the file whole.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Dict, List

import pytest
from support import forget_projects

from flake8_fastapi_bg import engine, project
from flake8_fastapi_bg.engine import lint_source
from flake8_fastapi_bg.settings import Settings
from flake8_fastapi_bg.slicing import SlicedModuleInfo

ROOT = Path(__file__).resolve().parent.parent

ROUTES = '''
import hashlib

from fastapi import APIRouter, BackgroundTasks as Tasks, Depends

router = APIRouter()
Later = Tasks  # a module-level alias of an alias


def get_tasks(tasks: Tasks) -> Tasks:
    return tasks


def hash_password(password: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password, b"salt", 10**6)


def notify(queue, password: bytes) -> None:
    queue.add_task(hash_password, password)


@router.get("/plain")
def plain(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


@router.post("/direct")
def direct(tasks: Later, password: bytes) -> None:
    tasks.add_task(hash_password, password)


@router.post("/dependency")
def through_a_dependency(password: bytes, queue=Depends(get_tasks)) -> None:
    notify(queue, password)
'''


def write(root: Path, files: Dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def lint_all(paths: List[Path], sliced: bool, monkeypatch) -> list:
    forget_projects()
    with monkeypatch.context() as patch:
        if not sliced:
            patch.setattr(engine, "_ast_of", lambda source, tree: None)
        found = []
        for path in paths:
            for f in lint_source(str(path), path.read_text(), Settings(), path):
                found.append((str(path), f.code, f.line, f.col, f.message, f.fix))
    forget_projects()
    return found


def test_sites_reached_through_names_bound_beside_them_are_found(tmp_path: Path, monkeypatch) -> None:
    root = write(tmp_path, {"app/__init__.py": "", "app/routes.py": ROUTES})
    path = root / "app" / "routes.py"
    sliced = lint_all([path], sliced=True, monkeypatch=monkeypatch)
    # the alias of an alias, a dependency defined beside the route, a helper that forwards
    assert sorted((code, line) for _, code, line, *_ in sliced) == [("FBG101", 31), ("FBG101", 36)]
    assert sliced == lint_all([path], sliced=False, monkeypatch=monkeypatch)


def test_statements_that_cannot_hold_a_site_are_not_parsed(tmp_path: Path, monkeypatch) -> None:
    root = write(tmp_path, {"app/__init__.py": "", "app/routes.py": ROUTES})
    path = root / "app" / "routes.py"
    forget_projects()
    lint_source(str(path), path.read_text(), Settings(), path)
    info = project.project_for(path)._modules["app.routes"]
    assert isinstance(info, SlicedModuleInfo) and info.linted
    lines = path.read_text().splitlines()
    parsed = [lines[info._groups[i][0] - 1] for i in info._parsed]
    assert "def direct(tasks: Later, password: bytes) -> None:" in lines
    assert '@router.get("/plain")' not in parsed and len(parsed) < len(info._groups), parsed
    # the import binds APIRouter and Depends too, but only its alias of BackgroundTasks counts
    chosen = [lines[info._groups[i][0] - 1] for i in info.site_groups()]
    assert chosen == ["from fastapi import APIRouter, BackgroundTasks as Tasks, Depends",
                      "Later = Tasks  # a module-level alias of an alias",
                      "def get_tasks(tasks: Tasks) -> Tasks:",
                      "def notify(queue, password: bytes) -> None:",
                      '@router.post("/direct")', '@router.post("/dependency")'], chosen
    forget_projects()


def test_an_import_that_passes_the_test_by_a_comment_passes_all_its_names(tmp_path: Path,
                                                                          monkeypatch) -> None:
    root = write(tmp_path, {
        "app/__init__.py": "",
        "app/bg.py": "from fastapi import BackgroundTasks\n\nQueue = BackgroundTasks\n",
        "app/routes.py": '''
            import hashlib

            from app.bg import Queue  # our BackgroundTasks


            def crunch(data: bytes) -> bytes:
                return hashlib.pbkdf2_hmac("sha256", data, b"salt", 10**6)


            def endpoint(queue: Queue, data: bytes) -> None:
                queue.add_task(crunch, data)
            ''',
    })
    path = root / "app" / "routes.py"
    sliced = lint_all([path], sliced=True, monkeypatch=monkeypatch)
    assert [(code, line) for _, code, line, *_ in sliced] == [("FBG101", 11)]
    assert sliced == lint_all([path], sliced=False, monkeypatch=monkeypatch)


DEPS = {
    "app/__init__.py": "",
    "app/deps.py": '''
        from fastapi import BackgroundTasks


        def get_queue(tasks: BackgroundTasks) -> BackgroundTasks:
            return tasks


        def later(queue, fn, *args):
            queue.add_task(fn, *args)


        shared = BackgroundTasks()
        ''',
    "app/jobs.py": "from app.deps import later as defer, shared as jobs_queue\n",
    "app/helpers/__init__.py": "from app.helpers.impl import *  # re-exported\n",
    "app/helpers/impl.py": "from app.deps import later as run_later, shared as common\n",
    "app/schemas.py": "class Login:\n    password: bytes\n",
    "app/routes.py": '''
        import hashlib

        from fastapi import BackgroundTasks, Depends

        from app import deps
        from app.deps import get_queue, later, shared
        from app.helpers import common, run_later
        from app.schemas import Login


        def crunch(password):
            return hashlib.pbkdf2_hmac("sha256", password, b"s", 10**6)


        def other(tasks: BackgroundTasks):
            return tasks


        def through_a_dependency(password: bytes, queue=Depends(get_queue)):
            later(queue, crunch, password)


        def a_shared_queue(password: bytes):
            queue = shared
            later(queue, crunch, password)


        def a_factory(password: bytes):
            queue = get_queue(None)
            deps.later(queue, crunch, password)


        def re_exported(password: bytes):
            queue = common
            run_later(queue, crunch, password)


        def schema_only(login: Login) -> bytes:
            return crunch(login.password)


        try:
            from app.jobs import defer, jobs_queue
        except ImportError:
            raise


        def guarded(password: bytes):
            queue = jobs_queue
            defer(queue, crunch, password)
        ''',
}


def test_helpers_and_queues_imported_from_project_modules_are_followed(tmp_path: Path, monkeypatch) -> None:
    """A statement without a task word still holds a site when it calls a forwarding helper
    with a queue that comes from another module: names imported from a project module whose
    text passes the test (directly, as a module, inside `try`, or re-exported through a
    package's star import and an alias) count; a name from a module without task words does
    not."""
    root = write(tmp_path, DEPS)
    path = root / "app" / "routes.py"
    sliced = lint_all([path], sliced=True, monkeypatch=monkeypatch)
    assert [(code, line) for _, code, line, *_ in sliced] == [
        ("FBG101", 20), ("FBG101", 25), ("FBG101", 30), ("FBG101", 35), ("FBG101", 50)]
    assert sliced == lint_all([path], sliced=False, monkeypatch=monkeypatch)
    forget_projects()
    lint_source(str(path), path.read_text(), Settings(), path)
    proj = project.project_for(path)
    info = proj._modules["app.routes"]
    lines = path.read_text().splitlines()
    chosen = [lines[info._groups[i][0] - 1] for i in info.site_groups()]
    assert "def schema_only(login: Login) -> bytes:" not in chosen, chosen
    assert not proj.leads_to_tasks("app.schemas", "Login")
    assert not proj.leads_to_tasks("fastapi", "Depends")  # not a project module
    assert proj.leads_to_tasks("app.helpers", "run_later") and proj.leads_to_tasks("app", "deps")
    forget_projects()


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_fixes_in_a_sliced_file_are_the_whole_files(tmp_path: Path, monkeypatch, newline: str) -> None:
    source = textwrap.dedent('''
        from fastapi import BackgroundTasks


        def send(to, subject):
            print(to, subject)


        class Handlers:
            """Unrelated code between the groups."""

            def other(self):
                return 1


        def endpoint(background_tasks: BackgroundTasks, to: str) -> None:
            if to:
                background_tasks.add_task(send(to, subject="hi"))  # a comment after
        ''').lstrip("\n")
    path = tmp_path / "routes.py"
    path.write_bytes(source.replace("\n", newline).encode())
    sliced = lint_all([path], sliced=True, monkeypatch=monkeypatch)
    assert [(code, line) for _, code, line, *_ in sliced] == [("FBG201", 17)]
    assert sliced[0][-1] is not None
    assert sliced == lint_all([path], sliced=False, monkeypatch=monkeypatch)


@pytest.mark.slow
def test_the_fixtures_and_the_example_give_the_whole_files_findings(monkeypatch) -> None:
    paths = sorted((ROOT / "tests" / "fixtures").rglob("*.py")) + sorted((ROOT / "examples").rglob("*.py"))
    whole = lint_all(paths, sliced=False, monkeypatch=monkeypatch)
    assert len(whole) > 100
    assert lint_all(paths, sliced=True, monkeypatch=monkeypatch) == whole


def test_module_texts_read_for_imports_are_not_all_kept(tmp_path: Path, monkeypatch) -> None:
    """`leads_to_tasks` keeps one answer per module and imported name, but only a few texts:
    a monorepo's imports must not keep every module's text in memory."""
    monkeypatch.setattr(project, "_TEXTS_SIZE", 2)
    files = dict(DEPS)
    for i in range(6):
        files[f"app/plain{i}.py"] = f"def helper{i}(x):\n    return x\n"
    files["app/routes.py"] = files["app/routes.py"].replace(
        "from app.schemas import Login", "from app.schemas import Login\n        " + "\n        ".join(
            f"from app.plain{i} import helper{i}" for i in range(6)))
    root = write(tmp_path, files)
    path = root / "app" / "routes.py"
    sliced = lint_all([path], sliced=True, monkeypatch=monkeypatch)
    assert len(sliced) == 5 and sliced == lint_all([path], sliced=False, monkeypatch=monkeypatch)
    forget_projects()
    lint_source(str(path), path.read_text(), Settings(), path)
    proj = project.project_for(path)
    assert len(proj._texts) <= 2 and len(proj._words) >= 8
    assert proj.leads_to_tasks("app.helpers", "run_later")
    assert not proj.leads_to_tasks("app.plain3", "helper3")
    forget_projects()


def test_a_re_export_chain_is_followed_from_each_import_whatever_was_asked_first(tmp_path: Path) -> None:
    """A name re-exported four times is out of reach from the start of the chain, but within
    reach from its middle: the answer for the middle must not be the one computed at the
    depth limit of an earlier, longer question."""
    files = {"app/__init__.py": "", "app/m5.py": DEPS["app/deps.py"]}
    for i in range(1, 5):
        files[f"app/m{i}.py"] = f"from app.m{i + 1} import later\n"
    root = write(tmp_path, files)
    forget_projects()
    proj = project.project_for(root / "app" / "m1.py")
    assert not proj.leads_to_tasks("app.m1", "later")  # four re-exports: beyond the limit
    assert proj.leads_to_tasks("app.m3", "later")  # two: within it
    forget_projects()
    proj = project.project_for(root / "app" / "m1.py")
    assert proj.leads_to_tasks("app.m3", "later")
    forget_projects()


@pytest.mark.parametrize("text", ["", "x = 1", "x = 1\n", "a\r\nb\rc\n\n", "x = 1\x0c\ny = 2\n",
                                  "s = '\u2028'\nt = 1", "\x0b\x1c\x1d\x1e\x85\n"])
def test_a_module_is_split_into_lines_at_pythons_breaks_only(text: str) -> None:
    """`str.splitlines` also breaks at form feeds and Unicode separators, which Python keeps
    inside a line: the fast split is taken only for a text without them."""
    from flake8_fastapi_bg.slicing import _LINE, _lines_of

    assert _lines_of(text) == _LINE.findall(text)
