"""Speed, counted instead of timed: what is imported, parsed and cached.

Wall time is noise on a shared CI machine; these counts are not. A change that makes the plugin
import libcst for clean files, parse a module twice, or parse modules no task reaches fails here.
"""

from __future__ import annotations

import ast
import gc
import textwrap
from pathlib import Path
from typing import Dict

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider
from support import Parses, fail_analysis, forget_projects, run_python, write_tree

from flake8_fastapi_bg import libcst_compat, project, slicing
from flake8_fastapi_bg.engine import lint_source
from flake8_fastapi_bg.parsing import parse
from flake8_fastapi_bg.prefilter import may_schedule_tasks
from flake8_fastapi_bg.settings import Settings
from flake8_fastapi_bg.slicing import SlicedModuleInfo
from flake8_fastapi_bg.syntax import children, walk

ROOT = Path(__file__).resolve().parent.parent

CLEAN = {
    "app/__init__.py": "",
    "app/models.py": '''
        from dataclasses import dataclass


        @dataclass
        class Theme:
            """Colours; the page background is drawn in the background of the app."""
            background: str = "#ffffff"

            def css(self) -> str:
                return f"background: {self.background}; background-color: red"
        ''',
    "app/jobs.py": '''
        import asyncio


        async def run_in_background(queue):
            while True:
                await asyncio.sleep(1)
        ''',
}


def write(tmp_path: Path, files: Dict[str, str]) -> Path:
    return write_tree(tmp_path, files, dedent=True, marker=True)


