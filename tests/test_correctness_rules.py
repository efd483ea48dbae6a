"""FBG201-FBG209: the rule records, their examples, and the facts the checks rest on."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List

import libcst as cst
import pytest

from flake8_fastapi_bg import rules
from flake8_fastapi_bg.facts.callables import CallShape, bind_problem, task_shape
from flake8_fastapi_bg.engine import lint_source
from flake8_fastapi_bg.facts.flow import FunctionFlow
from flake8_fastapi_bg.model import Finding
from flake8_fastapi_bg.settings import Settings

CODES = [f"FBG20{n}" for n in range(1, 10)]
PREMISES = Path(__file__).parent / "premises" / "test_runtime_premises.py"


def _lint(source: str, tmp_path: Path, files=(), settings: Settings = Settings()) -> List[Finding]:
    """Lint `source` as app/main.py of a small project holding the example's extra modules."""
    root = tmp_path / "project"
    (root / "app").mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'example'\n")
    (root / "app" / "__init__.py").write_text("")
    for name, text in files:
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    path = root / "app" / "main.py"
    path.write_text(source)
    return lint_source(str(path), source, settings, path)


# -- the rule records ------------------------------------------------------------------------------
@pytest.mark.parametrize("code", CODES)
def test_rule_record_is_complete(code: str) -> None:
    rule = rules.REGISTRY[code]
    assert isinstance(rule, rules.ModuleRule) and callable(rule.check)
    for text in (rule.summary, rule.what, rule.why, rule.fix):
        assert text.strip() and "\n" not in text.strip()
    assert rule.references and all(url.startswith("https://") for _, url in rule.references)
    assert re.fullmatch(r"[a-z]+(-[a-z]+)+", rule.name)
    assert rule.fixable == (code in ("FBG201", "FBG208"))


@pytest.mark.parametrize("code", CODES)
def test_bad_example_gives_exactly_one_finding(code: str, tmp_path: Path) -> None:
    rule = rules.REGISTRY[code]
    findings = _lint(rule.bad.source, tmp_path, rule.bad.files)
    assert [f.code for f in findings if f.code == code] == [code], findings
    assert [f for f in findings if f.code != code] == [], "the bad example shows only its own rule"


@pytest.mark.parametrize("code", CODES)
def test_good_example_gives_none(code: str, tmp_path: Path) -> None:
    rule = rules.REGISTRY[code]
    assert _lint(rule.good.source, tmp_path, rule.good.files) == []


@pytest.mark.parametrize("code", ["FBG201", "FBG208"])
def test_fixable_bad_examples_are_fixed_into_the_good_ones(code: str, tmp_path: Path) -> None:
    from flake8_fastapi_bg.edits import apply_fixes

    rule = rules.REGISTRY[code]
    fixed, count = apply_fixes(rule.bad.source, _lint(rule.bad.source, tmp_path))
    assert count == 1
    assert fixed == rule.good.source


# -- version-dependent rules -----------------------------------------------------------------------
YIELD_DEPENDENCY = '''
from typing import Annotated, Iterator

from fastapi import BackgroundTasks, Depends, FastAPI

app = FastAPI()


class Session:
    def close(self) -> None:
        pass


def get_session() -> Iterator[Session]:
    session = Session()
    yield session
    session.close()


def use(session: Session) -> None:
    print(session)


@app.post("/")
def route(session: Annotated[Session, Depends(get_session{scope})], background_tasks: BackgroundTasks):
    background_tasks.add_task(use, session)
    return {{}}
'''


@pytest.mark.parametrize(("version", "scope", "flagged"), [
    ("0.100", "", False),
    ("0.106", "", True),
    ("0.117.1", "", True),
    ("0.118", "", False),
    ("0.165", "", False),
    ("0.120", ', scope="function"', False),
    ("0.121", ', scope="function"', True),
    ("0.165", ', scope="function"', True),
    ("0.165", ', scope="request"', False),
])
def test_fbg203_follows_the_fastapi_timeline(version: str, scope: str, flagged: bool, tmp_path: Path) -> None:
    settings = Settings.from_values({"fastapi-version": version})
    findings = _lint(YIELD_DEPENDENCY.format(scope=scope), tmp_path, settings=settings)
    assert [f.code for f in findings] == (["FBG203"] if flagged else [])


