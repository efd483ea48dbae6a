"""`flake8-fastapi-bg --inventory`: every task site, with route, task, where it runs, class,
evidence and resolution, in text, JSON and Markdown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flake8_fastapi_bg import cli

ROOT = Path(__file__).resolve().parent.parent
SHOP = ROOT / "examples" / "shop"

PROJECT = {
    "svc/__init__.py": "",
    "svc/jobs/__init__.py": "",
    "svc/jobs/work.py": (
        "import time\n\n"
        "from PIL import Image\n\n\n"
        "def thumbnail(path: str) -> None:\n"
        "    with Image.open(path) as img:\n"
        "        img.thumbnail((64, 64))\n\n\n"
        "async def audit(event: str) -> None:\n"
        "    time.sleep(1)\n\n\n"
        "def log(event: str) -> None:\n"
        "    print(event)\n"),
    "svc/api.py": (
        "from fastapi import APIRouter, BackgroundTasks\n\n"
        "from svc.jobs import work\n"
        "from svc.jobs.work import log\n\n"
        "router = APIRouter()\n\n\n"
        "def later(tasks: BackgroundTasks, func, *args) -> None:\n"
        "    tasks.add_task(func, *args)\n\n\n"
        "@router.put('/images/{name}')\n"
        "def upload(name: str, background_tasks: BackgroundTasks) -> dict:\n"
        "    background_tasks.add_task(work.thumbnail, name)\n"
        "    background_tasks.add_task(work.audit, 'upload')\n"
        "    later(background_tasks, log, 'queued')\n"
        "    return {}\n\n\n"
        "@router.delete(PREFIX)\n"
        "def remove(background_tasks: BackgroundTasks) -> dict:\n"
        "    background_tasks.add_task(log, 'removed')\n"
        "    background_tasks.add_task(getattr(work, 'log'), 'x')\n"
        "    return {}\n"),
}


def inventory(capsys, *argv: str) -> tuple:
    status = cli.main(["--inventory", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, text in PROJECT.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_example_app_inventory(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(SHOP)
    status, out, err = inventory(capsys, "--format", "json", "app")
    assert status == 0 and not err
    data = json.loads(out)
    rows = {(s["path"], s["line"]): s for s in data["sites"]}
    charge = rows[("app/routes/checkout.py", 11)]
    assert charge["route"] == "POST /checkout"
    assert charge["task"] == "app.services.billing.BillingService.charge_card"
    assert (charge["runs_in"], charge["classification"], charge["resolution"]) == (
        "thread pool", "critical", "resolved")
    assert "stripe.PaymentIntent.create" in charge["evidence"]
    assert "app/services/billing.py:9" in charge["evidence"]
    assert rows[("app/routes/webhooks.py", 14)]["runs_in"] == "event loop"
    assert rows[("app/routes/webhooks.py", 14)]["classification"] == "blocking"
    assert rows[("app/routes/media.py", 46)]["route"] == "POST /exports/{job_id}"
    assert rows[("app/routes/media.py", 40)]["classification"] == "fine"  # FileResponse cleanup
    assert rows[("app/routes/mistakes.py", 26)]["classification"] == "broken"  # FBG204: never runs
    assert rows[("app/routes/mistakes.py", 15)]["resolution"].startswith("unresolved")
    assert data["summary"] == {"total": 18, "broken": 6, "critical": 1, "cpu-heavy": 1, "blocking": 1,
                               "long-running": 1, "delayed": 1, "fine": 7, "unresolved": 1}
    status, text, _ = inventory(capsys, "app")
    assert text.splitlines()[0].split() == ["site", "route", "task", "runs", "in", "class", "resolution"]
    assert text.rstrip().splitlines()[-1] == (
        "18 background task site(s): 6 broken, 1 critical, 1 cpu-heavy, 1 blocking, 1 long-running, "
        "1 delayed, 7 fine; 1 unresolved")


def test_multi_module_inventory(project: Path, capsys) -> None:
    status, out, _ = inventory(capsys, "--format", "json", ".")
    assert status == 0
    sites = [(s["path"], s["line"], s["route"], s["task"], s["runs_in"], s["classification"],
              s["resolution"]) for s in json.loads(out)["sites"]]
    assert sites == [
        ("svc/api.py", 10, "", "func", "unknown", "fine",
         "unresolved: `func` is a parameter of 'later' (see its callers' sites)"),
        ("svc/api.py", 15, "PUT /images/{name}", "svc.jobs.work.thumbnail", "thread pool", "cpu-heavy",
         "resolved"),
        ("svc/api.py", 16, "PUT /images/{name}", "svc.jobs.work.audit", "event loop", "blocking", "resolved"),
        ("svc/api.py", 17, "PUT /images/{name}", "svc.jobs.work.log", "thread pool", "fine", "resolved"),
        ("svc/api.py", 23, "DELETE ?", "svc.jobs.work.log", "thread pool", "fine", "resolved"),
        ("svc/api.py", 24, "DELETE ?", "getattr(work, 'log')", "unknown", "fine",
         "unresolved: the task is what a call returns"),
    ]


def test_markdown_and_usage_errors(project: Path, capsys) -> None:
    status, out, _ = inventory(capsys, "--format", "markdown", ".")
    lines = out.splitlines()
    assert lines[0] == "| Site | Route | Task | Runs in | Class | Evidence | Resolution |"
    assert any(line.startswith("| `svc/api.py:15` | PUT /images/{name} | `svc.jobs.work.thumbnail` | "
                               "thread pool | cpu-heavy | FBG101: calls PIL.Image.Image.thumbnail")
               for line in lines)
    assert lines[-1].startswith("6 background task site(s): ")
    assert cli.main(["--inventory", "--format", "sarif", "."]) == 2
    assert cli.main(["--format", "markdown", "."]) == 2
    assert cli.main(["--inventory", "--diff", "."]) == 2


ROUTES = (
    "from fastapi import APIRouter, BackgroundTasks\n\n"
    "router = APIRouter(prefix='/cases')\n\n\n"
    "def log(event: str) -> None:\n"
    "    print(event)\n\n\n"
    "def make_task():\n"
    "    return log\n\n\n"
    "@router.post('')\n"
    "def create(background_tasks: BackgroundTasks) -> dict:\n"
    "    background_tasks.add_task(log, 'created')\n"
    "    background_tasks.add_task(make_task()(1), 'x')\n"
    "    return {}\n\n\n"
    "@router.post('/run/agents')\n"
    "@router.post('/run/agents/', include_in_schema=False)\n"
    "@router.post('/run/workflows')\n"
    "def run(background_tasks: BackgroundTasks) -> dict:\n"
    "    background_tasks.add_task(log, 'run')\n"
    "    return {}\n"
)


def test_routes_and_unresolved_tasks_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys) -> None:
    """The router's own path (`""`) is shown as written, a function serving several paths says
    how many more, and an unresolved task shows its expression, not `<unknown>`."""
    (tmp_path / "api.py").write_text(ROUTES, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    status, out, _ = inventory(capsys, "--format", "json", "api.py")
    rows = [(s["line"], s["route"], s["task"], s["resolution"]) for s in json.loads(out)["sites"]]
    assert rows == [
        (16, 'POST ""', "api.log", "resolved"),
        (17, 'POST ""', "make_task()(1)", "unresolved: the task is what a call returns"),
        (25, "POST /run/agents (+2)", "api.log", "resolved"),
    ]


def test_work_handed_to_a_forwarder_task(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """`add_task(run_async, crawl_site, url)`: the row names the function that does the work,
    and where it runs, next to the forwarder that the site schedules."""
    monkeypatch.chdir(ROOT / "tests" / "fixtures" / "projects" / "following")
    status, out, _ = inventory(capsys, "--format", "json", "app/api/routes.py")
    rows = {s["line"]: (s["task"], s["runs_in"], s["classification"]) for s in json.loads(out)["sites"]}
    assert rows[16] == ("app.core.concurrency.run_async -> app.services.crawler.crawl_site",
                        "event loop; crawl_site in a thread", "long-running")
    assert rows[21] == ("app.core.concurrency.run_async -> app.services.crawler.ping",
                        "event loop; ping in a thread", "fine")
    assert rows[17] == ("app.services.crawler.refresh", "event loop", "long-running")