def run_code(code: str, cwd: Path) -> str:
    done = run_python("-c", code, cwd=cwd, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("entry", ["flake8", "standalone-engine"])
def test_libcst_is_not_imported_for_files_without_task_sites(tmp_path: Path, entry: str) -> None:
    write(tmp_path, CLEAN)
    if entry == "flake8":
        call = ("from flake8.main.cli import main\n"
                "try:\n    main(['--select', 'E,F,W,FBG', '-j1', 'app'])\n"
                "except SystemExit:\n    pass\n")
    else:
        call = ("from pathlib import Path\n"
                "from flake8_fastapi_bg.engine import lint_source\n"
                "from flake8_fastapi_bg.settings import Settings\n"
                "for p in sorted(Path('app').rglob('*.py')):\n"
                "    assert lint_source(str(p), p.read_text(), Settings(), p) == []\n")
    out = run_code(call + "import sys\nprint('LIBCST', 'libcst' in sys.modules)\n", tmp_path)
    assert "LIBCST False" in out, out
    # ...and the same run does import it once a file can schedule a task (the test can fail).
    (tmp_path / "app" / "routes.py").write_text(
        "from fastapi import BackgroundTasks\n\n\ndef ep(background_tasks: BackgroundTasks):\n"
        "    background_tasks.add_task(print, 1)\n")
    probe = "import sys\nprint('LIBCST', 'libcst' in sys.modules)\n"
    out = run_code(call.replace("== []", "is not None") + probe, tmp_path)
    assert "LIBCST True" in out, out


def test_the_text_test_rejects_other_senses_of_background() -> None:
    for text in CLEAN.values():
        assert not may_schedule_tasks(textwrap.dedent(text))


PROJECT = {
    "app/__init__.py": "",
    "app/routes/__init__.py": "",
    "app/routes/users.py": '''
        from fastapi import APIRouter, BackgroundTasks

        from app.services.mail import send_welcome
        from app.services import unused

        router = APIRouter()


        @router.post("/users")
        def create(background_tasks: BackgroundTasks):
            background_tasks.add_task(send_welcome, "a@example.com")
            return {}
        ''',
    "app/routes/orders.py": '''
        from fastapi import APIRouter, BackgroundTasks

        from app.services.mail import send_welcome

        router = APIRouter()


        @router.post("/orders")
        def create(background_tasks: BackgroundTasks):
            background_tasks.add_task(send_welcome, "b@example.com")
            return {}
        ''',
    "app/services/__init__.py": "",
    "app/services/mail.py": '''
        import logging

        from app.services.render import render_template

        log = logging.getLogger(__name__)
        BIG = {"k%d" % i: i for i in range(10)}


        def unrelated():
            return BIG


        def send_welcome(address):
            body = render_template("welcome", address)
            log.info("sent %s", body)
        ''',
    "app/services/render.py": '''
        def render_template(name, address):
            return f"{name}:{address}"


        def other():
            return 1
        ''',
    "app/services/unused.py": '''
        def never_called():
            return 2
        ''',
    "app/models.py": CLEAN["app/models.py"],
}


@pytest.fixture()
def fresh_caches():
    forget_projects()
    yield
    forget_projects()


def lint_tree(root: Path) -> int:
    passing = 0
    for path in sorted(root.rglob("*.py")):
        source = path.read_text()
        passing += may_schedule_tasks(source)
        lint_source(str(path), source, Settings(), path)
    return passing


def test_only_passing_files_and_the_modules_their_tasks_reach_are_parsed_once(
        tmp_path: Path, fresh_caches, monkeypatch) -> None:
    root = write(tmp_path, PROJECT)
    parses = Parses(monkeypatch)
    passing = lint_tree(root)
    assert passing == 2  # the two route files; models.py says "background" only as a colour
    assert parses.linted() == {"app.routes.users", "app.routes.orders"}
    assert {"app.services.mail", "app.services.render"} <= parses.reached()
    assert not parses.reached() & {"app.models", "app.services.unused", "app.routes.users"}
    assert parses.parsed_twice() == []  # each module summarised once, each group parsed once
    # Reached modules were summarised, not parsed whole: only the statements followed.
    cached = project.project_for(root / "app" / "routes" / "users.py")._modules
    mail = cached["app.services.mail"]
    assert isinstance(mail, SlicedModuleInfo)
    assert 0 < len(mail._parsed) < len(mail._groups)
    assert cached.get("app.services.unused") is None  # imported by a route, never followed


def test_a_file_without_task_sites_parses_nothing(tmp_path: Path, fresh_caches, monkeypatch) -> None:
    root = write(tmp_path, CLEAN)
    parses = Parses(monkeypatch)
    assert lint_tree(root) == 0
    assert parses.calls == 0 and parses.groups == []


def test_a_second_pass_parses_only_the_linted_files_again(tmp_path: Path, fresh_caches, monkeypatch) -> None:
    root = write(tmp_path, PROJECT)
    lint_tree(root)
    parses = Parses(monkeypatch)
    lint_tree(root)
    assert parses.groups and parses.reached() == set()  # reached modules come from the cache
    assert parses.parsed_twice() == []


def test_the_module_cache_is_bounded(tmp_path: Path, fresh_caches, monkeypatch) -> None:
    monkeypatch.setattr(project, "_CACHE_SIZE", 4)
    files = {"app/__init__.py": ""}
    for i in range(12):
        nxt = f"from app.m{i + 1} import step{i + 1}\n" if i < 11 else "import hashlib\n"
        call = f"    step{i + 1}(x)\n" if i < 11 else '    hashlib.pbkdf2_hmac("sha256", x, b"s", 10**6)\n'
        files[f"app/m{i}.py"] = f"{nxt}\n\ndef step{i}(x):\n{call}"
    files["app/routes.py"] = ("from fastapi import BackgroundTasks\n\nfrom app.m0 import step0\n\n\n"
                              "def ep(background_tasks: BackgroundTasks):\n"
                              "    background_tasks.add_task(step0, b'pw')\n")
    root = write(tmp_path, files)
    routes = root / "app" / "routes.py"
    found = lint_source(str(routes), routes.read_text(), Settings(max_depth=20), routes)
    assert [f.code for f in found] == ["FBG101"]  # twelve modules deep, through a cache of four
    assert len(project.project_for(routes)._modules) <= 4


def test_example_app_parses_each_module_once(fresh_caches, monkeypatch) -> None:
    parses = Parses(monkeypatch)
    lint_tree(ROOT / "examples" / "shop")
    assert {"app.services.billing", "app.tasks.notify"} <= parses.reached()
    assert parses.parsed_twice() == []
    # one Project for the whole package: a module reached from several routes is parsed once
    assert project._project_for_roots.cache_info().currsize == 1


def test_library_names_do_not_push_parsed_modules_out(tmp_path: Path, fresh_caches, monkeypatch) -> None:
    monkeypatch.setattr(project, "_CACHE_SIZE", 4)
    root = write(tmp_path, PROJECT)
    proj = project.project_for(root / "app" / "routes" / "users.py")
    mail = proj.module("app.services.mail")
    assert mail is not None
    for i in range(50):
        assert proj.module(f"fastapi.responses.Name{i}") is None
    assert proj.module("app.services.mail") is mail  # still cached: not parsed again


QUIET_SITE = '''
    from fastapi import BackgroundTasks, FastAPI

    app = FastAPI()


    def note(text: str) -> None:
        print(text)


    @app.post("/")
    def endpoint(tasks: BackgroundTasks) -> None:
        tasks.add_task(note, "ok")
    '''


def test_the_linted_file_is_parsed_by_libcst_only_for_the_group_a_fix_rewrites(
        tmp_path: Path, fresh_caches, monkeypatch) -> None:
    """The linted file is built from its `ast`: libcst parses none of it, unless a finding
    offers a fix, and then only the statement group the fix rewrites (read as written)."""
    (tmp_path / "quiet").mkdir()
    (tmp_path / "fixed").mkdir()
    quiet = write(tmp_path / "quiet", {"app/__init__.py": "", "app/main.py": QUIET_SITE})
    fixed = write(tmp_path / "fixed", {"app/__init__.py": "", "app/main.py": QUIET_SITE.replace(
        'tasks.add_task(note, "ok")', 'tasks.add_task(note(\n        "ok",  # why\n    ))')})
    parses = Parses(monkeypatch)
    path = quiet / "app" / "main.py"
    assert lint_source(str(path), path.read_text(), Settings(), path) == []
    assert parses.calls == 0
    path = fixed / "app" / "main.py"
    findings = lint_source(str(path), path.read_text(), Settings(), path)
    assert [f.code for f in findings] == ["FBG201"] and findings[0].fix is not None
    assert [e.text for e in findings[0].fix.edits] == ['tasks.add_task(note,\n    "ok",  # why\n)']
    assert parses.calls == 1 and parses.sources[0].startswith('@app.post("/")')


def test_a_site_without_findings_is_never_positioned(tmp_path: Path, fresh_caches, monkeypatch) -> None:
    """libcst positions cost a render of the statement: only reported sites pay for it."""
    root = write(tmp_path, {"app/__init__.py": "", "app/main.py": QUIET_SITE})
    rendered = []
    original = libcst_compat.positions
    monkeypatch.setattr(libcst_compat, "positions",
                        lambda module: rendered.append(module) or original(module))
    path = root / "app" / "main.py"
    assert lint_source(str(path), path.read_text(), Settings(), path) == []
    assert rendered == []
    noisy = path.read_text().replace('tasks.add_task(note, "ok")', "tasks.add_task(note())")
    path.write_text(noisy)
    findings = lint_source(str(path), noisy, Settings(), path)
    assert [(f.code, f.line, f.col) for f in findings] == [("FBG201", 12, 4)]
    assert rendered


POSITIONED = '''
import functools
from fastapi import BackgroundTasks

HANDLER = lambda tasks: tasks.add_task(print, "x")  # a lambda: the statement is an assignment


def decorate(func):
    return functools.wraps(func)(func)


@decorate
def outer(tasks: BackgroundTasks) -> None:
    def inner(n):
        return [str(i) for i in range(n)]

    tasks.add_task(inner, 3); print(
        "a call over two lines")


class Service:
    def run(self, tasks: BackgroundTasks) -> None:
        tasks.add_task(self.stop)

    def stop(self):
        print(  "spaces"  )


if True:
    def guarded(tasks: BackgroundTasks) -> None:  # a def inside an `if`: no top-level hint
        tasks.add_task(print, "y")

print(len("module level"))
'''


class _Placed(cst.CSTVisitor):
    """Every call and def of a module with the scope that holds it (as the engine's visitors
    keep it)."""

    def __init__(self, module_scope) -> None:
        self.stack = [module_scope]
        self.placed = []

    def _enter(self, node) -> bool:
        self.placed.append((node, self.stack[-1]))
        scope = self.stack[-1].child(node)
        self.stack.append(scope)
        if scope.node is not node:  # a reached class's method, built as a stub: its whole def
            for child in children(scope.node):
                walk(child, self)
            return False
        return True

    def _leave(self, node) -> None:
        self.stack.pop()

    visit_FunctionDef = visit_ClassDef = visit_Lambda = _enter
    leave_FunctionDef = leave_ClassDef = leave_Lambda = _leave

    def visit_Call(self, node) -> None:
        self.placed.append((node, self.stack[-1]))


def placed_nodes(info):
    visitor = _Placed(info.scope)
    walk(info.module, visitor)
    assert len(visitor.placed) > 15
    return visitor.placed


def linted_info(root: Path):
    """`app.main` as the linted file: summarised from its `ast`, parsed a group at a time."""
    path = root / "app" / "main.py"
    source = path.read_text()
    found = project.project_for(path)
    return found.adopt_sliced("app.main", path, str(path), source, ast.parse(source), False)


def whole_info(root: Path):
    """`app.main` parsed whole by libcst (the oracle for positions)."""
    path = root / "app" / "main.py"
    source = path.read_text()
    return project.project_for(path).adopt("app.main", path, str(path), parse(source), False, source)


def reached_info(root: Path):
    """`app.main` as a module a task reaches: summarised, parsed a statement group at a time."""
    forget_projects()
    info = project.project_for(root / "app" / "other.py").module("app.main")
    assert isinstance(info, SlicedModuleInfo)
    return info


def test_hinted_positions_are_libcsts_positions(tmp_path: Path, fresh_caches) -> None:
    """The scope hint only chooses which statement to render: every call and def of a module
    gets the position libcst gives it in the whole module, for the linted file and for a
    module a task reaches (parsed a statement group at a time)."""
    root = write(tmp_path, {"app/__init__.py": "", "app/main.py": POSITIONED,
                            "app/other.py": "from app.main import Service\n"})
    for info in (linted_info(root), reached_info(root)):
        got = [(type(node).__name__, info.span(node, scope)) for node, scope in placed_nodes(info)]
        forget_projects()
        fresh = whole_info(root)
        whole = MetadataWrapper(fresh.module, unsafe_skip_copy=True).resolve(PositionProvider)
        want = [(type(node).__name__, ((whole[node].start.line, whole[node].start.column),
                                       (whole[node].end.line, whole[node].end.column)))
                for node, _ in placed_nodes(fresh)]
        assert got == want


def test_the_linted_file_and_reached_modules_are_placed_by_ast_without_a_render(
        tmp_path: Path, fresh_caches, monkeypatch) -> None:
    """The linted file, like a module a task reaches, is built from `ast` (`convert`): its
    positions are `ast`'s; libcst neither parses nor renders any of its groups."""
    root = write(tmp_path, {"app/__init__.py": "", "app/main.py": POSITIONED,
                            "app/other.py": "from app.main import Service\n"})
    rendered, parsed = [], []
    original = libcst_compat.positions
    monkeypatch.setattr(libcst_compat, "positions",
                        lambda module: rendered.append(module) or original(module))
    parse_group = slicing.parse
    monkeypatch.setattr(slicing, "parse", lambda source: parsed.append(source) or parse_group(source))
    for make in (linted_info, reached_info):
        info = make(root)
        nodes = placed_nodes(info)  # builds every group
        for name, want in (("run", (22, 8)), ("stop", (25, 8)), ("guarded", (30, 8))):
            calls = [(node, scope) for node, scope in nodes
                     if isinstance(node, cst.Call) and getattr(scope.node, "name", None)
                     and scope.node.name.value == name]
            assert [info.position(node, scope) for node, scope in calls] == [want], (make, name)
        assert rendered == [] and parsed == [] and info._unpositioned == []
        assert len(info._converted) == len(info._groups)


def test_a_method_whose_name_is_on_a_continuation_line_keeps_libcsts_positions(
        tmp_path: Path, fresh_caches, monkeypatch) -> None:
    # The name of `stop` is on the line after its `def`: built from `ast`, the linted file's
    # positions are still libcst's, without a render.
    odd = POSITIONED.replace("    def stop(self):", "    def \\\n    stop(self):")
    root = write(tmp_path, {"app/__init__.py": "", "app/main.py": odd})
    info = linted_info(root)
    nodes = placed_nodes(info)
    stop = next((node, scope) for node, scope in nodes
                if isinstance(node, cst.Call) and getattr(scope.node, "name", None)
                and scope.node.name.value == "stop")
    fallback = []
    original = libcst_compat.positions
    monkeypatch.setattr(libcst_compat, "positions",
                        lambda module: fallback.append(module) or original(module))
    assert info.position(*stop) == (26, 8)
    assert fallback == []
    fresh = whole_info(root)
    whole = MetadataWrapper(fresh.module, unsafe_skip_copy=True).resolve(PositionProvider)
    want = next(whole[node] for node, _ in placed_nodes(fresh)
                if isinstance(node, cst.Call) and isinstance(node.func, cst.Name)
                and node.func.value == "print" and "spaces" in fresh.module.code_for_node(node))
    assert (want.start.line, want.start.column) == (26, 8)


def test_the_hosts_ast_spares_a_second_parse(tmp_path: Path, fresh_caches, monkeypatch) -> None:
    """flake8 hands the plugin its `ast`: the engine does not parse the file with `ast` again
    to summarise the file, and the findings are the same."""
    root = write(tmp_path, {"app/__init__.py": "", "app/main.py": QUIET_SITE.replace(
        'tasks.add_task(note, "ok")', "tasks.add_task(note())")})
    path = root / "app" / "main.py"
    source = path.read_text()
    without = lint_source(str(path), source, Settings(), path)
    forget_projects()
    tree = ast.parse(source)
    parsed = []
    original = ast.parse
    monkeypatch.setattr(ast, "parse", lambda *a, **k: parsed.append(a) or original(*a, **k))
    with_tree = lint_source(str(path), source, Settings(), path, tree=tree)
    assert [(f.code, f.line, f.col) for f in with_tree] == [("FBG201", 12, 4)]
    assert with_tree == without and parsed == []


@pytest.mark.parametrize("cached", [True, False], ids=["cache", "no-cache"])
def test_the_adapters_run_the_text_test_once_per_file(tmp_path: Path, fresh_caches, monkeypatch,
                                                      cached: bool) -> None:
    """The adapters' per-file step hands the text test's answer to the collector policy, the
    cache and the engine; the engine alone, as tests call it, still runs the test itself."""
    from flake8_fastapi_bg import adapter, cache, engine
    from flake8_fastapi_bg.cache import Cache

    root = write(tmp_path, {**CLEAN, "app/main.py": QUIET_SITE.replace(
        'tasks.add_task(note, "ok")', "tasks.add_task(note())")})
    tested = []

    def counting(source: str) -> bool:
        tested.append(source)
        return may_schedule_tasks(source)

    for module in (adapter, cache, engine):
        monkeypatch.setattr(module, "may_schedule_tasks", counting)
    store = Cache(Settings(), directory=str(tmp_path / "cache")) if cached else None
    files = sorted(root.rglob("*.py"))
    try:
        found = {path.name: adapter.lint_file(str(path), path.read_text(), Settings(), path, store)
                 for path in files}
    finally:
        gc.unfreeze()  # the adapters' collector policy froze the survivors
    assert len(tested) == len(files) == 4
    main = root / "app" / "main.py"
    assert [f.code for f in found["main.py"]] == ["FBG201"]
    assert lint_source(str(main), main.read_text(), Settings(), main) == found["main.py"]
    assert len(tested) == 5  # the engine on its own


# --- the host's process is left as it was ---------------------------------------------------------


def process_state() -> tuple:
    import signal
    import sys

    return (gc.isenabled(), gc.get_threshold(), gc.get_freeze_count(), sys.getrecursionlimit(),
            signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM), sys.getswitchinterval(),
            cst.CSTNode.__dict__["__post_init__"], len(gc.callbacks))


