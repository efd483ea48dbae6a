"""The FBG201/FBG208 rewrites: exact text, comments kept, and the result lints clean."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from flake8_fastapi_bg.edits import apply_fixes
from flake8_fastapi_bg.engine import lint_source
from flake8_fastapi_bg.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"

HEAD = '''\
import os

from fastapi import BackgroundTasks, FastAPI
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse

app = FastAPI()


def send(to: str, subject: str = "hi") -> None:
    print(to, subject)


async def notify(text: str) -> None:
    print(text)


@app.post("/")
async def route(x: str, background_tasks: BackgroundTasks) -> dict:
'''
TAIL = "    return {}\n"


def _fix(body: str, code: str):
    """Lint HEAD + body, apply the fixes, and return (new body, fix count, findings of `code`)."""
    source = HEAD + textwrap.indent(textwrap.dedent(body), "    ") + TAIL
    findings = [f for f in lint_source("example.py", source, Settings()) if f.code == code]
    fixed, count = apply_fixes(source, findings)
    assert fixed.startswith(HEAD) and fixed.endswith(TAIL)
    return fixed[len(HEAD):-len(TAIL)], count, findings


def _assert_clean(body: str, code: str) -> None:
    source = HEAD + body + TAIL
    compile(source, "example.py", "exec")
    assert [f for f in lint_source("example.py", source, Settings()) if f.code == code] == []


CASES = [
    pytest.param("FBG201", 'background_tasks.add_task(send(x, subject="a"))\n',
                 '    background_tasks.add_task(send, x, subject="a")\n', id="call"),
    pytest.param("FBG201", "background_tasks.add_task(send(x))  # keep me\n",
                 "    background_tasks.add_task(send, x)  # keep me\n", id="trailing-comment"),
    pytest.param("FBG201", "background_tasks.add_task(await notify(x))\n",
                 "    background_tasks.add_task(notify, x)\n", id="await"),
    pytest.param("FBG201", "background_tasks.add_task(notify(x))\n",
                 "    background_tasks.add_task(notify, x)\n", id="coroutine"),
    pytest.param("FBG201", 'background_tasks.add_task(os.remove("/tmp/x"))\n',
                 '    background_tasks.add_task(os.remove, "/tmp/x")\n', id="library"),
    pytest.param("FBG201", "background_tasks.add_task(send(x),)\n",
                 "    background_tasks.add_task(send, x,)\n", id="outer-trailing-comma"),
    pytest.param("FBG201", 'return JSONResponse({}, background=BackgroundTask(send(x, "s")))\n',
                 '    return JSONResponse({}, background=BackgroundTask(send, x, "s"))\n',
                 id="background-task"),
    pytest.param("FBG201", '''\
        background_tasks.add_task(
            # leading comment
            send(  # after paren
                x,  # the address
                # own-line comment
                subject="hi",
            ),  # trailing
        )
        ''', '''\
    background_tasks.add_task(
        # leading comment
        send,  # after paren
        x,  # the address
        # own-line comment
        subject="hi",  # trailing
    )
''', id="multi-line-comments"),
    pytest.param("FBG201", '''\
        background_tasks.add_task(send(
            x,
            subject="hi",
        ))
        ''', '''\
    background_tasks.add_task(send,
        x,
        subject="hi",
    )
''', id="hanging"),
    pytest.param("FBG201", '''\
        background_tasks.add_task(
            send(x, subject="y")
        )
        ''', '''\
    background_tasks.add_task(
        send, x, subject="y"
    )
''', id="inner-on-one-line"),
    pytest.param("FBG201", '''\
        background_tasks.add_task(
            send(
                x,
                subject={
                    "a": 1,
                    # nested comment
                    "b": 2,
                },
            )
        )
        ''', '''\
    background_tasks.add_task(
        send,
        x,
        subject={
            "a": 1,
            # nested comment
            "b": 2,
        },
    )
''', id="nested-literal-dedented"),
    pytest.param("FBG208", "background_tasks.add_task(lambda: notify(x))\n",
                 "    background_tasks.add_task(notify, x)\n", id="lambda"),
    pytest.param("FBG208", 'background_tasks.add_task(lambda: notify(text=f"hi {x}"))\n',
                 '    background_tasks.add_task(notify, text=f"hi {x}")\n', id="lambda-keyword"),
    pytest.param("FBG208", '''\
        background_tasks.add_task(
            lambda: notify(
                x,  # what to say
            )
        )
        ''', '''\
    background_tasks.add_task(
        notify,
        x,  # what to say
    )
''', id="lambda-multi-line"),
]


@pytest.mark.parametrize(("code", "body", "expected"), CASES)
def test_fix_rewrites_exactly(code: str, body: str, expected: str) -> None:
    fixed, count, findings = _fix(body, code)
    assert len(findings) == 1 and findings[0].fix is not None
    assert count == 1
    assert fixed == expected
    _assert_clean(fixed, code)


NOT_FIXED = [
    pytest.param("FBG201", 'background_tasks.add_task(send(x), "more")\n', id="further-args"),
    pytest.param("FBG201", "background_tasks.add_task(func=send(x))\n", id="keyword-func"),
    pytest.param("FBG201", "background_tasks.add_task((send(x)))\n", id="parenthesized"),
    pytest.param("FBG201", '''\
        background_tasks.add_task(
            send(
                x,  # inner
            ),  # outer
        )
        ''', id="comment-would-be-lost"),
    pytest.param("FBG208", "background_tasks.add_task(lambda: notify(x.upper()))\n", id="lambda-call-arg"),
    pytest.param("FBG208", "background_tasks.add_task(lambda t: notify(t), x)\n", id="lambda-params"),
    pytest.param("FBG208", "background_tasks.add_task(lambda: notify(x), 1)\n", id="lambda-extra-args"),
]


@pytest.mark.parametrize(("code", "body"), NOT_FIXED)
def test_ambiguous_cases_are_reported_without_a_fix(code: str, body: str) -> None:
    fixed, count, findings = _fix(body, code)
    assert len(findings) == 1
    assert findings[0].fix is None and count == 0
    assert fixed == textwrap.indent(textwrap.dedent(body), "    ")


def test_class_instances_are_not_rewritten() -> None:
    source = HEAD.replace("@app.post", "class Job:\n    pass\n\n\n@app.post") + \
        "    background_tasks.add_task(Job())\n" + TAIL
    findings = [f for f in lint_source("example.py", source, Settings()) if f.code == "FBG201"]
    assert len(findings) == 1 and findings[0].fix is None


def test_calls_returning_values_are_not_rewritten() -> None:
    # `add_task(render(x))` was probably meant as `add_task(send, render(x))`: moving the call
    # into the task would silently discard the value, so only the finding is given.
    functions = "def render(x: str) -> str:\n    return x\n\n\ndef rows(x: str):\n    yield x\n\n\n@app.post"
    source = HEAD.replace("@app.post", functions) + \
        "    background_tasks.add_task(render(x))\n    background_tasks.add_task(rows(x))\n" + TAIL
    findings = [f for f in lint_source("example.py", source, Settings()) if f.code == "FBG201"]
    assert [f.fix for f in findings] == [None, None]
    assert "which is a str" in findings[0].message and "which is a generator" in findings[1].message


def test_crlf_source_keeps_its_line_endings() -> None:
    body = "    background_tasks.add_task(\r\n        send(\r\n            x,\r\n        )\r\n    )\r\n"
    source = (HEAD + body + TAIL).replace("\r\n", "\n").replace("\n", "\r\n")
    findings = lint_source("example.py", source, Settings())
    fixed, count = apply_fixes(source, findings)
    assert count == 1
    assert "background_tasks.add_task(\r\n        send,\r\n        x,\r\n    )\r\n" in fixed
    assert "\n" not in fixed.replace("\r\n", "")


def test_fix_inside_a_method_keeps_block_indentation() -> None:
    source = HEAD + TAIL + textwrap.dedent('''\


        class Service:
            def schedule(self, background_tasks: BackgroundTasks, x: str) -> None:
                if x:
                    background_tasks.add_task(
                        send(
                            x,
                            subject="s",
                        )
                    )
        ''')
    findings = lint_source("example.py", source, Settings())
    fixed, count = apply_fixes(source, findings)
    assert count == 1
    assert ('        if x:\n'
            '            background_tasks.add_task(\n'
            '                send,\n'
            '                x,\n'
            '                subject="s",\n'
            '            )\n') in fixed
    compile(fixed, "example.py", "exec")


@pytest.mark.parametrize("name", ["fbg201_called.py", "fbg208_lost_coroutine.py"])
def test_fixture_files_lint_clean_of_the_fixed_findings(name: str) -> None:
    path = FIXTURES / name
    source = path.read_text(encoding="utf-8")
    code = name[:6].upper()
    before = [f for f in lint_source(str(path), source, Settings(), path) if f.code == code]
    fixable = [f for f in before if f.fix is not None]
    assert fixable, "the fixture has fixable findings"
    fixed, count = apply_fixes(source, before)
    assert count == len(fixable)
    compile(fixed, name, "exec")
    after = [f for f in lint_source(str(path), fixed, Settings(), path) if f.code == code]
    assert len(after) == len(before) - len(fixable)
    # What stays reported is exactly what had no fix.
    assert sorted(f.message.split(" (")[0] for f in after) == \
        sorted(f.message.split(" (")[0] for f in before if f.fix is None)


# -- FBG102: an async task that never awaits becomes a plain def --------------------------------

ROUTES = '''\
import asyncio
import time

from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


# Sends the digest; runs after the response.
async def send_digest(user: str) -> None:  # keep this comment
    time.sleep(2)  # a blocking call
    print("digest", user)


async def awaited_elsewhere(user: str) -> None:
    time.sleep(2)


async def needs_loop(user: str) -> None:
    time.sleep(2)
    asyncio.get_running_loop().call_soon(print, user)


async def scheduled_elsewhere(user: str) -> None:
    time.sleep(2)


@app.post("/digest")
async def digest(user: str, background_tasks: BackgroundTasks) -> dict:
    background_tasks.add_task(send_digest, user)
    background_tasks.add_task(awaited_elsewhere, user)
    background_tasks.add_task(needs_loop, user)
    background_tasks.add_task(scheduled_elsewhere, user)
    return {}
'''
OTHER = '''\
import asyncio

from app.routes import awaited_elsewhere, scheduled_elsewhere


async def warm_up() -> None:
    await awaited_elsewhere("admin")


def start(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(asyncio.wait_for(scheduled_elsewhere("x"), 5))
'''


def test_fbg102_plain_def_fix_only_when_nothing_needs_the_coroutine(tmp_path: Path, monkeypatch) -> None:
    from flake8_fastapi_bg import cli

    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("", encoding="utf-8")
    routes = tmp_path / "app" / "routes.py"
    routes.write_text(ROUTES, encoding="utf-8")
    (tmp_path / "app" / "jobs.py").write_text(OTHER, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    findings = [f for f in lint_source("app/routes.py", ROUTES, Settings(), routes) if f.code == "FBG102"]
    by_task = {f.message.split("'")[1]: f for f in findings}
    assert set(by_task) == {"send_digest", "awaited_elsewhere", "needs_loop", "scheduled_elsewhere"}
    assert by_task["send_digest"].fix is not None
    assert "plain def" in by_task["send_digest"].fix.description
    assert [name for name, f in by_task.items() if f.fix is not None] == ["send_digest"]
    assert cli.main(["--fix", "app/routes.py"]) == 1  # the other three remain
    fixed = routes.read_text(encoding="utf-8")
    assert fixed == ROUTES.replace(
        "async def send_digest(user: str) -> None:  # keep this comment",
        "def send_digest(user: str) -> None:  # keep this comment")
    after = [f for f in lint_source("app/routes.py", fixed, Settings(), routes) if f.code == "FBG102"]
    assert len(after) == 3 and all(f.fix is None for f in after)


def test_fbg102_fix_withheld_when_a_test_awaits_the_task(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_digest.py").write_text(
        "from app.routes import send_digest\n\n\nasync def test_it():\n    await send_digest('a')\n",
        encoding="utf-8")
    routes = tmp_path / "app" / "routes.py"
    routes.write_text(ROUTES, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    findings = [f for f in lint_source("app/routes.py", ROUTES, Settings(), routes) if f.code == "FBG102"]
    fixed = sorted(f.message.split("'")[1] for f in findings if f.fix is not None)
    assert fixed == ["awaited_elsewhere", "scheduled_elsewhere"]  # without app/jobs.py: nothing awaits them


# -- FBG102 across modules: who else uses the task, and where it is defined ------------------------

MULTI_ROUTES = '''\
import asyncio
import time

import httpx
from fastapi import BackgroundTasks, FastAPI

from app.tasks import defined_elsewhere

app = FastAPI()
events: asyncio.Queue = asyncio.Queue()


async def scheduled_twice(user: str) -> None:  # the other module schedules it too
    time.sleep(2)


async def handed_to_a_registry(user: str) -> None:
    time.sleep(2)


async def awaited_under_an_alias(user: str) -> None:
    time.sleep(2)


async def makes_an_async_client(user: str) -> None:
    time.sleep(2)
    httpx.AsyncClient().post("https://example.com", json={"user": user})


async def feeds_a_loop_queue(user: str) -> None:
    time.sleep(2)
    events.put_nowait(user)


async def starts_a_task_group(user: str) -> None:
    time.sleep(2)
    import anyio
    anyio.create_task_group()


@app.post("/digest")
async def digest(user: str, background_tasks: BackgroundTasks) -> dict:
    background_tasks.add_task(scheduled_twice, user)
    background_tasks.add_task(handed_to_a_registry, user)
    background_tasks.add_task(awaited_under_an_alias, user)
    background_tasks.add_task(makes_an_async_client, user)
    background_tasks.add_task(feeds_a_loop_queue, user)
    background_tasks.add_task(starts_a_task_group, user)
    background_tasks.add_task(defined_elsewhere, user)
    return {}
'''
MULTI_TASKS = '''\
import time


async def defined_elsewhere(user: str) -> None:
    time.sleep(2)
'''
MULTI_JOBS = '''\
from fastapi import BackgroundTasks

from app.routes import awaited_under_an_alias as notify, handed_to_a_registry, scheduled_twice
from app.registry import register


def later(tasks: BackgroundTasks) -> None:
    tasks.add_task(
        scheduled_twice,
        "admin",
    )


register(
    handed_to_a_registry,
)


async def warm_up() -> None:
    await notify("admin")
'''


def _multi_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    app = tmp_path / "app"
    app.mkdir()
    registry = "def register(coroutine_function):\n    pass\n"
    for name, text in {"__init__.py": "", "routes.py": MULTI_ROUTES, "tasks.py": MULTI_TASKS,
                       "jobs.py": MULTI_JOBS, "registry.py": registry}.items():
        (app / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return app / "routes.py"


def test_fbg102_fix_across_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Offered when the other modules only register the task (a multi-line add_task included);
    withheld when one passes it elsewhere on a line of its own, awaits it under an alias, or
    when the body makes or uses loop-bound objects (an async client, an asyncio queue, a task
    group); never for a task defined in another module than the site: the fix rewrites the
    linted file only."""
    routes = _multi_project(tmp_path, monkeypatch)
    findings = [f for f in lint_source("app/routes.py", MULTI_ROUTES, Settings(), routes)
                if f.code == "FBG102"]
    by_task = {f.message.split("'")[1]: f for f in findings}
    assert set(by_task) == {"scheduled_twice", "handed_to_a_registry", "awaited_under_an_alias",
                            "makes_an_async_client", "feeds_a_loop_queue", "starts_a_task_group",
                            "defined_elsewhere"}
    assert sorted(name for name, f in by_task.items() if f.fix is not None) == ["scheduled_twice"]
    tasks = tmp_path / "app" / "tasks.py"
    assert lint_source("app/tasks.py", MULTI_TASKS, Settings(), tasks) == []  # no site there


def test_fbg102_fix_applied_keeps_comments_and_other_modules(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from flake8_fastapi_bg import cli

    routes = _multi_project(tmp_path, monkeypatch)
    assert cli.main(["--fix", "app"]) == 1  # the withheld ones remain
    assert routes.read_text(encoding="utf-8") == MULTI_ROUTES.replace(
        "async def scheduled_twice(user: str) -> None:  # the other module schedules it too",
        "def scheduled_twice(user: str) -> None:  # the other module schedules it too")
    assert (tmp_path / "app" / "tasks.py").read_text(encoding="utf-8") == MULTI_TASKS
    assert (tmp_path / "app" / "jobs.py").read_text(encoding="utf-8") == MULTI_JOBS
