"""Property tests: the engine on programs nobody wrote by hand.

a) Arbitrary Python from hypothesmith (from the grammar and from libcst's node types), alone, next
   to a real task site, and as the body of a task function, so that the generated code goes
   through the full analysis and not only through the text pre-filter.
b) Generated FastAPI apps: endpoints that get their BackgroundTasks in every supported way and
   schedule generated targets (sync/async functions, methods, static methods, partials, lambdas,
   helpers that forward the task) whose bodies sleep, hash, call HTTP clients, loop, call each
   other and recurse.

Properties: the engine never fails (no FBG901: its fault barrier turns any exception into one),
findings are deterministic and point at lines and columns that exist, and oracles taken from the
rule fixtures hold where the answer is certain (a blocking call directly in an async task is
FBG102, arguments that cannot bind are FBG202, an app of print-only tasks is silent, ...).
"""

from __future__ import annotations

import re
import textwrap
import warnings
from dataclasses import dataclass
from typing import List, Tuple

import hypothesmith
import pytest
from hypothesis import HealthCheck, assume, example, given, note, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from flake8_fastapi_bg.engine import lint_source
from flake8_fastapi_bg.settings import Settings

# A display name in a directory that does not exist: the generated module is its own project,
# isolated from the repository (nothing is written anywhere).
# hypothesmith compiles what it generates; its SyntaxWarnings ('str' object is not callable) are noise.
# Slow: hypothesmith and generated apps, many examples each (run with -m slow).
pytestmark = [pytest.mark.filterwarnings("ignore::SyntaxWarning"), pytest.mark.slow]

DISPLAY = "/nonexistent-fbg-properties/generated/app.py"
SETTINGS = Settings()
HEALTH = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
          HealthCheck.large_base_example]

Row = Tuple[int, int, str, str]


def lint(source: str) -> List[Row]:
    return [(f.line, f.col, f.code, f.message) for f in lint_source(DISPLAY, source, SETTINGS)]


def physical_lines(source: str) -> List[str]:
    """Lines as libcst and tokenize count them (not str.splitlines, which also splits on \\x0c)."""
    return re.split(r"\r\n|\r|\n", source)


def check_universal(source: str) -> List[Row]:
    """The properties every input must have; returns the findings for further oracles."""
    first = lint(source)
    if currently_in_test_context():
        note("findings: " + repr([(line, code) for line, _, code, _ in first]))
    internal = [row for row in first if row[2] == "FBG901"]
    assert not internal, f"FBG901 on:\n{source}\n{internal}"
    assert lint(source) == first, "findings changed on a second run"
    lines = physical_lines(source)
    for line, col, code, message in first:
        assert 1 <= line <= len(lines), (line, code, message)
        assert 0 <= col <= len(lines[line - 1]), (line, col, code, lines[line - 1])
    return first