@pytest.mark.parametrize("files", [PROJECT, CLEAN], ids=["sites", "clean"])
@pytest.mark.parametrize("collector", ["enabled", "disabled"])
def test_the_engine_leaves_the_process_as_it_was(tmp_path: Path, fresh_caches, files, collector: str) -> None:
    """No collector pause or freeze, no recursion limit, no signal handler, no libcst patch
    survives a lint: hosts (an editor, a language server, a test run) keep their settings."""
    root = write(tmp_path, files)
    if collector == "disabled":
        gc.disable()
    try:
        before = process_state()
        lint_tree(root)
        assert process_state() == before
    finally:
        gc.enable()


def test_the_engine_leaves_the_process_as_it_was_when_the_analysis_fails(
        tmp_path: Path, fresh_caches, monkeypatch) -> None:
    def explode(display: str) -> None:
        raise KeyError("injected")

    fail_analysis(monkeypatch, explode)
    root = write(tmp_path, PROJECT)
    before = process_state()
    routes = root / "app" / "routes" / "users.py"
    assert [f.code for f in lint_source(str(routes), routes.read_text(), Settings(), routes)] == ["FBG901"]
    assert process_state() == before


SERVICES = {
    "app/__init__.py": "",
    "app/bg.py": '''
        from fastapi import BackgroundTasks

        Tasks = BackgroundTasks
        ''',
    "app/jobs.py": '''
        import hashlib


        def audit(thing):
            return thing


        def hash_password(password):
            return hashlib.pbkdf2_hmac("sha256", password, b"salt", 10**6)


        def schedule_hash(tasks, password):
            tasks.add_task(hash_password, password)
        ''',
    "app/services.py": '''
        class OrderService:
            def __init__(self, db):
                self.db = db

            def total(self):
                return sum(self.db)
        ''',
    "app/routes.py": '''
        from fastapi import Depends

        from app.bg import Tasks  # the project's alias of BackgroundTasks
        from app.jobs import audit, schedule_hash
        from app.services import OrderService


        def get_service() -> OrderService:
            return OrderService([])


        def create(tasks: Tasks, password: bytes, service: OrderService = Depends(get_service)):
            audit(service)
            other = OrderService([1])
            audit(other)
            schedule_hash(tasks, password)
        ''',
}


