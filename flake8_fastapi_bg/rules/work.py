"""FBG1xx: work that does not belong in in-process background tasks.

Each check is a pure function of the task's facts and the settings; it returns the message
(without the code) or None.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Callable, Iterable, Optional

from ..model import Evidence, TaskFacts
from ..settings import Settings
from .base import Example, TaskRule, register

QUEUES = "a worker queue (Celery, Arq, RQ, Dramatiq, Taskiq, SAQ)"
STARLETTE_BG = ("Starlette: Background Tasks", "https://www.starlette.io/background/")
FASTAPI_BG = ("FastAPI: Background Tasks", "https://fastapi.tiangolo.com/tutorial/background-tasks/")


def _matches(name: Optional[str], globs: Iterable[str]) -> bool:
    if not name:
        return False
    return any(fnmatchcase(name, g) for g in globs)


def strongest(evidence: Iterable[Evidence], kind: str, **conditions: object) -> Optional[Evidence]:
    """The most convincing evidence of `kind`: seen in code over annotated over named,
    then the fewest calls away from the task, then the first found."""
    candidates = [e for e in evidence if e.kind == kind and
                  all(getattr(e, k) == v for k, v in conditions.items())]
    if not candidates:
        return None
    return min(candidates, key=lambda e: (e.strength, len(e.chain)))


def _task(facts: TaskFacts) -> str:
    """`background task 'ingest'`, saying where a queue's task object really runs."""
    where = f" ({facts.in_process} called directly: runs here, not on the queue)" \
        if facts.in_process else ""
    return f"background task '{facts.name}'{where}"


def _is_light(facts: TaskFacts, settings: Settings) -> bool:
    return "light" in facts.tags or _matches(facts.qualname, settings.light)


def _witness(kind: str, **conditions: object) -> Callable[[TaskFacts], Optional[Evidence]]:
    def witness(facts: TaskFacts) -> Optional[Evidence]:
        return strongest(facts.evidence, kind, **conditions)
    return witness


def _subsumed(facts: TaskFacts, evidence: Evidence, settings: Settings) -> bool:
    """A long-running task goes to a worker queue, which is also the fix for CPU-heavy or
    blocking work further down its calls: that work is reported with the job (FBG103), not
    again on its own, unless it is as close to the task as the long-running evidence."""
    if _is_light(facts, settings):
        return False
    long = strongest(facts.evidence, "long")
    return long is not None and long.strength == 0 and len(long.chain) < len(evidence.chain)


# The one-line messages say what is wrong, the strongest evidence (what is called, and where)
# and the fix, once: `--explain`, `--show-chain` and the JSON/SARIF evidence carry the rest.
def check_cpu_heavy(facts: TaskFacts, settings: Settings) -> Optional[str]:
    if _is_light(facts, settings) or facts.offloaded_via == "run_sync_process":
        return None
    evidence = strongest(facts.evidence, "cpu")
    if evidence is None or _subsumed(facts, evidence, settings):
        return None
    where = " on the event loop" if facts.is_async and not evidence.off_loop else ""
    return (f"{_task(facts)} is CPU-heavy{where}: {evidence.describe()}; "
            f"run it in a process pool or a worker queue")


def check_blocking_in_async(facts: TaskFacts, settings: Settings) -> Optional[str]:
    if not facts.is_async:
        return None
    evidence = strongest(facts.evidence, "blocking", on_loop=True, awaited=False)
    if evidence is None or _subsumed(facts, evidence, settings):
        return None
    return (f"async background task '{facts.name}' blocks the event loop: {evidence.describe()}; "
            f"use an async client or asyncio.to_thread(), or make the task a plain def")


def check_long_running(facts: TaskFacts, settings: Settings) -> Optional[str]:
    if _is_light(facts, settings):
        return None
    evidence = strongest(facts.evidence, "long")
    if evidence is None:
        return None
    return f"{_task(facts)} is long-running: {evidence.describe()}; move it to a worker queue"


