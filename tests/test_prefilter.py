"""The text pre-filter is sound: it never rejects a file in which the engine finds anything."""

from __future__ import annotations

from pathlib import Path
from typing import List

import pytest

from flake8_fastapi_bg import engine
from flake8_fastapi_bg.prefilter import may_schedule_tasks
from flake8_fastapi_bg.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CORPUS = sorted((ROOT / "tests" / "fixtures").rglob("*.py")) + sorted((ROOT / "examples").rglob("*.py"))

ALIASES = {
    "aliased class": '''
from fastapi import BackgroundTasks as BT
import time


async def job():
    time.sleep(5)


def endpoint(tasks: BT):
    tasks.add_task(job)
''',
    "module alias, no add_task": '''
import starlette.background as sb
import time


async def job():
    time.sleep(5)


def endpoint():
    return sb.BackgroundTask(job)
''',
    "from-imported module": '''
from starlette import background
from starlette.responses import JSONResponse


def endpoint():
    return JSONResponse({}, background=background.BackgroundTask(print, 1))
''',
    "response attribute": '''
from fastapi import FastAPI, Response

app = FastAPI()


@app.get("/")
def endpoint(response: Response, tasks=None):
    response.background = tasks
    return {}
''',
}


def engine_findings(path: Path, source: str) -> List[str]:
    """Findings with the pre-filter switched off."""
    saved = engine.may_schedule_tasks
    engine.may_schedule_tasks = lambda source: True
    try:
        return [f.code for f in engine.lint_source(str(path), source, Settings(), path)]
    finally:
        engine.may_schedule_tasks = saved


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_file_with_findings_is_rejected(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    found = [code for code in engine_findings(path, source) if code != "FBG902"]
    if found:
        assert may_schedule_tasks(source), (path, found)


def test_the_corpus_exercises_both_sides() -> None:
    sources = [p.read_text(encoding="utf-8") for p in CORPUS]
    assert sum(map(may_schedule_tasks, sources)) > 20
    assert sum(not may_schedule_tasks(s) for s in sources) > 5


@pytest.mark.parametrize("name", sorted(ALIASES))
def test_aliases_pass(name: str, tmp_path: Path) -> None:
    assert may_schedule_tasks(ALIASES[name])
    path = tmp_path / "mod.py"
    path.write_text(ALIASES[name])
    assert engine.lint_source(str(path), ALIASES[name], Settings(), path) == \
        engine.lint_source(str(path), ALIASES[name], Settings(), path)


@pytest.mark.parametrize("text", [
    'STYLE = "background: #fff; background-color: red"',
    "class Theme:\n    background: str = 'white'\n",
    '"""Runs in the background."""\n',
    "def f(background_color): return background_color\n",
])
def test_other_senses_of_background_are_rejected(text: str) -> None:
    assert not may_schedule_tasks(text)


@pytest.mark.parametrize("text", [
    "x.add_task(f)", "BackgroundTasks()", "def f(background_task): ...", "r.background = t",
    "Response(background =t)", "foreground = 1", "background == 1", "xbackground = 1",
    "background\t=", "background:\n  str", "# background\n=", "", "BackgroundTas", "add-task",
])
def test_the_fast_test_answers_as_the_regular_expression(text: str) -> None:
    from flake8_fastapi_bg.prefilter import _SITE_WORDS

    assert may_schedule_tasks(text) == bool(_SITE_WORDS.search(text))


def test_the_fast_test_answers_as_the_regular_expression_on_real_code() -> None:
    from flake8_fastapi_bg.prefilter import _SITE_WORDS

    sources = [path.read_text(errors="replace") for path in
               CORPUS + sorted((ROOT / "flake8_fastapi_bg").rglob("*.py"))]
    assert [may_schedule_tasks(s) for s in sources] == [bool(_SITE_WORDS.search(s)) for s in sources]