def test_project_class_instances_are_not_evaluated_as_task_holders(tmp_path: Path,
                                                                   fresh_caches) -> None:
    """`audit(service)` with `service: OrderService` or `service = OrderService(...)` cannot
    pass a BackgroundTasks: the `ast` summary of app.services says so, and the class is not
    parsed. A project alias of BackgroundTasks (`Tasks = BackgroundTasks`) is not a class
    statement, so `schedule_hash(tasks, ...)` is still followed."""
    root = write(tmp_path, SERVICES)
    routes = root / "app" / "routes.py"
    found = lint_source(str(routes), routes.read_text(), Settings(), routes)
    assert [f.code for f in found] == ["FBG101"]
    services = project.project_for(routes)._modules["app.services"]
    assert isinstance(services, SlicedModuleInfo)
    assert services.binds_only_a_class("OrderService")
    assert services._parsed == {}


LIBRARY_CALLS = {
    "app/__init__.py": "",
    "app/reports.py": '''
        import hashlib


        def build(owner):
            return [hashlib.pbkdf2_hmac("sha256", owner.encode(), b"salt", 10**6)]
        ''',
    "app/routes.py": '''
        import json
        from json import dumps as to_json

        from fastapi import BackgroundTasks, HTTPException

        from app import reports


        def export(owner: str, tasks: BackgroundTasks) -> str:
            rows = reports.build(owner)
            print(len(rows), sorted(rows), json.dumps(rows), to_json(rows), str.upper(owner))
            if not rows:
                raise HTTPException(404, rows)
            tasks.add_task(reports.build, owner)
            return "ok"
        ''',
}


