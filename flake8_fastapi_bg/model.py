"""The facts that flow through the engine: collect -> resolve -> analyse -> judge.

Everything here is plain data. Stages produce these records; rules are pure functions
over them and never walk syntax trees themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple


@dataclass(frozen=True)
class Where:
    """A place in a source file: display path, 1-based line, 0-based column."""

    path: str
    line: int
    col: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Edit:
    """A source rewrite: replace the text between two (line, col) positions."""

    start: Tuple[int, int]
    end: Tuple[int, int]
    text: str


@dataclass(frozen=True)
class Fix:
    """A safe, mechanical rewrite attached to a finding."""

    description: str
    edits: Tuple[Edit, ...]


@dataclass(frozen=True)
class Finding:
    """One reported problem. `line` is 1-based, `col` 0-based (flake8's convention)."""

    code: str
    line: int
    col: int
    message: str
    fix: Optional[Fix] = None

    @property
    def text(self) -> str:
        """The flake8 message text: code, space, message."""
        return f"{self.code} {self.message}"


@dataclass(frozen=True)
class Evidence:
    """Why a task is judged the way it is: one call, loop or sleep found in what it runs.

    `kind` is a knowledge-base category (`cpu`, `blocking`, `long`, `critical`), or one of
    `sleep`, `delay`, `poll`, `pragma`, `name`, `config`.
    """

    kind: str
    subject: str  # what was found: a qualified call name, a function name, "time.sleep(600)"
    reason: str  # a short human reason: "image resampling", "sync HTTP"
    where: Where
    awaited: bool = False
    on_loop: bool = False  # the call runs on the event loop (reached from an async task)
    off_loop: bool = False  # the call runs in a thread or process the task hands it to and waits for
    seconds: Optional[float] = None  # for sleeps: the duration when it is a literal
    chain: Tuple[str, ...] = ()  # project functions followed to get here
    is_call: bool = True  # `subject` is something the task calls (else: the task itself)
    # 0: a call or sleep seen in code; 1: an annotation or option; 2: a name; 3: the context
    # (the name of the route scheduling the task, a string it is given or writes)
    strength: int = 0

    def describe(self) -> str:
        """`calls requests.post (sync HTTP) at app/x.py:12 via notify_admins`."""
        text = f"{'calls ' if self.is_call else ''}{self.subject} ({self.reason}) at {self.where}"
        if self.chain:
            text += f" via {' -> '.join(self.chain)}"
        return text


@dataclass
class TaskFacts:
    """Everything known about one scheduled task, for the rules to judge."""

    site_kind: str  # "add_task", "BackgroundTask", "BackgroundTasks", "forwarded"
    where: Where  # where the registration is reported
    name: str  # display name of the task: "resize_image", "EmailService.send", "<lambda>"
    qualname: Optional[str]  # project-qualified name when resolved
    resolved: bool  # the callable that will run is known (project code or a known library call)
    is_async: Optional[bool]  # True: runs on the event loop; False: in the thread pool
    evidence: list = field(default_factory=list)  # list[Evidence]
    tags: frozenset = frozenset()  # pragma tags on the task's own def
    library_callable: Optional[str] = None  # qualified name when the task is a library function
    offloaded_via: Optional[str] = None  # "run_in_threadpool" when add_task(run_in_threadpool, f)
    in_process: Optional[str] = None  # "a Celery task": a queue's task object, called here directly
