import time

import requests


def wait_for_export(job_id: str) -> str:
    """Polls a remote job until it finishes: minutes of a worker thread."""
    while True:
        status = requests.get(f"https://api.example/exports/{job_id}", timeout=10).json()
        if status["state"] == "done":
            return status["url"]
        time.sleep(10)