def compiles(source: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(source, "<generated>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return False
    return True


# ---------------------------------------------------------------------------------------------
# a) hypothesmith programs

SITE_SNIPPET = '''
from fastapi import BackgroundTasks as BackgroundTasks_, FastAPI as FastAPI_

app_ = FastAPI_()


def work_(x):
    print(x)


@app_.post("/x")
def endpoint_(background_tasks: BackgroundTasks_):
    background_tasks.add_task(work_, 1)
'''

TASK_BODY_TEMPLATE = '''from fastapi import BackgroundTasks as BackgroundTasks_, FastAPI as FastAPI_

app_ = FastAPI_()


{keyword}def work_(x):
    pass
{body}

@app_.post("/x")
def endpoint_(background_tasks: BackgroundTasks_):
    background_tasks.add_task(work_, 1)
'''


def with_task_site(program: str, mode: str) -> str:
    if not program.endswith("\n"):
        program += "\n"
    if mode == "alone":
        return program
    if mode == "site-after":
        return program + SITE_SNIPPET
    if mode == "site-before":
        return SITE_SNIPPET + "\n" + program
    keyword = "async " if mode == "async-task-body" else ""
    return TASK_BODY_TEMPLATE.format(keyword=keyword, body=textwrap.indent(program, "    "))


MODES = st.sampled_from(["alone", "site-after", "site-before", "task-body", "async-task-body"])
SITE_MODES = st.sampled_from(["site-after", "site-before", "task-body", "async-task-body"])


@settings(max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=HEALTH)
@given(program=hypothesmith.from_grammar(), mode=MODES)
@example(program="x = 1\n", mode="alone")
@example(program="while True:\n    time.sleep(1)\n", mode="async-task-body")
def test_grammar_programs_never_break_the_engine(program: str, mode: str) -> None:
    source = with_task_site(program, mode)
    assume(compiles(source))
    check_universal(source)


@settings(max_examples=40, deadline=None, derandomize=True, database=None, suppress_health_check=HEALTH)
@given(program=hypothesmith.from_node(), mode=SITE_MODES)
def test_libcst_node_programs_never_break_the_engine(program: str, mode: str) -> None:
    source = with_task_site(program, mode)
    assume(compiles(source))
    check_universal(source)


# Deeply nested but ordinary Python (long `elif` chains, long concatenations, long boolean
# expressions: generated code, tables, big literals) must not overflow the analysis.
DEEP_SHAPES = {
    "implicit string concatenation":
        lambda n: "TEXT = (\n" + "".join(f"    'line {i}\\n'\n" for i in range(n)) + ")\n",
    "binary operator chain": lambda n: "TOTAL = " + " + ".join(str(i) for i in range(n)) + "\n",
    "boolean chain": lambda n: "FLAG = " + " or ".join(f"v{i}" for i in range(n)) + "\n",
    "elif chain": lambda n: "def pick(v):\n    if v == -1:\n        return -1\n"
                            + "".join(f"    elif v == {i}:\n        return {i}\n" for i in range(n)),
    "attribute chain": lambda n: "def walk(o):\n    return o" + ".next" * n + "\n",
}


BLOCKING_SITE = '''import time

from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


async def nap():
    time.sleep(1)


@app.post("/x")
def endpoint(background_tasks: BackgroundTasks):
    background_tasks.add_task(nap)
'''


@pytest.mark.parametrize("shape", sorted(DEEP_SHAPES))
@pytest.mark.parametrize("size", [100, 600])
def test_deeply_nested_code_never_breaks_the_engine(shape: str, size: int) -> None:
    program = DEEP_SHAPES[shape](size)
    for mode in ("site-after", "task-body", "async-task-body"):
        source = with_task_site(program, mode)
        assert compiles(source)
        internal = [row for row in lint(source) if row[2] == "FBG901"]
        assert not internal, f"{shape} x{size} ({mode}): {internal}"
    # Deep code elsewhere in the file does not hide the findings of its task sites.
    source = BLOCKING_SITE + "\n\n" + program
    assert compiles(source)
    line = BLOCKING_SITE.splitlines().index("    background_tasks.add_task(nap)") + 1
    assert [(row[0], row[2]) for row in lint(source)] == [(line, "FBG102")], shape


# ---------------------------------------------------------------------------------------------
# b) generated FastAPI apps

HEADER = '''import asyncio
import functools
import hashlib
import time
from typing import Annotated

import httpx
import requests
from fastapi import BackgroundTasks, Depends, FastAPI
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

app = FastAPI()
SWITCH = False


def get_tasks(background_tasks: BackgroundTasks) -> BackgroundTasks:
    return background_tasks


def schedule(tasks: BackgroundTasks, func, *args, **kwargs) -> None:
    tasks.add_task(func, *args, **kwargs)
'''

URL = '"https://example.com/"'
# Statement kinds a target body is drawn from, and what each one is.
BLOCKING = {"time.sleep", "requests.get", "httpx.get"}  # blocking calls known to the knowledge base
CPU = {"pbkdf2"}


@dataclass
class Target:
    index: int
    is_async: bool
    params: int  # p0 .. p{params-1}
    defaults: int  # the last `defaults` params have a default
    kinds: List[str]  # statement kinds of its own body, in order
    body: List[str]  # source lines of the body (indented by 4)

    @property
    def name(self) -> str:
        return f"t{self.index}"

    @property
    def required(self) -> int:
        return self.params - self.defaults

    def signature(self, self_param: bool = False) -> str:
        names = (["self"] if self_param else []) + [
            f"p{i}" if i < self.required else f"p{i}=None" for i in range(self.params)]
        return ", ".join(names)

    @property
    def print_only(self) -> bool:
        return all(k == "print" for k in self.kinds)


@dataclass
class Site:
    line: int  # 1-based line of the scheduling call (the reported line)
    target: Target
    form: str  # direct, method, static, partial, lambda
    mode: str  # how the endpoint got its tasks
    given: int  # positional arguments the target receives in total (partial + site)

    @property
    def binds(self) -> bool:
        return self.target.required <= self.given <= self.target.params


@dataclass
class App:
    source: str
    targets: List[Target]
    sites: List[Site]


def args_text(count: int, start: int = 0) -> str:
    return ", ".join(repr(["x", 1, None, 2.5][(start + i) % 4]) for i in range(count))


@st.composite
def statement(draw, target_index: int, is_async: bool, params: int, count: int, clean: bool,
              earlier: List[Target]) -> Tuple[str, List[str]]:
    """One statement of a target body: (kind, lines without the function's indentation)."""
    kinds = ["print"] if clean else ["print", "time.sleep", "pbkdf2", "requests.get", "httpx.get",
                                     "loop", "call", "recurse"]
    if is_async and not clean:
        kinds += ["asyncio.sleep", "httpx.async"]
    if clean and earlier:
        kinds.append("call")
    kind = draw(st.sampled_from(kinds))
    value = "p0" if params else "'x'"
    seconds = draw(st.sampled_from(["0", "1", "2", "10", "60", "3600", "0.5"]))
    if kind == "print":
        arguments = ", ".join(f"p{i}" for i in range(params)) or "'done'"
        return kind, [f"print({arguments})"]
    if kind == "time.sleep":
        return kind, [f"time.sleep({seconds})"]
    if kind == "asyncio.sleep":
        return kind, [f"await asyncio.sleep({seconds})"]
    if kind == "pbkdf2":
        return kind, ['hashlib.pbkdf2_hmac("sha256", b"secret", b"salt", 600_000)']
    if kind == "requests.get":
        return kind, [f"requests.get({URL}, params={{'q': {value}}}, timeout=5)"]
    if kind == "httpx.get":
        return kind, [f"httpx.get({URL})"]
    if kind == "httpx.async":
        return kind, ["async with httpx.AsyncClient() as client:", f"    await client.get({URL})"]
    if kind == "loop":
        inner_kind, inner = draw(statement(target_index, is_async, params, count, clean, earlier)
                                 .filter(lambda s: s[0] not in ("loop", "httpx.async")))
        head = draw(st.sampled_from(["for _ in range(3):", f"while {value}:"]))
        tail = [] if head.startswith("for") else ["    break"]
        return "loop", [head] + ["    " + line for line in inner] + tail
    if kind == "recurse":
        call = f"{'await ' if is_async else ''}t{target_index}({args_text(params)})"
        return kind, ["if SWITCH:", f"    {call}"]
    # "call": another, earlier target (so that a clean app has no cycles), or any one.
    pool = earlier if clean else earlier + [None]
    other = draw(st.sampled_from(pool))
    if other is None:
        name, other_async, other_params = f"t{draw(st.integers(0, count - 1))}", False, None
    else:
        name, other_async, other_params = other.name, other.is_async, other.required
    call = f"{name}({args_text(other_params if other_params is not None else 1)})"
    if other_async and is_async:
        return kind, [f"await {call}"]
    if other_async:
        return kind, [f"asyncio.run({call})"]
    return kind, [call]


@st.composite
def targets(draw, count: int, clean: bool) -> List[Target]:
    made: List[Target] = []
    for index in range(count):
        is_async = draw(st.booleans())
        params = draw(st.integers(0, 3))
        defaults = draw(st.integers(0, params))
        statements = draw(st.lists(statement(index, is_async, params, count, clean, list(made)),
                                   min_size=1, max_size=4))
        kinds = [kind for kind, _ in statements]
        body = [line for _, lines in statements for line in lines]
        made.append(Target(index, is_async, params, defaults, kinds, body))
    return made


ACQUISITION = ["parameter", "annotated", "depends", "constructed", "response", "helper"]
FORMS = ["direct", "method", "static", "partial", "lambda"]


@st.composite
def apps(draw, clean: bool = False) -> App:
    count = draw(st.integers(1, 4))
    made = draw(targets(count, clean))
    lines = HEADER.splitlines()

    def emit(*new: str) -> None:
        lines.extend(new)

    for target in made:
        keyword = "async def" if target.is_async else "def"
        emit("", "", f"{keyword} {target.name}({target.signature()}):", *["    " + b for b in target.body])
        # The same work as a method and as a static method.
        emit("", "", f"class K{target.index}:",
             f"    {keyword} m({target.signature(self_param=True)}):", *["        " + b for b in target.body],
             "", "    @staticmethod",
             f"    {keyword} s({target.signature()}):", *["        " + b for b in target.body])

    sites: List[Site] = []
    for number in range(draw(st.integers(1, 4))):
        mode = draw(st.sampled_from(ACQUISITION))
        endpoint_async = draw(st.booleans())
        parameter = {
            "parameter": "background_tasks: BackgroundTasks",
            "annotated": "background_tasks: Annotated[BackgroundTasks, Depends()]",
            "depends": "background_tasks: BackgroundTasks = Depends(get_tasks)",
            "helper": "background_tasks: BackgroundTasks",
        }.get(mode, "")
        emit("", "", f'@app.post("/e{number}")',
             f"{'async def' if endpoint_async else 'def'} e{number}({parameter}):")
        if mode == "constructed":
            emit("    background_tasks = BackgroundTasks()")
        for _ in range(1 if mode == "response" else draw(st.integers(1, 3))):
            target = draw(st.sampled_from(made))
            forms = ["direct", "method", "static", "partial"]
            if not (clean and target.is_async):  # a lambda over an async def loses the coroutine
                forms.append("lambda")
            form = draw(st.sampled_from(forms))
            if clean:
                given = draw(st.integers(target.required, target.params))
            else:
                given = max(0, target.params + draw(st.sampled_from([0, 0, 0, -1, 1])))
            if form == "lambda":
                callable_text, site_args = f"lambda: {target.name}({args_text(given)})", ""
            elif form == "partial":
                bound = min(1, given)
                callable_text = f"functools.partial({target.name}{', ' if bound else ''}{args_text(bound)})"
                site_args = args_text(given - bound, start=bound)
            else:
                callable_text = {"direct": target.name, "method": f"K{target.index}().m",
                                 "static": f"K{target.index}.s"}[form]
                site_args = args_text(given)
            call_args = callable_text + (", " + site_args if site_args else "")
            if mode == "response":
                emit(f"    task = BackgroundTask({call_args})")
            elif mode == "helper":
                emit(f"    schedule(background_tasks, {call_args})")
            else:
                emit(f"    background_tasks.add_task({call_args})")
            sites.append(Site(len(lines), target, form, mode, given))
        if mode == "constructed":
            emit("    return JSONResponse({}, background=background_tasks)")
        elif mode == "response":
            emit("    return JSONResponse({}, background=task)")
        else:
            emit("    return {}")
    return App("\n".join(lines) + "\n", made, sites)


def reported(findings: List[Row], line: int, prefix: str = "FBG") -> List[str]:
    return [code for at, _, code, _ in findings if at == line and code.startswith(prefix)]


def describe(app: App) -> None:
    note(app.source)
    for site in app.sites:
        note(f"line {site.line}: {site.form} {site.target.name} via {site.mode}, "
             f"{site.given} arg(s) for {site.target.required}..{site.target.params}")


def blocking_calls(target: Target) -> set:
    """Blocking calls written in the target's own body (inside loops too)."""
    body = "\n".join(target.body)
    return {name for name in BLOCKING if f"{name}(" in body}


# Sites whose task is known without doubt: the named function, method, static method or partial
# itself, or a lambda that calls a plain def. Arguments are checked only where they are visible:
# a forwarding helper's *args hide them (as in the FBG202 fixture).
BOUND_FORMS = {"direct", "method", "static", "partial"}


def resolved(site: Site) -> bool:
    return site.form in BOUND_FORMS or (site.form == "lambda" and not site.target.is_async)


@settings(max_examples=120, deadline=None, derandomize=True, database=None, suppress_health_check=HEALTH)
@given(app=apps())
def test_generated_apps(app: App) -> None:
    describe(app)
    assert compiles(app.source), app.source
    findings = check_universal(app.source)
    for site in app.sites:
        target = site.target
        codes = reported(findings, site.line)
        if site.form in BOUND_FORMS and site.mode != "helper":
            assert ("FBG202" in codes) == (not site.binds), (site, codes)
        if not resolved(site):
            continue
        blocking = blocking_calls(target)
        if target.is_async and blocking:
            assert "FBG102" in codes, (site, sorted(blocking), codes)
        if not target.is_async:
            assert "FBG102" not in codes, (site, codes)
        if "pbkdf2" in "\n".join(target.body):
            assert "FBG101" in codes, (site, codes)
        if target.print_only:
            assert not reported(findings, site.line, "FBG1"), (site, codes)


@settings(max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=HEALTH)
@given(app=apps(clean=True))
def test_generated_apps_of_harmless_tasks_are_silent(app: App) -> None:
    """Tasks that only print, called with arguments that bind, reached in every supported way,
    attached to the response they belong to: nothing to report anywhere in the file."""
    describe(app)
    assert compiles(app.source), app.source
    findings = check_universal(app.source)
    assert findings == [], findings


def test_oracles_hold_on_a_hand_written_app() -> None:
    """The generator's oracles, on one app written out in full (a failure here is easier to read
    than a shrunk example)."""
    source = HEADER + '''

async def nap(p0):
    time.sleep(1)


def derive(p0):
    hashlib.pbkdf2_hmac("sha256", b"secret", b"salt", 600_000)


def say(p0, p1=None):
    print(p0, p1)


@app.post("/a")
def a(background_tasks: BackgroundTasks):
    background_tasks.add_task(nap, 1)
    background_tasks.add_task(derive, 1)
    background_tasks.add_task(say, 1)
    background_tasks.add_task(say, 1, 2, 3)
    return {}
'''
    findings = check_universal(source)
    lines = source.splitlines()

    def at(text: str) -> List[str]:
        return reported(findings, lines.index(f"    background_tasks.add_task({text})") + 1)

    assert at("nap, 1") == ["FBG102"], findings
    assert at("derive, 1") == ["FBG101"], findings
    assert at("say, 1") == [], findings
    assert at("say, 1, 2, 3") == ["FBG202"], findings