def check_critical(facts: TaskFacts, settings: Settings) -> Optional[str]:
    if "best-effort" in facts.tags or _matches(facts.qualname, settings.best_effort):
        return None
    evidence = strongest(facts.evidence, "critical")
    if evidence is None:
        return None
    return f"{_task(facts)} must not be lost: {evidence.describe()}; use a durable queue with retries"


def check_delayed(facts: TaskFacts, settings: Settings) -> Optional[str]:
    evidence = strongest(facts.evidence, "delay")
    if evidence is None:
        return None
    return (f"{_task(facts)} is a delayed job: {evidence.describe()}; "
            f"use a scheduler or a queue with a countdown")


register(TaskRule(
    code="FBG101", name="cpu-heavy-task",
    summary="A background task does CPU-bound work (images, PDFs, ML, compression, KDFs, data crunching).",
    what=("Flags a task that resizes images, renders PDFs, runs a model, compresses data, hashes "
          "passwords or crunches numbers — found in the task itself or in the project functions "
          "it calls, matched against the knowledge base or marked `# fastapi-bg: cpu-heavy`. "
          "A long-running task (FBG103) whose CPU-heavy work sits further down its calls than "
          "the long-running evidence is reported once, as FBG103: the worker queue is the fix "
          "for both."),
    why=("A `def` task runs in anyio's thread pool: 40 threads per process, shared with every "
         "sync endpoint, sync dependency and file upload. CPU-bound Python holds the GIL, so the "
         "whole process slows down while it runs, and the pool can run dry. An `async def` task "
         "is worse: it runs on the event loop and stalls every request until it is done."),
    bad=Example('''from fastapi import BackgroundTasks, FastAPI, UploadFile
from PIL import Image

app = FastAPI()


def resize_image(path: str) -> None:
    with Image.open(path) as img:
        img.resize((1024, 1024)).save(path)


@app.post("/avatar")
def upload(file: UploadFile, background_tasks: BackgroundTasks):
    background_tasks.add_task(resize_image, "/tmp/avatar.png")
    return {"ok": True}
'''),
    good=Example('''import anyio.to_process
from fastapi import BackgroundTasks, FastAPI, UploadFile
from PIL import Image

app = FastAPI()


def resize_image(path: str) -> None:
    with Image.open(path) as img:
        img.resize((1024, 1024)).save(path)


async def resize_in_process(path: str) -> None:
    await anyio.to_process.run_sync(resize_image, path)


@app.post("/avatar")
def upload(file: UploadFile, background_tasks: BackgroundTasks):
    background_tasks.add_task(resize_in_process, "/tmp/avatar.png")
    return {"ok": True}
'''),
    fix=("Run the work in a process pool (`anyio.to_process.run_sync`, `ProcessPoolExecutor`) "
         "or, when it must survive restarts or scale out, in a worker queue."),
    options=("cpu-heavy", "light", "max-depth"),
    references=(STARLETTE_BG, ("anyio: running functions in worker processes",
                               "https://anyio.readthedocs.io/en/stable/subprocesses.html")),
    check=check_cpu_heavy, witness=_witness("cpu"),
))

