"""FBG203 request-scoped-value-in-task: the task receives a value closed before it runs."""

from __future__ import annotations

from typing import Iterator

from ..facts.module import ModuleFacts
from ..settings import Settings
from .base import Example, ModuleRule, Verdict, register
from .links import FASTAPI_BG, FASTAPI_YIELD


def check_request_scoped_values(facts: ModuleFacts, settings: Settings) -> Iterator[Verdict]:
    for found in facts.closed_arguments:
        closed = found.value
        yield Verdict(found.site.call,
                      f"task '{found.site.task}' receives '{closed.shown}', {closed.why}; {closed.advice}")


register(ModuleRule(
    code="FBG203", name="request-scoped-value-in-task",
    summary="A value that is closed before the task runs is passed to it.",
    what=("Flags a task that receives a value closed before it runs: the target of a "
          "`with`/`async with` block (a file, a session, a client) when the task is scheduled "
          "after the block, or inside it in the route or the helper that adds the task (the "
          "block is left when that function returns, before the response; not when the block "
          "holds a `yield` or the function runs the tasks itself, not for "
          "`sqlite3.connect`/`psycopg2.connect` blocks, which leave the connection open, nor for "
          "blocks told to keep their file (`delete=False`) or cleanup tasks such as "
          "`shutil.rmtree`/`os.remove` given the path); a "
          "session an HTTP middleware (`@app.middleware(\"http\")`, `BaseHTTPMiddleware`) stores "
          "on `request.state` and closes after `call_next` returns, whether the task gets "
          "`request.state.db`, a dependency's value that returns it, or the `request` and reads "
          "`request.state.db` itself (a dependency with `yield` that stores and closes it "
          "that way counts on FastAPI 0.106-0.117 only); the value of a dependency with `yield` declared "
          "`Depends(dep, scope=\"function\")` (FastAPI >= 0.121), whose exit code runs when the "
          "endpoint returns; and, on FastAPI 0.106-0.117 (installed or set with "
          "`fastapi-bg-fastapi-version`), the value of any dependency with `yield` and any "
          "`UploadFile`, which those versions close before the response. The value is traced "
          "through plain assignments, `functools.partial` arguments, names a lambda or nested "
          "function closes over, `self` attributes set once from such a value, and a task that is a "
          "method of a local object built from it (`service = Service(db)`, "
          "`add_task(service.run)`)."),
    why=("Tasks run after the response, so they see what the request left behind: a closed "
         "file raises `ValueError: I/O operation on closed file`, a closed connection raises "
         "`ResourceClosedError`, a closed SQLAlchemy session silently opens a new connection "
         "while the objects loaded in the request are detached from it, so the task's changes "
         "to them are never saved. A middleware's `call_next` returns as soon as the response "
         "starts, so its `finally` runs before the tasks. The failure happens after the client "
         "got its response, only in the log."),
    bad=Example('''from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


def import_rows(handle) -> None:
    for line in handle:
        print(line)


@app.post("/imports")
def start_import(background_tasks: BackgroundTasks):
    with open("/tmp/rows.csv") as handle:
        header = handle.readline()
    background_tasks.add_task(import_rows, handle)
    return {"header": header}
'''),
    good=Example('''from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


def import_rows(path: str) -> None:
    with open(path) as handle:
        for line in handle:
            print(line)


@app.post("/imports")
def start_import(background_tasks: BackgroundTasks):
    with open("/tmp/rows.csv") as handle:
        header = handle.readline()
    background_tasks.add_task(import_rows, "/tmp/rows.csv")
    return {"header": header}
'''),
    fix=("Pass plain data the task can use on its own: ids instead of ORM objects and sessions "
         "(open a new session inside the task), a path instead of an open file, the bytes of an "
         "upload (`await file.read()`) instead of the `UploadFile`."),
    options=("fastapi-version",),
    references=(FASTAPI_YIELD, FASTAPI_BG),
    check=check_request_scoped_values,
))