def test_arguments_of_builtins_and_library_calls_are_not_evaluated(
        tmp_path: Path, fresh_caches, monkeypatch) -> None:
    """`sorted(rows)`, `json.dumps(rows)`, `HTTPException(404, rows)`: a builtin or a name
    imported from outside the project never forwards a BackgroundTasks, so `rows` (the result
    of a project call) is not evaluated for them — only `tasks.add_task(reports.build, ...)`
    reads app.reports."""
    from flake8_fastapi_bg import collect, values

    root = write(tmp_path, LIBRARY_CALLS)
    routes = root / "app" / "routes.py"
    evaluated = []
    original = values.Evaluator.expr
    monkeypatch.setattr(values.Evaluator, "expr", lambda self, expr, scope: evaluated.append(
        cst.Module(body=[]).code_for_node(expr)) or original(self, expr, scope))
    found = lint_source(str(routes), routes.read_text(), Settings(), routes)
    assert [f.code for f in found] == ["FBG101"]
    assert "rows" not in evaluated
    assert collect._library_callee(cst.parse_expression("json.dumps"), _scope_of(routes, "export"))
    assert not collect._library_callee(cst.parse_expression("reports.build"), _scope_of(routes, "export"))


def _scope_of(path: Path, function: str):
    info = project.project_for(path)._modules["app.routes"]
    binding = info.scope.local(function)[-1]
    return info.scope.child(binding.node)


