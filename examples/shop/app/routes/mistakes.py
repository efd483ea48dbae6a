"""Tasks that break or silently never run: each one is a real bug FastAPI accepts quietly."""
from fastapi import APIRouter, BackgroundTasks, Response
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

from app.tasks import notify_slack, send_welcome
from app.tasks.notify import forward_event

router = APIRouter()


@router.post("/invite")
def invite(email: str, background_tasks: BackgroundTasks) -> dict:
    # FBG201: sends during the request, then the task itself fails after the response.
    background_tasks.add_task(send_welcome(email))
    # FBG202: notify_slack takes one argument; the TypeError comes after the response.
    background_tasks.add_task(notify_slack, "invited", email)
    # FBG208: the lambda returns a coroutine that is never awaited.
    background_tasks.add_task(lambda: forward_event({"email": email}))
    return {"ok": True}


@router.post("/export")
def export() -> dict:
    tasks = BackgroundTasks()  # FBG204: never attached to a response
    tasks.add_task(notify_slack, "export started")
    return {"ok": True}


@router.post("/archive")
def archive(background_tasks: BackgroundTasks) -> JSONResponse:
    background_tasks.add_task(notify_slack, "archived")
    # FBG205: this background= replaces the injected tasks, so the line above never runs.
    return JSONResponse({"ok": True}, background=BackgroundTask(notify_slack, "done"))


@router.post("/ping")
def ping(response: Response) -> dict:
    response.background = BackgroundTask(notify_slack, "ping")  # FBG209: ignored by FastAPI
    return {"ok": True}
