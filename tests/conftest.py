import gc
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# Tests that run flake8 or the standalone command in a subprocess through these fixtures
# (tests/reliability/conftest.py) take a second or more each: the matrices of configuration
# errors, faults and odd input through both tools. They are marked slow, so a plain `pytest`
# leaves them to CI (`-m "slow or not slow"`); in-process tests cover the same code.
SUBPROCESS_FIXTURES = frozenset({"flake8_run", "cli_run", "python_run"})


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(items: list) -> None:
    for item in items:
        if SUBPROCESS_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _cache_outside_the_repository(tmp_path_factory, monkeypatch):
    """The persistent cache of every run a test makes, in this process or in a subprocess
    (which inherits the environment), goes to a temporary directory: the test suite never
    leaves a `.fastapi_bg_cache` in the checkout or in a fixture project. Each test starts
    with an empty one, so a test never gets another test's answers."""
    monkeypatch.setenv("FLAKE8_FASTAPI_BG_CACHE_DIR", str(tmp_path_factory.mktemp("fbg-cache")))


@pytest.fixture(autouse=True)
def _thaw_after_each_test():
    """`plugin.prepare` freezes what is loaded before flake8 forks; a test that runs it in this
    process hands everything back to the collector, so the session's garbage is collected."""
    yield
    if gc.get_freeze_count():
        gc.unfreeze()
