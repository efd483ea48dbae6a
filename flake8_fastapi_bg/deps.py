"""What one file's analysis read of the file system, for the persistent cache (`cache.py`).

While the engine analyses a linted file, the project code reads files and asks whether others
exist through this module: `read` (a module's bytes), `is_file`/`is_dir` (a module looked for,
found or not), `walk` (a project-wide scan: the names in each directory) and `scanned` (what a
scan took from one file: its "facts", e.g. the `.state.x =` names it assigns). Each becomes a
dependency: a key and what was seen. A cached result is reused only while every dependency
still holds (`holds`): same size and mtime, else same sha256 of the bytes; same existence; same
directory names; same facts, recomputed by the scan's own function for a changed file.

Recording happens at access time, per linted file. Memos shared by the files of one process
(the project's module cache, its text tests, its scans) keep the dependencies they were
computed with (`frame`/`end_frame`) and hand them to each later file that uses them (`replay`).

What the analysis derives from a module (scopes, per-function summaries, decorations) is kept
on the module object and may rest on other modules, read while an earlier file was analysed.
Rather than tag every such memo, the modules a file touches are put in one group with the
dependencies of that analysis (a union-find): a later file that touches any of them depends on
the whole group. A module is touched when the project hands it out (`Project.module`, the
linted file) and whenever derived data on it is computed or read (the evaluator's `expr`, the
per-function memos of analyse.py and decorators.py): a memo that keeps something derived from a
module must touch it (a new one too). That over-approximates (files that share a module
invalidate together) and never misses a dependency that flows through derived data kept on a
module, however the file got to that module (an earlier summary can point straight at it).

Nothing here imports the analysis: the warm path of the cache checks dependencies without it.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import time
import weakref
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

Key = Tuple[str, ...]
Deps = Dict[Key, Any]

# The scans whose per-file facts are dependencies: name -> "module:function(arg, path) -> str".
# A scanner returns "" for a file it takes nothing from (a new such file breaks no dependency).
SCANNERS: Dict[str, str] = {
    "state": "flake8_fastapi_bg.project:state_facts",
    "closers": "flake8_fastapi_bg.facts.middlewares:closer_facts",
    "uses": "flake8_fastapi_bg.fixes:use_facts",
}

_frames: List[Deps] = []  # open frames: the linted file's (when recording), then memos' ones
# Per open frame, the memos' dependencies already replayed into it, by id (each kept alive
# there): a module handed out a thousand times during one file is replayed once.
_replayed: List[Dict[int, Deps]] = []
_file: List[bool] = [False]  # the first frame is a linted file's
_touched: Dict[int, object] = {}  # modules the linted file's analysis used, by id
_groups: "weakref.WeakKeyDictionary[object, _Group]" = weakref.WeakKeyDictionary()  # module -> its group


def start() -> None:
    """Begin recording the dependencies of one linted file's analysis."""
    _frames[:] = [{}]
    _replayed[:] = [{}]
    _file[0] = True
    _touched.clear()


def stop() -> None:
    """Stop recording without a result (the analysis failed)."""
    _frames.clear()
    _replayed.clear()
    _file[0] = False
    _touched.clear()


def finish() -> Deps:
    """The dependencies of the linted file's analysis, with those of the group of every
    module it touched (see the module docstring)."""
    if not _file[0] or not _frames:
        stop()
        return {}
    own = _frames[0]
    touched = list(_touched.values())
    stop()
    groups: List[_Group] = []
    for module in touched:
        group = _group_of(module)
        if group is not None:
            root = group.root()
            if all(root is not g for g in groups):
                groups.append(root)
    if not groups:
        groups.append(_Group())
    groups.sort(key=lambda g: -len(g.deps))
    merged = groups[0]
    for other in groups[1:]:
        for key, value in other.deps.items():
            merged.deps.setdefault(key, value)
        other.parent = merged
        other.deps = {}
    for key, value in own.items():
        merged.deps.setdefault(key, value)
    for module in touched:
        try:
            _groups[module] = merged
        except TypeError:  # an object that takes no weak reference: its group is the file's
            pass
    return dict(merged.deps)


def _group_of(module: object) -> Optional["_Group"]:
    try:
        return _groups.get(module)
    except TypeError:
        return None


