"""The cheap text test that keeps libcst away from files that cannot schedule a task.

Every way of scheduling work after the response spells one of two words in the file itself:

* `add_task` — the method call `x.add_task(...)` (also `getattr`-free forwarding helpers that
  call it);
* `background` in any case — `BackgroundTask(...)`, `BackgroundTasks(...)`, a `background=`
  keyword, a `.background` attribute, or the import that an alias needs
  (`from fastapi import BackgroundTasks as BT`, `import starlette.background as sb`).

An alias defined in *another* module of the project (`from app.deps import Tasks`) is the one
way around it; see the README's limitations. This module must not import libcst.
"""

from __future__ import annotations

import re

_SITE_WORDS = re.compile(r"add_task|[Bb][Aa][Cc][Kk][Gg][Rr][Oo][Uu][Nn][Dd]")


def may_schedule_tasks(source: str) -> bool:
    """Return False only when `source` certainly contains no task site."""
    return _SITE_WORDS.search(source) is not None
