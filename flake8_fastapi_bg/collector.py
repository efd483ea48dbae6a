"""The adapters' garbage-collector policy while they lint files one after another.

The engine never touches `gc` (its hosts may be long-lived). The two adapters, the flake8
plugin and the standalone command, lint many files in one short-lived process, and the
modules, scopes and summaries the analysis keeps for the next file are hundreds of thousands
of objects that live until the process ends. Left to the collector, every full collection
walks all of them again: on large real apps that was up to a third of the standalone
command's CPU (measured with a `gc.callbacks` timer: see docs/performance.md).

So a file that passes the text test is analysed with the collector paused (`analysing`), and
then `gc.freeze()` moves what survived, the caches above all, to the permanent generation,
which collections skip. Frozen objects are still freed by reference counting; the analysis
makes few reference cycles (the peak memory was the same with a collection after every file,
which cost far more CPU), and
a frozen cycle that became garbage (a module evicted from a bounded cache) is reclaimed at
the next thaw: every `THAW_EVERY` analysed files, the frozen objects go back to the
collector for one full collection. Files without a task word cost nothing here, and a host
that turned the collector off keeps it off.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator

# Analysed files between two full collections of everything, frozen or not (one costs seconds
# of CPU once a large app's analysis holds hundreds of megabytes).
THAW_EVERY = 64
_settled = 0


@contextmanager
def analysing(may_schedule: bool) -> Iterator[None]:
    """Run the lint of one file of a batch under the policy above; `may_schedule` is the text
    test's answer on it (`prefilter.may_schedule_tasks`)."""
    managed = may_schedule and gc.isenabled() and hasattr(gc, "freeze")
    if managed:
        gc.disable()
    try:
        yield
    finally:
        if managed:
            _settle()


def _settle() -> None:
    global _settled
    gc.enable()
    _settled += 1
    if _settled % THAW_EVERY == 0:
        gc.unfreeze()
        gc.collect()
    gc.freeze()