AFTER_YIELD = '''
from typing import Iterator

from fastapi import BackgroundTasks, Depends, FastAPI

app = FastAPI()


def record(text: str) -> None:
    print(text)


def audited(background_tasks: BackgroundTasks) -> Iterator[None]:
    yield
    background_tasks.add_task(record, "after")


@app.get("/", dependencies=[Depends(audited{scope})])
def route():
    return {{}}
'''


@pytest.mark.parametrize(("version", "scope", "flagged"), [
    ("0.105", "", True),
    ("0.106", "", False),
    ("0.117", "", False),
    ("0.118", "", True),
    ("0.165", "", True),
    ("0.165", ', scope="function"', False),
])
def test_fbg207_follows_the_fastapi_timeline(version: str, scope: str, flagged: bool, tmp_path: Path) -> None:
    settings = Settings.from_values({"fastapi-version": version})
    findings = _lint(AFTER_YIELD.format(scope=scope), tmp_path, settings=settings)
    assert [f.code for f in findings] == (["FBG207"] if flagged else [])


# -- the premises file: the linter agrees with the runtime proofs ------------------------------------
def test_premises_findings_are_exactly_on_their_noqa_lines() -> None:
    source = PREMISES.read_text(encoding="utf-8")
    lines = source.splitlines()
    findings = [f for f in lint_source(str(PREMISES), source, Settings(), PREMISES)
                if f.code.startswith("FBG2")]
    for finding in findings:
        assert f"noqa: {finding.code}" in lines[finding.line - 1], finding
    # Some `noqa` lines are deliberately left alone: `add_task(send, *args, **kwargs)` (splats make
    # binding unknowable), and the WebSocket route that runs its own tasks with
    # `await background_tasks()` (then they do run). Every other rule is seen at least once.
    found = {f.code for f in findings}
    expected = {m.group(1) for m in re.finditer(r"noqa: (FBG2\d\d)", source)} - {"FBG202"}
    assert expected <= found


# -- binding ------------------------------------------------------------------------------------
def _scope(source: str):
    from flake8_fastapi_bg.project import Project

    module = cst.parse_module(source)
    info = Project(()).adopt("m", None, "m.py", module, False)
    return info.scope.child(module.body[0])


@pytest.mark.parametrize(("signature", "skip", "shape", "problem"), [
    ("def f(a, b): pass", False, CallShape(2, ()), None),
    ("def f(a, b): pass", False, CallShape(1, ()), "missing required argument 'b'"),
    ("def f(a, b): pass", False, CallShape(0, ()), "missing required arguments 'a', 'b'"),
    ("def f(a, b=1): pass", False, CallShape(3, ()), "it takes 2 positional arguments but 3 were given"),
    ("def f(a, *rest): pass", False, CallShape(5, ()), None),
    ("def f(a, **kw): pass", False, CallShape(1, ("z",)), None),
    ("def f(a): pass", False, CallShape(1, ("z",)), "unexpected keyword argument 'z'"),
    ("def f(a): pass", False, CallShape(1, ("a",)), "got multiple values for argument 'a'"),
    ("def f(a, /, b): pass", False, CallShape(0, ("a", "b")),
     "positional-only argument 'a' passed as a keyword"),
    ("def f(a, /, **kw): pass", False, CallShape(1, ("a",)), None),
    ("def f(*, key): pass", False, CallShape(0, ()), "missing required argument 'key'"),
    ("def f(*, key=1): pass", False, CallShape(1, ()), "it takes 0 positional arguments but 1 was given"),
    ("def f(self, a): pass", True, CallShape(1, ()), None),
    ("def f(self, a): pass", True, CallShape(0, ("self",)), "unexpected keyword argument 'self'"),
    ("def f(self, a): pass", True, CallShape(2, ()), "it takes 1 positional argument but 2 were given"),
])
def test_bind_problem(signature: str, skip: bool, shape: CallShape, problem) -> None:
    assert bind_problem(_scope(signature), skip, shape) == problem


def test_partial_arguments_come_first_and_keywords_merge() -> None:
    partial = cst.parse_expression("partial(f, 1, key=2)")
    site = cst.parse_expression("g(3, key=4, other=5)")
    assert isinstance(partial, cst.Call) and isinstance(site, cst.Call)
    assert task_shape([partial], site.args) == CallShape(2, ("key", "other"))
    starred = cst.parse_expression("g(*xs)")
    assert isinstance(starred, cst.Call)
    assert task_shape([partial], starred.args) is None


# -- statement order ------------------------------------------------------------------------------
FLOW = '''
def f(bg):
    if a:
        bg.add_task(x)
        return 1
    elif b:
        bg.add_task(y)
    try:
        yield 1
    except E:
        h()
    finally:
        bg.add_task(q)
    for i in items:
        bg.add_task(z)
    return last()
'''


