"""The cheap text test that keeps libcst away from files that cannot schedule a task.

Everything the rules look at spells one of these in the file itself (case-sensitive):

* `add_task` — the method call `x.add_task(...)`, and forwarding helpers that call it;
* `BackgroundTask` — the classes `BackgroundTask` and `BackgroundTasks`, however they are
  imported or aliased in this file (`from fastapi import BackgroundTasks as BT`,
  `import starlette.background as sb; sb.BackgroundTask(...)`), in annotations, `Depends`,
  constructions and `isinstance` checks;
* `background_task` — the conventional parameter name, for a `BackgroundTasks` value that
  arrives without the class being named (a dependency's result handed to a helper);
* `background=` / `.background = ` — a response's `background` keyword or attribute (FBG205,
  FBG209).

Importing the module (`import starlette.background as sb`) needs no word of its own: using a
class from it spells `BackgroundTask`.

"background" in other senses — CSS (`background: #fff`, `"background-color"`), a
`background: str` field, "runs in the background" in a docstring — does not pass. An alias of
the class defined in *another* module of the project (`from app.deps import Tasks`) is the one
way around the test; see the README's limitations. This module must not import libcst.
"""

from __future__ import annotations

import re

_LITERAL_WORDS = ("add_task", "BackgroundTask", "background_task")
_ASSIGNED = re.compile(r"\bbackground\s*=")
# The test, as one expression (what the tests check it against). `may_schedule_tasks` answers
# the same, faster: a regular expression with alternatives scans a file at about 40 MB/s, `in`
# at several GB/s.
_SITE_WORDS = re.compile("|".join(map(re.escape, _LITERAL_WORDS)) + "|" + _ASSIGNED.pattern)


def may_schedule_tasks(source: str) -> bool:
    """Return False only when `source` certainly contains no task site."""
    for word in _LITERAL_WORDS:
        if word in source:
            return True
    return "background" in source and _ASSIGNED.search(source) is not None
