import os
import tempfile

import anyio.to_process
from fastapi import APIRouter, BackgroundTasks, UploadFile
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from app.services import images
from app.services.exports import wait_for_export

router = APIRouter()


@router.post("/avatar")
async def upload_avatar(file: UploadFile, background_tasks: BackgroundTasks) -> dict:
    path = os.path.join(tempfile.gettempdir(), "avatar.png")
    with open(path, "wb") as out:
        out.write(await file.read())
    # FBG101: PIL resampling in the shared thread pool.
    background_tasks.add_task(images.resize_image, path)
    return {"ok": True}


async def resize_in_process(path: str) -> None:
    await anyio.to_process.run_sync(images.resize_image, path)


@router.post("/avatar/v2")
async def upload_avatar_v2(background_tasks: BackgroundTasks) -> dict:
    # Offloaded to a process pool: silent.
    background_tasks.add_task(resize_in_process, "/tmp/avatar.png")
    return {"ok": True}


@router.get("/report")
def download_report() -> FileResponse:
    path = os.path.join(tempfile.gettempdir(), "report.csv")
    # The idiomatic cleanup: silent.
    return FileResponse(path, background=BackgroundTask(os.remove, path))


@router.post("/exports/{job_id}")
def start_export(job_id: str, background_tasks: BackgroundTasks) -> dict:
    # FBG103: a polling loop.
    background_tasks.add_task(wait_for_export, job_id)
    return {"ok": True}
