"""FBG209 background-on-injected-response: `.background` set on the `Response` FastAPI injects."""

from __future__ import annotations

from typing import Iterator

from ..facts.module import ModuleFacts
from ..settings import Settings
from .base import Example, ModuleRule, Verdict, register
from .links import FASTAPI_BG, FASTAPI_RESPONSE


def check_background_on_injected_response(facts: ModuleFacts, settings: Settings) -> Iterator[Verdict]:
    for found in facts.injected_response_backgrounds:
        yield Verdict(found.assign,
                      f"'{found.param}.background' is set on the Response that FastAPI injects into "
                      f"'{found.function}': FastAPI copies only its status code, headers and cookies "
                      f"to the real response and ignores its background, so the task never runs; "
                      f"add the task to an injected BackgroundTasks parameter, or return a "
                      f"response built with background=")


register(ModuleRule(
    code="FBG209", name="background-on-injected-response",
    summary="`.background` is set on the `Response` parameter FastAPI injects.",
    what=("Flags `response.background = ...` on a route's or dependency's parameter annotated "
          "with `Response` (or a subclass), unless that same object is returned."),
    why=("The injected `Response` is a temporary object: FastAPI copies its status code, "
         "headers and cookies onto the response it sends and ignores the rest. Its `background` "
         "is never run."),
    bad=Example('''from fastapi import FastAPI, Response
from starlette.background import BackgroundTask

app = FastAPI()


def build_export(export_id: int) -> None:
    print("export", export_id)


@app.post("/exports")
def start_export(response: Response):
    response.headers["X-Export"] = "7"
    response.background = BackgroundTask(build_export, 7)
    return {"ok": True}
'''),
    good=Example('''from fastapi import BackgroundTasks, FastAPI, Response

app = FastAPI()


def build_export(export_id: int) -> None:
    print("export", export_id)


@app.post("/exports")
def start_export(response: Response, background_tasks: BackgroundTasks):
    response.headers["X-Export"] = "7"
    background_tasks.add_task(build_export, 7)
    return {"ok": True}
'''),
    fix=("Declare a `BackgroundTasks` parameter and add the task to it, or build and return the "
         "response yourself with `background=`."),
    references=(FASTAPI_RESPONSE, FASTAPI_BG),
    check=check_background_on_injected_response,
))
