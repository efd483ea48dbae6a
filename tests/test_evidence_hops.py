"""Evidence hops with a place for every step: the call, the forwarder's call or the decorator
that enters each project function, on the multi-module `following` fixture project."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Tuple

import pytest

from flake8_fastapi_bg.engine import lint_source
from flake8_fastapi_bg.model import Finding
from flake8_fastapi_bg.output import Result, format_json, sarif_log
from flake8_fastapi_bg.settings import Settings
from tests.support import forget_projects
from tests.test_output import validate_sarif

ROOT = Path(__file__).parent / "fixtures" / "projects" / "following"
Hops = List[Tuple[str, str, str, int, int, str]]


def _findings(module: str, monkeypatch: pytest.MonkeyPatch) -> List[Finding]:
    monkeypatch.chdir(ROOT)
    forget_projects()  # paths are shown relative to the directory a module was parsed from
    path = ROOT / module
    return lint_source(module, path.read_text(encoding="utf-8"), Settings(), path)


def _hops(finding: Finding) -> Hops:
    return [(h.role, h.function, h.path, h.line, h.col + 1, h.reason) for h in finding.evidence]


def _at(findings: List[Finding], line: int) -> Finding:
    (found,) = [f for f in findings if f.line == line and f.code.startswith("FBG1")]
    return found


def test_decorated_method_run_through_a_forwarder(monkeypatch: pytest.MonkeyPatch) -> None:
    """`refresh` hands `Crawler().crawl` to the project forwarder `run_async`; `crawl` is
    wrapped by the project decorator `@retry`, whose wrapper sleeps in its retry loop."""
    finding = _at(_findings("app/api/routes.py", monkeypatch), 17)
    assert _hops(finding) == [
        ("site", "app.api.routes.crawl", "app/api/routes.py", 17, 5,
         "schedules app.services.crawler.refresh (event loop)"),
        ("call", "app.services.crawler.Crawler.crawl", "app/services/crawler.py", 25, 11,
         "refresh runs Crawler.crawl in a thread through run_async"),
        ("call", "app.core.concurrency.retry.decorate.wrapper", "app/services/crawler.py", 7, 6,
         "@retry wraps Crawler.crawl"),
        ("leaf", "app.core.concurrency.retry.decorate.wrapper", "app/core/concurrency.py", 22, 21,
         "calls time.sleep(pause) (sleeps in a retry/throttle loop)"),
    ]


def test_task_forwarder_given_the_function_at_the_site(monkeypatch: pytest.MonkeyPatch) -> None:
    """`add_task(run_async, crawl_site, url)`: run_async enters crawl_site at its
    `run_in_executor` call."""
    finding = _at(_findings("app/api/routes.py", monkeypatch), 16)
    assert _hops(finding) == [
        ("site", "app.api.routes.crawl", "app/api/routes.py", 16, 5,
         "schedules app.core.concurrency.run_async (event loop)"),
        ("call", "app.services.crawler.crawl_site", "app/core/concurrency.py", 9, 18,
         "run_async runs crawl_site in a thread (given as 'func')"),
        ("leaf", "app.services.crawler.crawl_site", "app/services/crawler.py", 17, 15,
         "calls requests.get (sync HTTP repeated in a while loop)"),
    ]


def test_queue_task_object_called_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    finding = _at(_findings("app/api/routes.py", monkeypatch), 29)
    assert _hops(finding)[1] == (
        "call", "app.tasks.ingest_document", "app/tasks.py", 6, 2,
        "a Celery task called directly runs ingest_document here")
    assert [h[0] for h in _hops(finding)] == ["site", "call", "leaf"]


def test_helpers_a_site_forwards_through(monkeypatch: pytest.MonkeyPatch) -> None:
    finding = _at(_findings("app/api/routes.py", monkeypatch), 13)
    assert [h[:5] for h in _hops(finding)] == [
        ("site", "app.api.routes.crawl", "app/api/routes.py", 13, 5),
        ("call", "schedule", "app/api/helpers.py", 8, 1),
        ("call", "_enqueue", "app/api/helpers.py", 12, 1),
        ("call", "_register", "app/api/helpers.py", 16, 1),
        ("leaf", "app.services.crawler.crawl_site", "app/services/crawler.py", 17, 15),
    ]


def test_every_hop_has_a_place_in_json_and_sarif(monkeypatch: pytest.MonkeyPatch) -> None:
    findings = [f for f in _findings("app/api/routes.py", monkeypatch) if f.code.startswith("FBG1")]
    results = [Result("app/api/routes.py", f) for f in findings]
    assert len(results) >= 6
    for record in json.loads(format_json(results)):
        assert record["evidence"], record
        assert all(h["path"] and h["line"] and h["column"] for h in record["evidence"]), record
    log = sarif_log(results, base=ROOT)
    validate_sarif(log)
    for result, finding in zip(log["runs"][0]["results"], findings):
        steps = result["codeFlows"][0]["threadFlows"][0]["locations"]
        assert len(steps) == len(finding.evidence)
        assert all(s["location"]["physicalLocation"]["region"]["startLine"] for s in steps)
