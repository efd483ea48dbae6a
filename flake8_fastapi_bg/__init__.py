"""flake8-fastapi-bg: find the wrong work in FastAPI BackgroundTasks, and tasks that break or
never run."""

__version__ = "0.1.0"
