"""FBG202 task-arguments-mismatch: the task's arguments cannot bind to its signature."""

from __future__ import annotations

from typing import Iterator

from ..facts.module import ModuleFacts
from ..settings import Settings
from .base import Example, ModuleRule, Verdict, register
from .links import STARLETTE_BG


def check_arguments_mismatch(facts: ModuleFacts, settings: Settings) -> Iterator[Verdict]:
    for found in facts.argument_mismatches:
        name = found.site.task
        yield Verdict(found.site.call,
                      f"task '{name}' cannot be called with these arguments: {found.problem} ({name} "
                      f"is defined at {found.defined_at}); {found.site.how} does not check, so it "
                      f"fails with TypeError after the response")


register(ModuleRule(
    code="FBG202", name="task-arguments-mismatch",
    summary="The task's arguments cannot bind to the task function's signature.",
    what=("Binds the positional and keyword arguments given to `add_task`/`BackgroundTask` "
          "(after any `functools.partial` pre-bound ones) to the signature of the function that "
          "will run — defaults, `*args`, `**kwargs`, keyword-only and positional-only "
          "parameters, bound methods and classmethods — and flags a missing required argument, "
          "an unexpected keyword, too many positional arguments or a value given twice. Silent "
          "when binding is unknowable: `*iterable`/`**mapping` splats, decorated functions "
          "(Celery tasks, retries, wrappers), callable objects and classes, library callables, "
          "factories that may return different functions."),
    why=("`add_task` stores the arguments without checking them. The mismatch surfaces only "
         "after the response, as a `TypeError` in the log; the client got its success response, "
         "the work never happened, and the request's later tasks are skipped."),
    bad=Example('''from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


def send_email(to: str, subject: str) -> None:
    print("mail", to, subject)


@app.post("/signup")
def signup(email: str, background_tasks: BackgroundTasks):
    background_tasks.add_task(send_email, email)
    return {"ok": True}
'''),
    good=Example('''from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


def send_email(to: str, subject: str) -> None:
    print("mail", to, subject)


@app.post("/signup")
def signup(email: str, background_tasks: BackgroundTasks):
    background_tasks.add_task(send_email, email, subject="Welcome!")
    return {"ok": True}
'''),
    fix=("Pass exactly the arguments the task function takes; the message names the one that is "
         "missing or extra."),
    references=(STARLETTE_BG,),
    check=check_arguments_mismatch,
))
