from fastapi import APIRouter, BackgroundTasks

from app.tasks import increment_metric, notify_slack, send_welcome
from app.tasks.emails import send_reminder

router = APIRouter()


@router.post("/signup")
def signup(email: str, background_tasks: BackgroundTasks) -> dict:
    # Short best-effort I/O: silent.
    background_tasks.add_task(send_welcome, email)
    background_tasks.add_task(notify_slack, f"new signup: {email}")
    background_tasks.add_task(increment_metric, "signups")
    # FBG105: a delayed job.
    background_tasks.add_task(send_reminder, email, delay_seconds=24 * 3600)
    return {"ok": True}
