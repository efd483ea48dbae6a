"""FBG201 task-called-not-passed: `add_task(send(x))` schedules what the call returns."""

from __future__ import annotations

from typing import Iterator

from ..facts.module import ModuleFacts
from ..facts.sites import CalledTaskSite
from ..settings import Settings
from .base import Example, ModuleRule, Verdict, register
from .links import FASTAPI_BG, STARLETTE_BG


def check_called_not_passed(facts: ModuleFacts, settings: Settings) -> Iterator[Verdict]:
    for found in facts.called_tasks:
        yield Verdict(found.site.call, _message(found), found.fix)


def _message(found: CalledTaskSite) -> str:
    called, registration = found.called, found.site.how
    where = f" ({called.name} is defined at {called.where})" if called.where else ""
    if called.call is None:
        return (f"task '{called.name}' is passed as a coroutine object, not a callable: "
                f"{registration} receives a coroutine of async '{called.name}'{where}, which is "
                f"never awaited, and the task fails with TypeError after the response; pass the "
                f"async function and its arguments instead")
    call_text = f"{'await ' if called.awaited else ''}{called.name}(...)"
    if called.result == "a coroutine object":
        what = (f"{registration} receives {call_text}, a coroutine object{where}: it is never "
                f"awaited, so {called.name} never runs, and the task fails with TypeError after "
                f"the response")
    elif not called.function:
        what = (f"{registration} receives {call_text}, {called.result}: the task fails with "
                f"TypeError after the response")
    else:
        what = (f"{registration} receives the result of {call_text}, which is {called.result}"
                f"{where}: {called.name} runs now, during the request, and the task fails with "
                f"TypeError after the response")
    if found.rewritten is not None:
        fix = f"pass the function and its arguments: {found.rewritten}"
    else:
        fix = "pass the function to run and its arguments separately"
    return f"task '{called.name}' is called, not passed: {what}; {fix}"


register(ModuleRule(
    code="FBG201", name="task-called-not-passed",
    summary="The task is the result of calling the function, not the function: `add_task(send(x))`.",
    what=("Flags `add_task(f(x))`, `add_task(await f(x))`, `BackgroundTask(f(x))` and tasks that "
          "are coroutine objects (`add_task(notify(x))` with `notify` async), when what the call "
          "returns is certainly not callable: the function has no `return` value, returns "
          "literals, is annotated `-> None`/`-> str`/..., is a generator, or is a library call "
          "known to return None (`os.remove`, `shutil.rmtree`, `print`, ...). A factory that "
          "returns a function (`add_task(make_sender(), x)`) is correct and not flagged; so is "
          "any call whose result the linter cannot see."),
    why=("The function runs immediately, inside the request, blocking the response; its result "
         "(usually `None`) is what gets scheduled. After the response Starlette calls it and "
         "fails with `TypeError` — only in the log; the client already got its 200, and the "
         "request's later tasks never run. A coroutine object is never awaited at all: the "
         "async function never runs, and Python only warns `coroutine ... was never awaited`."),
    bad=Example('''from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


def send_welcome_email(email: str) -> None:
    print("welcome", email)


@app.post("/signup")
def signup(email: str, background_tasks: BackgroundTasks):
    background_tasks.add_task(send_welcome_email(email))
    return {"ok": True}
'''),
    good=Example('''from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


def send_welcome_email(email: str) -> None:
    print("welcome", email)


@app.post("/signup")
def signup(email: str, background_tasks: BackgroundTasks):
    background_tasks.add_task(send_welcome_email, email)
    return {"ok": True}
'''),
    fix=("Pass the function and its arguments separately: `add_task(send, x, y=1)`, "
         "`BackgroundTask(f, a)`. The fix is applied automatically when the registration has "
         "no other arguments and the called function returns nothing or is async (a function "
         "that returns a value was probably meant for something else); comments and formatting "
         "inside the call are kept."),
    references=(STARLETTE_BG, FASTAPI_BG),
    check=check_called_not_passed, fixable=True,
))
