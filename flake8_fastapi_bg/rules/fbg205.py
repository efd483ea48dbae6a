"""FBG205 injected-tasks-discarded: a returned response's `background=` replaces the tasks added
to the injected `BackgroundTasks`."""

from __future__ import annotations

from typing import Iterator

from ..facts.module import ModuleFacts
from ..settings import Settings
from .base import Example, ModuleRule, Verdict, register
from .links import FASTAPI_BG, STARLETTE_BG


def check_injected_tasks_discarded(facts: ModuleFacts, settings: Settings) -> Iterator[Verdict]:
    for found in facts.discarded_tasks:
        names, param = ", ".join(dict.fromkeys(found.tasks)), found.param
        yield Verdict(found.response,
                      f"route '{found.route}' adds tasks ({names}) to the injected "
                      f"BackgroundTasks '{param}' but returns a response with background= set: "
                      f"FastAPI then drops the injected tasks, so they never run; add the "
                      f"response's task to '{param}' as well and return the response without "
                      f"background= (or pass background={param})",
                      never_run=found.never_run)


register(ModuleRule(
    code="FBG205", name="injected-tasks-discarded",
    summary=("A route adds tasks to the injected `BackgroundTasks` but returns a response with "
             "`background=` set."),
    what=("Flags the response a route returns with `background=` set (in the constructor, or "
          "through `resp.background = ...` on a response it builds) when tasks were added to "
          "the injected `BackgroundTasks` parameter on the way to that `return`. Not flagged: "
          "returning a response without `background=` (FastAPI attaches the injected tasks "
          "itself), passing the injected object as the background, or adding tasks only on "
          "branches that return elsewhere."),
    why=("FastAPI attaches the injected tasks only to a response whose `background` is empty. "
         "A response that brings its own background replaces them: the injected tasks are "
         "dropped without a trace."),
    bad=Example('''import os

from fastapi import BackgroundTasks, FastAPI
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

app = FastAPI()


def log_download(name: str) -> None:
    print("downloaded", name)


@app.get("/report")
def download_report(background_tasks: BackgroundTasks):
    background_tasks.add_task(log_download, "report.csv")
    return FileResponse("/tmp/report.csv", background=BackgroundTask(os.remove, "/tmp/report.csv"))
'''),
    good=Example('''import os

from fastapi import BackgroundTasks, FastAPI
from fastapi.responses import FileResponse

app = FastAPI()


def log_download(name: str) -> None:
    print("downloaded", name)


@app.get("/report")
def download_report(background_tasks: BackgroundTasks):
    background_tasks.add_task(log_download, "report.csv")
    background_tasks.add_task(os.remove, "/tmp/report.csv")
    return FileResponse("/tmp/report.csv")
'''),
    fix=("Put every task on the injected `BackgroundTasks` and return the response without "
         "`background=`, or pass the injected object itself as `background=`."),
    references=(FASTAPI_BG, STARLETTE_BG),
    check=check_injected_tasks_discarded,
))
