"""FBG208 coroutine-lost-in-sync-wrapper: a sync wrapper calls an `async def` and drops the
coroutine."""

from __future__ import annotations

from typing import Iterator

from ..facts.module import ModuleFacts
from ..facts.sites import LostCoroutineSite
from ..settings import Settings
from .base import Example, ModuleRule, Verdict, register
from .links import STARLETTE_BG


def check_coroutine_lost(facts: ModuleFacts, settings: Settings) -> Iterator[Verdict]:
    for found in facts.lost_coroutines:
        yield Verdict(found.site.call, _message(found), found.fix)


def _message(found: LostCoroutineSite) -> str:
    target, where = found.target, found.defined_at
    if found.kind == "lambda":
        what = f"the lambda task calls async '{target}' (defined at {where}) and returns its coroutine"
        fix = f"pass the async function itself: {found.rewritten}"
    elif found.kind == "function":
        what = (f"task '{found.site.task}' is a sync function that calls async '{target}' (defined "
                f"at {where}) without awaiting it")
        fix = f"make '{found.site.task}' async def and await the call, or pass '{target}' itself"
    else:
        what = (f"task '{target}' (defined at {where}) is wrapped by sync decorator '{found.wrapper}', "
                f"whose wrapper calls it and returns the coroutine")
        fix = f"make the wrapper in '{found.wrapper}' async def and await the call"
    return (f"{what}: Starlette runs a sync task in a thread and never awaits the coroutine, so "
            f"{target} never runs; {fix}")


register(ModuleRule(
    code="FBG208", name="coroutine-lost-in-sync-wrapper",
    summary="A sync wrapper (lambda, def, sync decorator) calls an `async def` and returns the coroutine.",
    what=("Flags a task that is a lambda, a plain `def` or an `async def` behind a sync decorator "
          "whose body calls an `async def` without awaiting it and returns (or discards) the "
          "coroutine: `add_task(lambda: notify(x))`."),
    why=("Starlette checks whether the task itself is async. A sync wrapper is run in the "
         "thread pool; it creates the coroutine and returns it, and nobody awaits it. The async "
         "function never runs, with only a `RuntimeWarning: coroutine ... was never awaited`."),
    bad=Example('''import asyncio

from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


async def notify_slack(text: str) -> None:
    await asyncio.sleep(0)
    print(text)


@app.post("/signup")
def signup(email: str, background_tasks: BackgroundTasks):
    background_tasks.add_task(lambda: notify_slack(f"new signup: {email}"))
    return {"ok": True}
'''),
    good=Example('''import asyncio

from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


async def notify_slack(text: str) -> None:
    await asyncio.sleep(0)
    print(text)


@app.post("/signup")
def signup(email: str, background_tasks: BackgroundTasks):
    background_tasks.add_task(notify_slack, f"new signup: {email}")
    return {"ok": True}
'''),
    fix=("Pass the async function and its arguments (`add_task(notify, x)`), or make the "
         "wrapper `async def` and `await` the call. The lambda case is fixed automatically."),
    references=(STARLETTE_BG, ("Python: coroutines and tasks",
                               "https://docs.python.org/3/library/asyncio-task.html")),
    check=check_coroutine_lost, fixable=True,
))