class _Group:
    """Modules whose derived data may rest on each other's dependencies."""

    def __init__(self) -> None:
        self.parent: Optional[_Group] = None
        self.deps: Deps = {}

    def root(self) -> "_Group":
        group = self
        while group.parent is not None:
            group = group.parent
        return group


def touch(module: object) -> None:
    """The analysis uses `module` (a parsed project module and what is derived from it)."""
    if _file[0]:
        _touched[id(module)] = module


def frame() -> None:
    """Open a frame: what is recorded until `end_frame` is also returned by it, for a memo.
    Frames are kept even when no file is recorded: a memo may serve a later file that is."""
    _frames.append({})
    _replayed.append({})


def end_frame() -> Deps:
    """Close the frame opened by `frame`; its dependencies also go to the enclosing frame."""
    if not _frames or (_file[0] and len(_frames) < 2):
        return {}
    done = _frames.pop()
    _replayed.pop()
    replay(done)
    return done


def replay(deps: Optional[Deps]) -> None:
    """A memo computed earlier is used: its dependencies are the current file's too."""
    if _frames and deps:
        replayed = _replayed[-1]
        if replayed.get(id(deps)) is deps:  # all its keys are in the frame already
            return
        replayed[id(deps)] = deps
        top = _frames[-1]
        for key, value in deps.items():
            top.setdefault(key, value)


def _note(key: Key, value: Any) -> None:
    if _frames:
        _frames[-1].setdefault(key, value)


# --- access ---------------------------------------------------------------------------------


def read(path: "os.PathLike[str] | str", limit: Optional[int] = None, record: bool = True) -> Optional[bytes]:
    """The bytes of the file at `path`, None when it is larger than `limit`. Raises OSError.
    `record=False`: a scanner's read, whose dependency is the facts it takes (`scanned`)."""
    name = os.path.abspath(path)
    # The stamp is taken before the read: a change in between leaves a stamp that no longer
    # matches, and the content then decides.
    status = os.stat(name)
    if limit is not None and status.st_size > limit:
        if record:
            _note(("f", name), (*_stamp(status), ""))
        return None
    with open(name, "rb") as handle:  # not `Path.read_bytes`: no path object per read
        data = handle.read()
    if record and _frames:
        _note(("f", name), (*_stamp(status), _sha(data)))
    return data


def note_file(path: "os.PathLike[str] | str", data: bytes) -> None:
    """The analysis used `data` as the content of the file at `path` (the linted file)."""
    if _frames:
        name = os.path.abspath(path)
        try:
            status = os.stat(name)
        except OSError:
            return
        _note(("f", name), (*_stamp(status), _sha(data)))


def is_file(path: "os.PathLike[str] | str") -> bool:
    found = os.path.isfile(path)
    if _frames:
        _note(("isfile", _absolute(path)), found)
    return found


def is_dir(path: "os.PathLike[str] | str") -> bool:
    found = os.path.isdir(path)
    if _frames:
        _note(("isdir", _absolute(path)), found)
    return found


def _absolute(path: "os.PathLike[str] | str") -> str:
    name = os.fspath(path)
    return name if os.path.isabs(name) and "/." not in name and "//" not in name else os.path.abspath(name)


def walk(root: "os.PathLike[str] | str", scanner: str,
         arg: str = "") -> Iterator[Tuple[str, List[str], List[str]]]:
    """`os.walk(root)` for the scan `scanner` (of `SCANNERS`), recording the names of each
    directory it lists (prune `dirs` in place, as with `os.walk`). A `.py` file added later
    breaks the dependency only if the scanner takes facts from it (a new module that sets
    no `.state.x` leaves the state scan's result as it was); a directory added or removed
    always does."""
    for directory, dirs, files in os.walk(root):
        _note(("dir", scanner, arg, os.path.abspath(directory)), _listing(dirs, files))
        yield directory, dirs, files


def unsure() -> None:
    """What was read depends on more than the dependencies say (a scan stopped at its budget):
    the result must not be reused."""
    _note(("unsure", ""), True)


def scanned(scanner: str, arg: str, path: "os.PathLike[str] | str", facts: str,
            status: Optional[os.stat_result]) -> None:
    """A scan took `facts` from the file at `path` (whose status was `status`, taken before it
    was read); `SCANNERS[scanner](arg, path)` computes them again."""
    if _frames:
        size, mtime = _stamp(status) if status is not None else (-1, -1)
        _note(("scan", scanner, arg, os.path.abspath(path)), (size, mtime, facts))


