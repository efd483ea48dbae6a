import gc
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _thaw_after_each_test():
    """The adapters freeze the objects alive after a file (engine._settle); tests that run them
    in this process hand everything back to the collector, so the test session's own garbage
    is collected as usual."""
    yield
    if gc.get_freeze_count():
        gc.unfreeze()