def test_the_installed_fastapi_version_is_read_from_its_package(monkeypatch) -> None:
    """FBG203 needs the installed FastAPI's version; `importlib.metadata` reads every
    distribution on the path to find it, so the version comes from `fastapi/__init__.py`."""
    import importlib.metadata

    from flake8_fastapi_bg import settings

    expected = tuple(int(p) for p in importlib.metadata.version("fastapi").split(".")[:3])
    monkeypatch.setattr(settings, "_installed", {})
    monkeypatch.setattr(importlib.metadata, "version", lambda name: pytest.fail("metadata read"))
    assert settings.installed_fastapi_version() == expected
    # Without a declared version the metadata is still the answer.
    monkeypatch.setattr(settings, "_installed", {})
    monkeypatch.setattr(settings, "_declared_version", lambda package: None)
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.99.1")
    assert settings.installed_fastapi_version() == (0, 99, 1)


FORWARDERS = {
    "app/__init__.py": "",
    "app/helpers.py": '''
        def save(db, record):
            db.add(record)


        def notify(text):
            print(text)


        def store(db, label):
            save(db, label.upper())
            notify(label)


        def run_async(func, *args):
            return func(*args)
        ''',
    "app/routes.py": '''
        import hashlib

        from fastapi import BackgroundTasks

        from app.helpers import run_async, store


        def crunch(n):
            return hashlib.pbkdf2_hmac("sha256", b"pw", b"salt", n)


        def job(db, n):
            store(db, "done")
            run_async(crunch, n)


        def route(tasks: BackgroundTasks, db) -> None:
            tasks.add_task(job, db, 10**6)
        ''',
}


