"""The adapters' collector policy (flake8_fastapi_bg/collector.py), checked by its effects on
`gc`, not by timing: a file that passes the text test is analysed with the collector paused and
its survivors frozen; a clean file, a host without a collector, and the engine itself leave
`gc` alone."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Iterator, List

import pytest

from flake8_fastapi_bg import collector
from flake8_fastapi_bg.adapter import lint_file
from flake8_fastapi_bg.cli import Linter
from flake8_fastapi_bg.settings import Settings

SITE = '''\
from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


def note(text: str) -> None:
    print(text)


@app.post("/x")
def endpoint(tasks: BackgroundTasks):
    tasks.add_task(note, "ok")
    return {}
'''


@pytest.fixture
def thawed() -> Iterator[None]:
    gc.unfreeze()
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    gc.enable() if enabled else gc.disable()


def test_a_file_with_a_task_word_is_analysed_paused_then_frozen(thawed, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    path = tmp_path / "main.py"
    path.write_text(SITE)
    with collector.analysing(True):
        enabled_inside = gc.isenabled()
    assert not enabled_inside
    assert gc.isenabled() and gc.get_freeze_count() > 0
    gc.unfreeze()
    Linter(Settings()).report(str(path), SITE, path)  # the standalone command's path
    assert gc.isenabled() and gc.get_freeze_count() > 0


def test_a_clean_file_leaves_the_collector_alone(thawed) -> None:
    calls: List[str] = []
    callback = (lambda phase, info: calls.append(phase))
    gc.callbacks.append(callback)
    try:
        with collector.analysing(False):
            assert gc.isenabled()
        lint_file("clean.py", "import os\n\nprint(os.getcwd())\n", Settings(), None, None)
        assert gc.isenabled()
    finally:
        gc.callbacks.remove(callback)
    assert gc.get_freeze_count() == 0 and calls == []


def test_a_disabled_collector_stays_disabled(thawed) -> None:
    gc.disable()
    with collector.analysing(True):
        pass
    assert not gc.isenabled() and gc.get_freeze_count() == 0


def test_the_collector_comes_back_when_the_analysis_fails(thawed) -> None:
    with pytest.raises(RuntimeError):
        with collector.analysing(True):
            raise RuntimeError("boom")
    assert gc.isenabled()


def test_frozen_objects_are_handed_back_for_a_collection_now_and_then(thawed, monkeypatch) -> None:
    monkeypatch.setattr(collector, "_settled", 0)
    events: List[str] = []
    unfreeze, collect = gc.unfreeze, gc.collect
    monkeypatch.setattr(gc, "unfreeze", lambda: events.append(f"thaw {collector._settled}") or unfreeze())
    monkeypatch.setattr(gc, "collect",
                        lambda *a: events.append(f"collect {collector._settled}") or collect(*a))
    for _ in range(2 * collector.THAW_EVERY):
        with collector.analysing(True):
            pass
    every = collector.THAW_EVERY
    assert events == [f"thaw {every}", f"collect {every}", f"thaw {2 * every}", f"collect {2 * every}"]
