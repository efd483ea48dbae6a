from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends

from app.tasks.notify import forward_event

router = APIRouter()
Tasks = Annotated[BackgroundTasks, Depends()]


@router.post("/webhook")
async def webhook(payload: dict, tasks: Tasks) -> dict:
    # FBG102: the async task calls requests.post on the event loop.
    tasks.add_task(forward_event, payload)
    return {"ok": True}
