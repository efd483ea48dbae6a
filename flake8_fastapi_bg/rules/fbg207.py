"""FBG207 task-added-after-yield: a dependency with `yield` adds a task after its `yield`."""

from __future__ import annotations

from typing import Iterator

from ..facts.lifetimes import EARLY_EXIT, FUNCTION_SCOPE_DEPENDENCIES
from ..facts.module import ModuleFacts
from ..settings import Settings
from .base import Example, ModuleRule, Verdict, register
from .links import FASTAPI_YIELD


def check_added_after_yield(facts: ModuleFacts, settings: Settings) -> Iterator[Verdict]:
    version = facts.fastapi_version
    if EARLY_EXIT[0] <= version < EARLY_EXIT[1]:
        return  # these versions run the exit code before the response: the task still runs
    for found in facts.added_after_yield:
        if found.function_scoped and version >= FUNCTION_SCOPE_DEPENDENCIES:
            continue  # its exit code runs before the response: the task still runs
        yield Verdict(found.site.call,
                      f"dependency '{found.dependency}' adds task '{found.site.task}' after its yield: "
                      f"its exit code runs after the response's background tasks have already "
                      f"run, so this task never runs; add the task before the yield",
                      never_run=(found.site.call,))


register(ModuleRule(
    code="FBG207", name="task-added-after-yield",
    summary="A dependency with `yield` adds a task after its `yield`.",
    what=("Flags a task added to the injected `BackgroundTasks` after the `yield` of a "
          "dependency (including in its `finally:`), when the dependency has the default scope. "
          "Not flagged for `Depends(..., scope=\"function\")` dependencies, whose exit code runs "
          "before the response, nor on FastAPI 0.106-0.117, which ran all exit code before the "
          "response."),
    why=("The code after `yield` runs after the response has been sent and its background tasks "
         "have run. A task added then is appended to a list nobody reads again: it never runs, "
         "and nothing reports it."),
    bad=Example('''from typing import Iterator

from fastapi import BackgroundTasks, Depends, FastAPI, Request

app = FastAPI()


def write_audit_log(path: str) -> None:
    print("audit", path)


def audit(request: Request, background_tasks: BackgroundTasks) -> Iterator[None]:
    yield
    background_tasks.add_task(write_audit_log, request.url.path)


@app.get("/items", dependencies=[Depends(audit)])
def list_items():
    return []
'''),
    good=Example('''from typing import Iterator

from fastapi import BackgroundTasks, Depends, FastAPI, Request

app = FastAPI()


def write_audit_log(path: str) -> None:
    print("audit", path)


def audit(request: Request, background_tasks: BackgroundTasks) -> Iterator[None]:
    background_tasks.add_task(write_audit_log, request.url.path)
    yield


@app.get("/items", dependencies=[Depends(audit)])
def list_items():
    return []
'''),
    fix=("Add the task before the `yield`; tasks run after the response either way. If the task "
         "needs the outcome of the request, record it on `request.state` and read it in the task."),
    options=("fastapi-version",),
    references=(FASTAPI_YIELD,),
    check=check_added_after_yield,
))