# A file modified this recently may change again within the file system's timestamp
# granularity without its size or mtime changing: its content is checked, never its stamp
# (git's "racy" files).
_RACY_NS = 2_000_000_000


def _stamp(status: os.stat_result) -> Tuple[int, int]:
    """(size, mtime) to compare later; mtime -1 when too recent to be trusted."""
    if time.time_ns() - status.st_mtime_ns < _RACY_NS:
        return status.st_size, -1
    return status.st_size, status.st_mtime_ns


def status_of(path: "os.PathLike[str] | str") -> Optional[os.stat_result]:
    try:
        return os.stat(path)
    except OSError:
        return None


def _listing(dirs: List[str], files: List[str]) -> str:
    """The names of a directory that a scan may use: its subdirectories, then (after a `/`)
    its `.py` files and a `pyvenv.cfg` (a scan skips a virtual environment)."""
    shown = sorted(f for f in files if f.endswith(".py") or f == "pyvenv.cfg")
    return "\0".join(sorted(dirs)) + "/" + "\0".join(shown)  # "/" is in no file name


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- checking -------------------------------------------------------------------------------

_held: Dict[Tuple[Key, Any], bool] = {}  # this process's answers: the files do not change during a run


def forget() -> None:
    """A new run (or files were written): check everything again."""
    _held.clear()


def holds(key: Key, value: Any) -> bool:
    """The dependency `key` still sees `value`. Never raises."""
    memo = (key, value)
    found = _held.get(memo)
    if found is None:
        try:
            found = _holds(key, value)
        except Exception:
            found = False
        _held[memo] = found
    return found


def _holds(key: Key, value: Any) -> bool:
    kind = key[0]
    if kind == "f":
        size, mtime, sha = value
        status = os.stat(key[1])
        if (status.st_size, status.st_mtime_ns) == (size, mtime):
            return True
        if not sha or status.st_size != size:
            return False
        with open(key[1], "rb") as handle:
            return bool(_sha(handle.read()) == sha)
    if kind == "isfile":
        return bool(os.path.isfile(key[1]) == value)
    if kind == "isdir":
        return bool(os.path.isdir(key[1]) == value)
    if kind == "dir":
        dirs: List[str] = []
        files: List[str] = []
        _, scanner, arg, directory = key
        with os.scandir(directory) as entries:
            for entry in entries:
                (dirs if entry.is_dir() else files).append(entry.name)
        now = _listing(dirs, files)
        if now == value:
            return True
        before_dirs, _, before_files = str(value).partition("/")
        now_dirs, _, now_files = now.partition("/")
        if before_dirs != now_dirs or scanner not in SCANNERS:
            return False
        old = set(before_files.split("\0"))
        added = [name for name in now_files.split("\0") if name and name not in old]
        # A file gone: the scan's facts from it are checked as its own dependency.
        return all(name.endswith(".py") and _scanner(scanner)(arg, os.path.join(directory, name)) == ""
                   for name in added)
    if kind == "scan":
        _, scanner, arg, path = key
        size, mtime, facts = value
        found = status_of(path)
        if found is not None and (found.st_size, found.st_mtime_ns) == (size, mtime):
            return True
        return bool(_scanner(scanner)(arg, path) == facts)
    return False


def _scanner(name: str) -> Callable[[str, str], str]:
    module, _, function = SCANNERS[name].partition(":")
    found: Callable[[str, str], str] = getattr(importlib.import_module(module), function)
    return found


def encode(deps: Deps) -> List[List[Any]]:
    """Dependencies as JSON-ready lists, in a stable order."""
    return [[*key, value] for key, value in sorted(deps.items(), key=lambda item: item[0])]


def rows_hold(rows: Any) -> bool:
    """Every dependency in `encode`'s output still holds; False for anything malformed."""
    if not isinstance(rows, list):
        return False
    try:
        for row in rows:
            value = row[-1]
            if not holds(tuple(row[:-1]), tuple(value) if isinstance(value, list) else value):
                return False
    except (TypeError, IndexError, KeyError, ValueError):  # a damaged entry: unhashable, short rows
        return False
    return True


def all_hold(deps: Deps) -> bool:
    return all(holds(key, value) for key, value in deps.items())