def test_flow_orders_statements_structurally() -> None:
    function = cst.parse_module(FLOW).body[0]
    flow = FunctionFlow(function)
    calls = {}

    class _Calls(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            calls[cst.Module(body=[]).code_for_node(node)] = flow.statement_of(node)

        def visit_Yield(self, node: cst.Yield) -> None:
            calls["yield"] = flow.statement_of(node)

    function.visit(_Calls())
    last = calls["last()"]
    assert flow.precedes(calls["bg.add_task(x)"], last)
    assert not flow.falls_through(calls["bg.add_task(x)"], last)  # its branch returns first
    assert flow.falls_through(calls["bg.add_task(y)"], last)
    assert not flow.precedes(calls["bg.add_task(x)"], calls["bg.add_task(y)"])  # other branch
    assert flow.precedes(calls["yield"], calls["bg.add_task(q)"])  # try body -> finally
    assert flow.precedes(calls["yield"], calls["h()"])  # try body -> handler
    assert not flow.precedes(calls["bg.add_task(q)"], calls["yield"])
    assert flow.falls_through(calls["bg.add_task(z)"], last)  # after the loop


# -- FBG203: middlewares found across the project ----------------------------------------------------
MIDDLEWARE = '''
from fastapi import Request


async def db_session_middleware(request: Request, call_next):
    request.state.db = object()
    try:
        return await call_next(request)
    finally:
        request.state.db.close()
'''

MIDDLEWARE_ROUTE = '''
from fastapi import BackgroundTasks, FastAPI, Request

app = FastAPI()


def save(db) -> None:
    print(db)


@app.post("/")
def route(request: Request, background_tasks: BackgroundTasks):
    background_tasks.add_task(save, request.state.db)
    return {}
'''


@pytest.mark.parametrize(("where", "flagged"), [
    ("app/middleware.py", True),
    ("app/api/middleware.py", True),
    ("tests/middleware.py", False),  # a test app's middleware does not wrap the real routes
    ("app/test_middleware.py", False),
    (".venv/lib/middleware.py", False),
])
def test_fbg203_middleware_anywhere_in_the_project(where: str, flagged: bool, tmp_path: Path) -> None:
    from flake8_fastapi_bg.project import _project_for_dir, _project_for_roots

    _project_for_dir.cache_clear()
    _project_for_roots.cache_clear()  # a fresh project: its middleware scan is cached
    findings = _lint(MIDDLEWARE_ROUTE, tmp_path, files=[(where, MIDDLEWARE)])
    assert [f.code for f in findings] == (["FBG203"] if flagged else [])
    if flagged:
        assert f"{where}:10 as soon as call_next returns" in findings[0].message


@pytest.mark.parametrize(("body", "closed"), [
    ("request.state.db = make()\n    response = await call_next(request)\n    request.state.db.close()\n"
     "    return response", True),
    ("db = make()\n    request.state.db = db\n    try:\n        return await call_next(request)\n"
     "    finally:\n        await db.aclose()", True),
    ("async with make_session() as db:\n        request.state.db = db\n"
     "        return await call_next(request)", True),
    # Closed before the endpoint runs, only on errors, never, or by a block that is not a session.
    ("request.state.db = make()\n    request.state.db.close()\n    return await call_next(request)", False),
    ("request.state.db = make()\n    try:\n        return await call_next(request)\n"
     "    except Exception:\n        request.state.db.close()\n        raise", False),
    ("request.state.db = make()\n    return await call_next(request)", False),
    ("with lock() as held:\n        request.state.guard = held\n"
     "        return await call_next(request)", False),
])
def test_middleware_closers(body: str, closed: bool) -> None:
    from flake8_fastapi_bg.facts.middlewares import closers_in

    source = f"async def middleware(request, call_next):\n    {body}\n"
    assert bool(closers_in(source, "m.py")) == closed


def test_yield_dependency_closers_are_marked_as_such() -> None:
    from flake8_fastapi_bg.facts.middlewares import closers_in

    source = ("def attach(request: Request):\n    request.state.db = make()\n    try:\n        yield\n"
              "    finally:\n        request.state.db.close()\n\n\n"
              "def not_closed(request: Request):\n    request.state.user = make()\n    yield\n")
    found = closers_in(source, "m.py")
    assert set(found) == {"db"} and found["db"].kind == "dependency" and found["db"].where == "m.py:6"