register(TaskRule(
    code="FBG102", name="blocking-call-in-async-task",
    summary="An `async def` background task makes a blocking call on the event loop.",
    what=("Flags an `async def` task that calls blocking I/O without awaiting it: `time.sleep`, "
          "`requests`, sync `httpx`, `smtplib`, sync database sessions and drivers, sync SDKs "
          "(boto3, stripe, slack_sdk, ...), subprocesses, file I/O — directly or through the "
          "project functions it calls. A long-running task (FBG103) whose blocking call sits "
          "further down its calls than the long-running evidence is reported once, as FBG103."),
    why=("Starlette awaits `async def` tasks on the event loop. A blocking call there freezes "
         "every request of the worker until it returns; the same call in a plain `def` task runs "
         "in the thread pool and is harmless."),
    bad=Example('''import requests
from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


async def forward_webhook(payload: dict) -> None:
    requests.post("https://hooks.example.com/in", json=payload, timeout=5)


@app.post("/webhook")
async def webhook(payload: dict, background_tasks: BackgroundTasks):
    background_tasks.add_task(forward_webhook, payload)
    return {"ok": True}
'''),
    good=Example('''import httpx
from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


async def forward_webhook(payload: dict) -> None:
    async with httpx.AsyncClient() as client:
        await client.post("https://hooks.example.com/in", json=payload, timeout=5)


@app.post("/webhook")
async def webhook(payload: dict, background_tasks: BackgroundTasks):
    background_tasks.add_task(forward_webhook, payload)
    return {"ok": True}
'''),
    fix=("Use an async client (`httpx.AsyncClient`, `asyncpg`, `aiosmtplib`), wrap the call in "
         "`await asyncio.to_thread(...)` / `await run_in_threadpool(...)`, or make the task a "
         "plain `def` so Starlette runs it in the thread pool."),
    options=("max-depth",),
    references=(STARLETTE_BG, FASTAPI_BG),
    check=check_blocking_in_async, fixable=True, witness=_witness("blocking", on_loop=True, awaited=False),
    fix_scope=("`flake8-fastapi-bg --fix` makes the task a plain `def` (Starlette then runs it in the "
               "thread pool) when its body has no `await`, `async for`, `async with` or `yield`, uses "
               "nothing bound to the event loop (`get_running_loop`, `create_task`, `ensure_future`, "
               "task groups, asyncio queues and locks, async clients), and nothing in the project's "
               "modules, tests included, uses it other than as the callable of `add_task` or "
               "`BackgroundTask`: a module that awaits it, calls it, or passes it anywhere else "
               "withholds the fix. The fix rewrites the file being linted, so it is offered only for "
               "an undecorated, top-level task defined in the file of the site; a task defined in "
               "another module keeps the finding without a fix."),
))

register(TaskRule(
    code="FBG103", name="long-running-task",
    summary=("A background task runs long: polling or retry loops, long sleeps, subprocesses, "
             "LLM calls, crawls, big transfers."),
    what=("Flags a task that polls or retries in a loop with sleeps, sleeps for 30 seconds or "
          "more, runs subprocesses, calls LLM/model APIs or runs agents, chains and pipelines, "
          "loads or indexes documents, crawls or drives a browser, pages through remote results "
          "in a `while` loop, repeats quick remote calls (embeddings, exchange data) in a loop, "
          "or moves large files."),
    why=("Background tasks run in the web process, one after another, after the response. A "
         "long task holds a worker thread (or the event loop's attention) for its whole run, "
         "delays the request's later tasks, is killed by every deploy or restart, and is never "
         "retried. Nothing reports its progress or failure."),
    bad=Example('''import time

import requests
from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


def wait_for_export(job_id: str) -> None:
    while True:
        status = requests.get(f"https://api.example.com/exports/{job_id}", timeout=10).json()
        if status["done"]:
            break
        time.sleep(5)


@app.post("/exports")
def start_export(background_tasks: BackgroundTasks):
    background_tasks.add_task(wait_for_export, "job-1")
    return {"ok": True}
'''),
    good=Example('''import requests
from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


def record_export(job_id: str) -> None:
    requests.post("https://api.example.com/audit", json={"job": job_id}, timeout=5)


@app.post("/exports")
def start_export(background_tasks: BackgroundTasks):
    background_tasks.add_task(record_export, "job-1")
    return {"ok": True}
'''),
    fix=f"Move long work to {QUEUES}, which runs it in its own process with retries and visibility.",
    options=("long-running", "light", "max-depth"),
    references=(STARLETTE_BG, (
        "Celery: first steps",
        "https://docs.celeryq.dev/en/stable/getting-started/first-steps-with-celery.html")),
    check=check_long_running, witness=_witness("long"),
))

