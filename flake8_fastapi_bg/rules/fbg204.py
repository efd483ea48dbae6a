"""FBG204 tasks-never-attached: a task object built in a route never reaches a response."""

from __future__ import annotations

from typing import Iterator

from ..facts.module import ModuleFacts
from ..facts.responses import UnattachedTasks
from ..settings import Settings
from .base import Example, ModuleRule, Verdict, register
from .links import FASTAPI_BG, STARLETTE_BG


def check_never_attached(facts: ModuleFacts, settings: Settings) -> Iterator[Verdict]:
    for found in facts.unattached_tasks:
        yield Verdict(found.construction, _message(found), never_run=found.never_run)


def _message(found: UnattachedTasks) -> str:
    names = ", ".join(dict.fromkeys(found.tasks))
    if found.single:
        return (f"BackgroundTask({names or '...'}, ...) built in route '{found.route}' "
                f"never reaches a response's background, so it never runs; pass it as "
                f"background= of the response you return, or add the task to an injected "
                f"BackgroundTasks parameter")
    return (f"BackgroundTasks() built in route '{found.route}' gets tasks "
            f"({names or 'listed'}) but never reaches a response's background, so they "
            f"never run; pass it as background= of the response you return, or add the "
            f"tasks to an injected BackgroundTasks parameter")


register(ModuleRule(
    code="FBG204", name="tasks-never-attached",
    summary=("A `BackgroundTasks()`/`BackgroundTask()` built in a route gets tasks but never reaches "
             "a response."),
    what=("Flags a `BackgroundTasks()` or `BackgroundTask(...)` constructed inside a FastAPI route "
          "that receives tasks but is never passed on: not given as a response's `background=`, "
          "not assigned to `response.background`, not returned, passed to a helper or stored. "
          "Any such escape counts as attached, so a helper that builds the tasks and returns "
          "them to its caller is not flagged."),
    why=("FastAPI runs only the injected `BackgroundTasks` parameter and the `background` of the "
         "response that is sent. A task object built by hand and never attached is dropped "
         "silently: no error, no log line, the work simply never happens."),
    bad=Example('''from fastapi import BackgroundTasks, FastAPI
from fastapi.responses import JSONResponse

app = FastAPI()


def notify_admins(order_id: int) -> None:
    print("new order", order_id)


@app.post("/orders")
def create_order():
    tasks = BackgroundTasks()
    tasks.add_task(notify_admins, 42)
    return JSONResponse({"id": 42})
'''),
    good=Example('''from fastapi import BackgroundTasks, FastAPI
from fastapi.responses import JSONResponse

app = FastAPI()


def notify_admins(order_id: int) -> None:
    print("new order", order_id)


@app.post("/orders")
def create_order():
    tasks = BackgroundTasks()
    tasks.add_task(notify_admins, 42)
    return JSONResponse({"id": 42}, background=tasks)
'''),
    fix=("Attach the tasks to the response you return (`background=tasks`), or declare a "
         "`BackgroundTasks` parameter and add the tasks to it: FastAPI runs that one for you."),
    references=(FASTAPI_BG, STARLETTE_BG),
    check=check_never_attached,
))
