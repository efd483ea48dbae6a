"""FBG206 tasks-in-websocket-route: tasks added to the injected `BackgroundTasks` of a WebSocket
route, which FastAPI never runs."""

from __future__ import annotations

from typing import Iterator

from ..facts.module import ModuleFacts
from ..settings import Settings
from .base import Example, ModuleRule, Verdict, register
from .links import FASTAPI_BG


def check_websocket_tasks(facts: ModuleFacts, settings: Settings) -> Iterator[Verdict]:
    found = facts.websocket_tasks
    for added in found.added:
        yield Verdict(added.site.call,
                      f"task '{added.site.task}' is added to the BackgroundTasks of WebSocket "
                      f"route '{added.route}': FastAPI never runs background tasks for "
                      f"WebSocket endpoints, so it never runs; await the work in the endpoint "
                      f"(or call `await {added.param}()` before returning)",
                      never_run=(added.site.call,))
    for helper in found.via_helpers:
        unique = list(dict.fromkeys(helper.tasks))
        listed = ", ".join(f"'{n}'" for n in unique)
        what, runs = ("tasks", "they never run") if len(unique) > 1 else ("task", "it never runs")
        yield Verdict(helper.call,
                      f"'{helper.helper}' (defined at {helper.defined_at}) adds {what} "
                      f"{listed} to the BackgroundTasks of WebSocket route '{helper.route}': "
                      f"FastAPI never runs background tasks for WebSocket endpoints, so {runs}; "
                      f"await the work in the endpoint (or call `await {helper.param}()` before "
                      f"returning)")


register(ModuleRule(
    code="FBG206", name="tasks-in-websocket-route",
    summary="Tasks are added to the injected `BackgroundTasks` of a WebSocket route.",
    what=("Flags tasks added to the `BackgroundTasks` parameter of a route registered with "
          "`@app.websocket(...)`/`@router.websocket(...)` or `add_api_websocket_route`: directly, "
          "or by a helper function or service method of the project the route hands the object "
          "to (reported at that call in the route, which names the helper and its tasks). Not "
          "flagged when the endpoint runs the object itself (`await background_tasks()`) or "
          "hands it on to code that may run or keep it."),
    why=("FastAPI injects a working `BackgroundTasks` into WebSocket endpoints but never calls "
         "it: there is no response to attach it to. The tasks never run, without an error."),
    bad=Example('''from fastapi import BackgroundTasks, FastAPI, WebSocket

app = FastAPI()


def log_message(text: str) -> None:
    print("message", text)


@app.websocket("/ws")
async def chat(websocket: WebSocket, background_tasks: BackgroundTasks):
    await websocket.accept()
    text = await websocket.receive_text()
    background_tasks.add_task(log_message, text)
    await websocket.send_text("ok")
'''),
    good=Example('''from fastapi import FastAPI, WebSocket

app = FastAPI()


def log_message(text: str) -> None:
    print("message", text)


@app.websocket("/ws")
async def chat(websocket: WebSocket):
    await websocket.accept()
    text = await websocket.receive_text()
    log_message(text)
    await websocket.send_text("ok")
'''),
    fix=("Do the work in the endpoint (`await` it, or `await run_in_threadpool(f, ...)` for "
         "blocking code), start an `asyncio` task you keep a reference to, or enqueue it on a "
         "worker queue."),
    references=(("FastAPI: WebSockets", "https://fastapi.tiangolo.com/advanced/websockets/"), FASTAPI_BG),
    check=check_websocket_tasks,
))