def test_a_callee_is_searched_only_for_the_parameters_an_argument_may_hand_a_function(
        tmp_path: Path, fresh_caches, monkeypatch) -> None:
    """Whether a function runs a callable its parameter holds is asked for the parameters a
    caller's argument lands on, and not for a literal (`store(db, "done")`, `add_task(job, db,
    10**6)`): `store` is not searched for running `label`, nor `job` for running `n`."""
    from flake8_fastapi_bg import decorators

    root = write(tmp_path, FORWARDERS)
    routes = root / "app" / "routes.py"
    asked = []
    original = decorators.runs_param
    monkeypatch.setattr(decorators, "runs_param", lambda body, param, owner, evaluator, depth: asked.append(
        (body.name, param)) or original(body, param, owner, evaluator, depth))
    found = lint_source(str(routes), routes.read_text(), Settings(), routes)
    assert [f.code for f in found] == ["FBG101"]
    assert "crunch" in found[0].message
    assert ("run_async", "func") in asked and ("store", "db") in asked
    assert ("store", "label") not in asked and ("job", "n") not in asked


def test_evidence_copies_match_dataclasses_replace() -> None:
    """`analyse._evolve` copies evidence without `dataclasses.replace`: equal to it for every
    field changed, and `Evidence` keeps no `__post_init__` the copy would skip."""
    import dataclasses

    from flake8_fastapi_bg.analyse import _evolve
    from flake8_fastapi_bg.model import Evidence, Hop, Where

    assert not hasattr(Evidence, "__post_init__")
    base = Evidence("blocking", "requests.get", "sync HTTP", Where("a.py", 3, 4), chain=("f",),
                    hops=(Hop("m.f", "call", "runs f"),))
    for changes in ({"on_loop": True}, {"off_loop": True}, {"is_call": False},
                    {"kind": "long", "reason": "sync HTTP repeated in a while loop"},
                    {"chain": ("g", "f"), "hops": (Hop("m.g", "call", "runs g"),) + base.hops}):
        copied = _evolve(base, **changes)
        assert copied == dataclasses.replace(base, **changes) and type(copied) is Evidence
        assert base.chain == ("f",) and not base.on_loop  # the original is untouched