register(TaskRule(
    code="FBG104", name="critical-task",
    summary=("A background task does work that must not be lost: payments, refunds, orders, "
             "password resets, verification, ledger writes."),
    what=("Flags a task that calls a payment SDK or places exchange orders, or whose name (or a "
          "project function it calls) says it moves money, fulfils orders, confirms payments, "
          "resets passwords, verifies accounts or writes ledger/billing records; or, when its "
          "own name is neither an observer (`log_…`, `notify_…`) nor a read (`get_…`), that is "
          "scheduled from a route or helper whose name says password reset, verification, OTP, "
          "payment or refund, or that is given or writes a string saying so "
          "(`subject=\"Reset your password\"`) — unless marked `# fastapi-bg: best-effort`."),
    why=("BackgroundTasks keep nothing: a deploy, a crash or an exception in an earlier task of "
         "the same request loses the work, with no retry and only a log line. The client already "
         "got a success response. For a charge or a password-reset email that is a lost payment "
         "or a locked-out user."),
    bad=Example('''import stripe
from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


def charge_card(customer_id: str, amount: int) -> None:
    stripe.PaymentIntent.create(customer=customer_id, amount=amount, currency="usd", confirm=True)


@app.post("/checkout")
def checkout(background_tasks: BackgroundTasks):
    background_tasks.add_task(charge_card, "cus_123", 4200)
    return {"ok": True}
'''),
    good=Example('''from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


def log_payment_view(customer_id: str) -> None:
    print("payment page viewed", customer_id)


@app.post("/checkout")
def checkout(background_tasks: BackgroundTasks):
    background_tasks.add_task(log_payment_view, "cus_123")
    return {"ok": True}
'''),
    fix=("Enqueue the work on a durable queue with retries and idempotency keys (Celery with "
         "`acks_late`, Arq, RQ, Dramatiq, Taskiq), or do it in the request and report the result. "
         "Mark tasks that really are best-effort with `# fastapi-bg: best-effort`."),
    options=("critical", "best-effort", "max-depth"),
    references=(STARLETTE_BG,
                ("Stripe: idempotent requests", "https://docs.stripe.com/api/idempotent_requests")),
    check=check_critical, witness=_witness("critical"),
))

register(TaskRule(
    code="FBG105", name="delayed-task",
    summary="A background task sleeps first to run later (reminders, delayed follow-ups).",
    what=("Flags a task whose first action is a sleep of 5 seconds or more, or of a computed "
          "duration: work meant to happen later."),
    why=("The sleep holds a worker thread (or keeps a coroutine alive) for the whole delay, and "
         "a deploy or restart during the delay loses the job silently. The longer the delay, the "
         "surer the loss."),
    bad=Example('''import asyncio

from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


async def send_reminder(user_id: int) -> None:
    await asyncio.sleep(24 * 60 * 60)
    print("reminder for", user_id)


@app.post("/signup")
async def signup(background_tasks: BackgroundTasks):
    background_tasks.add_task(send_reminder, 1)
    return {"ok": True}
'''),
    good=Example('''from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


async def send_reminder(user_id: int) -> None:
    print("reminder for", user_id)


@app.post("/signup")
async def signup(background_tasks: BackgroundTasks):
    background_tasks.add_task(send_reminder, 1)
    return {"ok": True}
'''),
    fix=("Schedule the job: APScheduler's `add_job(..., 'date', run_date=...)` with a persistent "
         "job store, or a queue with ETA/countdown (Celery `apply_async(countdown=...)`, Arq "
         "`_defer_by`, RQ `enqueue_in`)."),
    options=(),
    references=(("APScheduler: user guide", "https://apscheduler.readthedocs.io/en/3.x/userguide.html"),),
    check=check_delayed, witness=_witness("delay"),
))
