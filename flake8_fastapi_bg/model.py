"""The facts that flow through the engine: collect -> resolve -> analyse -> judge.

Everything here is plain data. Stages produce these records; rules are pure functions
over them and never walk syntax trees themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import FrozenSet, Optional, Protocol, Tuple


@dataclass(frozen=True)
class Where:
    """A place in a source file: display path, 1-based line, 0-based column."""

    path: str
    line: int
    col: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


class Located(Protocol):
    """Anything with a place: a `Where`, or an `analyse.NodeWhere` that computes its line and
    column only when they are read."""

    @property
    def path(self) -> str: ...

    @property
    def line(self) -> int: ...

    @property
    def col(self) -> int: ...


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
class Hop:
    """One step of a finding's evidence chain, from the registration site to the leaf.

    `role` is `site` (the registration), `call` (a project function entered: `function` is its
    qualified name, `where` the call that entered it) or `leaf` (the matched call, loop or
    sleep: `function` is the function that holds it, `reason` what was found and why).
    `where` is a `Located` (a `Where`, or a lazily positioned `analyse.NodeWhere`), or None
    when the place is not known.
    """

    function: str
    role: str
    reason: str = ""
    where: Optional[Located] = None

    @property
    def path(self) -> Optional[str]:
        return self.where.path if self.where is not None else None

    @property
    def line(self) -> Optional[int]:
        return self.where.line if self.where is not None else None

    @property
    def col(self) -> Optional[int]:
        """0-based, like `Finding.col`."""
        return self.where.col if self.where is not None else None


@dataclass(frozen=True)
class Finding:
    """One reported problem. `line` is 1-based, `col` 0-based (flake8's convention).

    The fields after `fix` are for the machine-readable outputs and never change what flake8
    shows: the end of the reported node (`end_col` 0-based, exclusive), the evidence chain,
    and `key`, what identifies the finding apart from positions (task and leaf subject), for
    fingerprints that survive unrelated line moves."""

    code: str
    line: int
    col: int
    message: str
    fix: Optional[Fix] = None
    end_line: Optional[int] = field(default=None, compare=False)
    end_col: Optional[int] = field(default=None, compare=False)
    evidence: Tuple[Hop, ...] = field(default=(), compare=False)
    key: str = field(default="", compare=False)

    @property
    def text(self) -> str:
        """The flake8 message text: code, space, message."""
        return f"{self.code} {self.message}"


@dataclass(frozen=True)
class Unanalysed:
    """A project module a task needed that was left unanalysed by a bound on the work per
    module (FBG903): its display path, why, and where the analysis needed it (a call into it,
    or the site when the task itself comes from it)."""

    path: str
    reason: str
    where: Located
    function: str = ""  # the function (or module) holding `where`


@dataclass(frozen=True)
class Evidence:
    """Why a task is judged the way it is: one call, loop or sleep found in what it runs.

    `kind` is a knowledge-base category (`cpu`, `blocking`, `long`, `critical`), or one of
    `sleep`, `delay`, `poll`, `pragma`, `name`, `config`.
    """

    kind: str
    subject: str  # what was found: a qualified call name, a function name, "time.sleep(600)"
    reason: str  # a short human reason: "image resampling", "sync HTTP"
    where: Located  # a `Where`, or an `analyse.NodeWhere` positioned when a message shows it
    awaited: bool = False
    on_loop: bool = False  # the call runs on the event loop (reached from an async task)
    off_loop: bool = False  # the call runs in a thread or process the task hands it to and waits for
    seconds: Optional[float] = None  # for sleeps: the duration when it is a literal
    chain: Tuple[str, ...] = ()  # project functions followed to get here
    is_call: bool = True  # `subject` is something the task calls (else: the task itself)
    # 0: a call or sleep seen in code; 1: an annotation or option; 2: a name; 3: the context
    # (the name of the route scheduling the task, a string it is given or writes)
    strength: int = 0
    # The project functions followed, as `Hop`s (role "call": the function entered and the call
    # that entered it). Optional: when empty, the outputs rebuild the hops from `chain`.
    hops: Tuple[Hop, ...] = ()

    def describe(self) -> str:
        """`calls requests.post (sync HTTP) at app/x.py:12 via notify_admins`: the project
        function the task calls first on the way, and how many more follow (`via a (+2 more)`);
        the hops have every step."""
        text = f"{'calls ' if self.is_call else ''}{self.subject} ({self.reason}) at {self.where}"
        if self.chain:
            more = len(self.chain) - 1
            text += f" via {self.chain[0]}" + (f" (+{more} more)" if more else "")
        return text


@dataclass(frozen=True)
class TaskFacts:
    """Everything known about one scheduled task, for the rules to judge (built once by
    `Analyser.facts`, never changed after)."""

    site_kind: str  # "add_task", "BackgroundTask", "BackgroundTasks", "forwarded"
    where: Located  # where the registration is reported
    name: str  # display name of the task: "resize_image", "EmailService.send", "<lambda>"
    qualname: Optional[str]  # project-qualified name when resolved
    resolved: bool  # the callable that will run is known (project code or a known library call)
    is_async: Optional[bool]  # True: runs on the event loop; False: in the thread pool
    evidence: Tuple[Evidence, ...] = ()
    tags: FrozenSet[str] = frozenset()  # pragma tags on the task's own def
    library_callable: Optional[str] = None  # qualified name when the task is a library function
    offloaded_via: Optional[str] = None  # "run_in_threadpool" when add_task(run_in_threadpool, f)
    in_process: Optional[str] = None  # "a Celery task": a queue's task object, called here directly
    unanalysed: Tuple[Unanalysed, ...] = ()  # modules the analysis needed and could not read