CLOSERS_MODULE = '''
import contextlib


def helper(a, b):
    return [x for x in a if x in b]


class Service:
    def method(self, request):
        yield request

    async def dispatch(self, request, call_next):
        request.state.db = make()
        response = await call_next(request)
        request.state.db.close()
        return response


if flag:
    def attach(request: Request):
        request.state.db = make()
        try:
            yield
        finally:
            request.state.db.close()


def attach_first(req):
    req.state.db = make()
    yield
    req.state.db.close()


def outer():
    def plain(value):
        return value
    return plain
'''


def test_the_closers_scan_walks_the_bodies_of_middlewares_and_request_dependencies_only(
        monkeypatch) -> None:
    """`closers_in` finds the functions by their statements alone and walks the body of a
    function only when it may close something: a middleware (a `call_next` parameter) or a
    plain function taking the request (a dependency with `yield`). Which closer an attribute
    gets stays the one a breadth-first walk of the whole tree meets first: the method's
    middleware over both dependencies, and of the dependencies the one less deeply nested."""
    from flake8_fastapi_bg.facts import middlewares

    walked = []
    original = middlewares._own_nodes
    monkeypatch.setattr(middlewares, "_own_nodes", lambda function: walked.append(function.name)
                        or original(function))
    found = middlewares.closers_in(CLOSERS_MODULE, "m.py")
    assert [(c.attr, c.middleware, c.where, c.kind) for c in found.values()] == [
        ("db", "Service.dispatch", "m.py:16", "middleware")]
    assert set(walked) == {"dispatch", "attach", "attach_first"}
    without_middleware = CLOSERS_MODULE.replace("call_next", "next_call")
    found = middlewares.closers_in(without_middleware, "m.py")
    assert [(c.middleware, c.where, c.kind) for c in found.values()] == [
        ("attach_first", "m.py:32", "dependency")]


RESPONSES = {
    "app/__init__.py": "",
    "app/routes.py": '''
        from fastapi import APIRouter, BackgroundTasks
        from fastapi.responses import JSONResponse
        from starlette.background import BackgroundTask

        router = APIRouter()


        def audit(item_id):
            print(item_id)


        @router.post("/items")
        def create(item_id: int, tasks: BackgroundTasks):
            tasks.add_task(audit, item_id)
            return {"id": item_id}


        @router.post("/orders")
        def order(order_id: int, tasks: BackgroundTasks):
            tasks.add_task(audit, order_id)
            return JSONResponse({"id": order_id}, background=BackgroundTask(audit, order_id))
        ''',
}


def test_fbg205_evaluates_the_parameters_only_of_routes_returning_a_response_with_tasks(
        tmp_path: Path, fresh_caches, monkeypatch) -> None:
    """FBG205 (a response's `background=` drops the injected tasks) reads a route's returns
    before it evaluates the route's parameters: `create` returns no response with tasks, so
    which of its parameters FastAPI fills with the BackgroundTasks is not asked."""
    from flake8_fastapi_bg.facts.routes import RouteFacts

    root = write(tmp_path, RESPONSES)
    routes = root / "app" / "routes.py"
    asked = []
    original = RouteFacts.injected_tasks_params
    monkeypatch.setattr(RouteFacts, "injected_tasks_params",
                        lambda self, scope: asked.append(scope.name) or original(self, scope))
    found = lint_source(str(routes), routes.read_text(), Settings(), routes)
    assert [f.code for f in found] == ["FBG205"]
    assert asked == ["order"]
