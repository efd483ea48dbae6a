"""The persistent cache: a linted file's findings, reused while nothing they rest on changed.

The engine stays a pure function of a file and its project; the adapters (the flake8 plugin and
the standalone command) ask the cache first (`Cache.lint`) and run `engine.lint_source` on a
miss. An entry is keyed by the linted file's absolute path and a fingerprint of everything
else the result depends on: the linter's version and its own files (a development install
changes without a new version), the Python version, the settings that feed the analysis (not
select/ignore/format, which the adapters apply after), the FastAPI version they imply, the
knowledge base, the project's source roots and the working directory (messages show paths
relative to it). The entry holds the sha256 of the file's text, the findings (before
`# noqa` and selection), and the file-system dependencies the analysis recorded
(`deps.py`): every module it read, every module it looked for and did not find, what each
project-wide scan took from each file. A hit needs the same text and every dependency to hold;
anything else recomputes and overwrites.

Storage: one SQLite database (standard library) per cache directory, `.fastapi_bg_cache/` at
the project root (the nearest directory with a project marker, as the engine finds it), with a
`CACHEDIR.TAG` and a `.gitignore` of `*`. `--fastapi-bg-cache-dir`/`--cache-dir`, `cache-dir` in
pyproject.toml or `FLAKE8_FASTAPI_BG_CACHE_DIR` put it elsewhere; `no-cache` turns it off.
Values are JSON (a cache directory is data, never code to unpickle). Opened lazily, once per
process (flake8's workers each open their own), in WAL mode with a busy timeout, so parallel
runs and workers never corrupt it. Any database problem (a read-only or uncreatable
directory, a truncated or foreign file, a lock held too long) turns the cache off or starts a
fresh database: never a traceback, never a wrong result. Once a day at most, entries unused for
`MAX_AGE_DAYS` go, and the oldest beyond `MAX_BYTES`.

Standard input is never cached, nor a file that fails the engine's text test (linting it costs
less than a look-up).

A host that never shows the evidence chains (flake8 without `--fastapi-bg-show-chain`) makes a
`Cache(..., evidence=False)`: its entries hold the findings without their evidence, whose
positions would otherwise be rendered only to be stored (a fifth of the plugin's CPU on a RAG
app with many findings). Such an entry answers only hosts that do not want evidence; one that
does (`--fastapi-bg-show-chain`) takes it for a miss, analyses and stores the whole entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

from . import __version__, deps
from .model import Edit, Finding, Fix, Hop, Where
from .prefilter import may_schedule_tasks
from .roots import directory_of, marker_root, roots_for
from .settings import Settings

FORMAT = 1  # of the database and its values: another format is dropped and started afresh
DIRECTORY_NAME = ".fastapi_bg_cache"
DATABASE_NAME = "cache.sqlite3"
ENV_DIR = "FLAKE8_FASTAPI_BG_CACHE_DIR"
MAX_AGE_DAYS = 30
MAX_BYTES = 64 * 1024 * 1024
_DAY = 86400
_BUSY_TIMEOUT = 5.0  # seconds a writer waits for another process's write
CACHEDIR_TAG = ("Signature: 8a477f597d28d172789f06886806bc55\n"
                "# This file is a cache directory tag created by flake8-fastapi-bg.\n"
                "# For information about cache directory tags, see https://bford.info/cachedir/\n")
_CACHE_FIELDS = frozenset({"cache_dir", "no_cache", "extra"})  # settings that do not change results


@dataclass
class Stats:
    """What the cache did in this process (the standalone command's `--verbose` prints it)."""

    hits: int = 0
    misses: int = 0
    analysed: int = 0  # files the engine analysed (a miss, or not cacheable)

    def line(self) -> str:
        return (f"cache: {self.hits} hits, {self.misses} misses "
                f"({self.analysed} file{'s' if self.analysed != 1 else ''} analysed)")


class Cache:
    """The adapters' entry point: `lint` answers from the cache or runs the engine."""

    def __init__(self, settings: Settings, enabled: bool = True, directory: Optional[str] = None,
                 evidence: bool = True) -> None:
        """`evidence=False`: the host never reads `Finding.evidence` (see the module's notes)."""
        self.settings = settings
        self.evidence = evidence
        self.enabled = enabled and not settings.no_cache
        chosen = directory or settings.cache_dir or os.environ.get(ENV_DIR) or None
        self.directory = os.path.abspath(chosen) if chosen else None
        self.stats = Stats()
        self._stores: Dict[str, Store] = {}
        self._places: Dict[str, Tuple[Optional[Store], str]] = {}  # file directory -> store, fingerprint
        self._base: Optional[str] = None
        deps.forget()  # a new run: files may have changed since another run in this process

    def lint(self, display: str, source: str, path: "Optional[Path | str]", *,
             tree: Any = None, cacheable: bool = True, may_schedule: Optional[bool] = None) -> List[Finding]:
        """`engine.lint_source(display, source, settings, path, tree=..., may_schedule=...)`,
        from the cache when it holds an answer. `cacheable=False`: standard input."""
        from . import engine

        passes = may_schedule_tasks(source) if may_schedule is None else may_schedule
        if path is None or not passes or not cacheable:
            self.stats.analysed += passes
            return engine.lint_source(display, source, self.settings, path, tree=tree, may_schedule=passes)
        name = os.path.abspath(path)
        store, fingerprint, digest = self._entry(name, display, source) if self.enabled else (None, "", "")
        if store is not None and not store.usable():
            store = None
        if store is not None:
            found = store.get(name, fingerprint, digest, self.evidence)
            if found is not None:
                self.stats.hits += 1
                return found
            self.stats.misses += 1
        self.stats.analysed += 1
        # Recorded even when nothing is stored: modules analysed now may serve a later file
        # (`deps.finish` groups them).
        deps.start()
        try:
            deps.note_file(name, source.encode("utf-8", "surrogatepass"))
            findings = engine.lint_source(display, source, self.settings, path, tree=tree, may_schedule=True)
        except BaseException:
            deps.stop()
            raise
        used = deps.finish()
        if store is not None and not any(f.code == "FBG901" for f in findings):
            store.put(name, fingerprint, digest, findings, used, self.evidence)
        return findings

    def holds(self, display: str, source: str, path: "Path | str") -> bool:
        """The cache has a valid answer for this file (the flake8 adapter's parent process asks,
        to load the engine before forking only when some worker will need it)."""
        if not self.enabled:
            return False
        name = os.path.abspath(path)
        store, fingerprint, digest = self._entry(name, display, source)
        return store is not None and store.get(name, fingerprint, digest, self.evidence) is not None

    def close(self) -> None:
        for store in self._stores.values():
            store.close()

    # -- where --------------------------------------------------------------------------------
    def _entry(self, name: str, display: str, source: str) -> Tuple[Optional["Store"], str, str]:
        """The store, the key's fingerprint and the text digest of the file `name` shown as
        `display`. The display name is part of the result (messages name the linted file as it
        is shown: `./app/x.py` by flake8, `app/x.py` by the standalone command), so each
        display gets its own entry and the two tools do not overwrite each other's."""
        store, fingerprint = self._place(name)
        fingerprint = hashlib.sha256(f"{fingerprint}\0{display}".encode("utf-8", "surrogatepass")).hexdigest()
        return store, fingerprint, hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()

    def _place(self, name: str) -> Tuple[Optional[Store], str]:
        directory = os.path.dirname(name)
        place = self._places.get(directory)
        if place is None:  # the directory as the engine finds it: symbolic links resolved
            place = self._places[directory] = self._locate(directory_of(Path(name)))
        return place

    def _locate(self, directory: Path) -> Tuple[Optional["Store"], str]:
        try:
            roots = roots_for(directory)
            top = marker_root(directory) or (roots[0] if roots else directory)
            where = self.directory or str(top / DIRECTORY_NAME)
            store = self._stores.get(where)
            if store is None:
                store = self._stores[where] = Store(where)
            return store, self._fingerprint(roots)
        except Exception:
            return None, ""

    def _fingerprint(self, roots: Tuple[Path, ...]) -> str:
        if self._base is None:
            self._base = json.dumps([FORMAT, __version__, _code_fingerprint(), list(sys.version_info[:2]),
                                     sys.implementation.name, settings_digest(self.settings)])
        text = json.dumps([self._base, os.getcwd(), [str(r) for r in roots]])
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def settings_digest(settings: Settings) -> str:
    """A digest of the settings that change results: every option but the cache's own, the
    FastAPI version they imply, and the knowledge base (its file; the options extend it)."""
    values: Dict[str, Any] = {f.name: getattr(settings, f.name) for f in fields(settings)
                              if f.name not in _CACHE_FIELDS}
    values["effective_fastapi_version"] = settings.effective_fastapi_version
    values["knowledge"] = _file_digest(Path(__file__).with_name("knowledge.toml"))
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=repr).encode()).hexdigest()


def _file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


_code: List[str] = []


def _code_fingerprint() -> str:
    """The size and modification time of the linter's own files, and of libcst's version file:
    an edited or reinstalled linter is another linter, whatever its version says."""
    if not _code:
        parts = []
        here = Path(__file__).parent
        for path in sorted([*here.glob("*.py"), *here.glob("*.toml"), *here.glob("*/*.py")]):
            try:
                status = path.stat()
            except OSError:
                continue
            parts.append(f"{path.relative_to(here)}:{status.st_size}:{status.st_mtime_ns}")
        try:
            from importlib.util import find_spec

            spec = find_spec("libcst")
            origin = spec.origin if spec is not None else None
            if origin:
                version = Path(origin).with_name("_version.py")
                status = (version if version.exists() else Path(origin)).stat()
                parts.append(f"libcst:{status.st_size}:{status.st_mtime_ns}")
        except Exception:
            pass
        _code.append(hashlib.sha256("\n".join(parts).encode("utf-8", "surrogateescape")).hexdigest())
    return _code[0]


# --- the database -------------------------------------------------------------------------------

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS entries (path TEXT NOT NULL, fingerprint TEXT NOT NULL, "
    "digest TEXT NOT NULL, findings TEXT NOT NULL, depset TEXT NOT NULL, used INTEGER NOT NULL, "
    "PRIMARY KEY (path, fingerprint))",
    "CREATE TABLE IF NOT EXISTS chunks (id TEXT PRIMARY KEY, deps TEXT NOT NULL)",
)


class Store:
    """One cache directory's database. Every method swallows database errors: a problem
    turns the store off (or, for a damaged file, starts a fresh one)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._connection: Optional[sqlite3.Connection] = None
        self._pid = -1
        self._broken = False
        self._failures = 0
        self._writable = True
        self._valid: Dict[str, bool] = {}  # chunk id -> its dependencies hold (this process)
        self._stored: Set[str] = set()  # chunk ids this process wrote
        self._encoded: Dict[str, Tuple[deps.Deps, str, str]] = {}  # directory -> last chunk, id, text

    # -- connection ---------------------------------------------------------------------------
    def usable(self) -> bool:
        """The database opens (or is open): a directory that cannot hold one turns it off."""
        return self._db() is not None

    def _db(self) -> Optional[sqlite3.Connection]:
        if self._pid != os.getpid():  # a forked worker: its own connection, never the parent's
            self._connection, self._pid, self._valid = None, os.getpid(), {}
            self._stored = set()
            if not self._broken:
                self._connection = self._open(retry=True)
        return self._connection

    def _open(self, retry: bool) -> Optional[sqlite3.Connection]:
        path = os.path.join(self.directory, DATABASE_NAME)
        connection = None
        try:
            _prepare_directory(self.directory)
            connection = sqlite3.connect(path, timeout=_BUSY_TIMEOUT, isolation_level=None,
                                         check_same_thread=False)
            try:
                connection.execute("PRAGMA journal_mode=WAL")
            except sqlite3.Error:
                pass  # a file system without shared memory: the default journal still works
            connection.execute("PRAGMA synchronous=NORMAL")
            if not self._schema_ready(connection):
                connection.close()
                self._broken = True
                return None
            try:
                self._prune(connection)
            except sqlite3.Error:  # a read-only or busy database: pruning waits for another run
                self._writable = False
            return connection
        except sqlite3.DatabaseError as exc:
            if connection is not None:
                connection.close()
            if retry and _damaged(exc):
                for suffix in ("", "-wal", "-shm"):  # a truncated or foreign file: start afresh
                    try:
                        os.remove(path + suffix)
                    except OSError:
                        pass
                return self._open(retry=False)
        except (OSError, sqlite3.Error, ValueError):
            if connection is not None:
                connection.close()
        self._broken = True
        return None

    def _schema_ready(self, connection: sqlite3.Connection) -> bool:
        """The tables exist in this format; a database of another format is emptied. A ready
        database is only read here: a read-only one (a cache baked into a CI image) still
        answers."""
        if self._format_of(connection) == (str(FORMAT), True):
            return True
        connection.execute("BEGIN IMMEDIATE")
        try:
            listed = connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            tables = {row[0] for row in listed}
            version = None
            if "meta" in tables:
                row = connection.execute("SELECT value FROM meta WHERE key='format'").fetchone()
                version = row[0] if row else None
            if tables and version != str(FORMAT):
                for table in tables:
                    if not table.startswith("sqlite_"):
                        connection.execute(f'DROP TABLE IF EXISTS "{table}"')
            for statement in _SCHEMA:
                connection.execute(statement)
            connection.execute("INSERT OR REPLACE INTO meta VALUES ('format', ?)", (str(FORMAT),))
            connection.execute("COMMIT")
            return True
        except sqlite3.Error:
            connection.execute("ROLLBACK")
            raise

    @staticmethod
    def _format_of(connection: sqlite3.Connection) -> Tuple[Optional[str], bool]:
        """The database's format, and whether all the tables are there."""
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" not in tables:
            return None, False
        row = connection.execute("SELECT value FROM meta WHERE key='format'").fetchone()
        return (str(row[0]) if row else None), {"meta", "entries", "chunks"} <= tables

    def close(self) -> None:
        """Close the connection (it opens again on the next use)."""
        if self._connection is not None and self._pid == os.getpid():
            try:
                self._connection.close()
            except sqlite3.Error:
                pass
        self._connection, self._pid = None, -1

    # -- entries ------------------------------------------------------------------------------
    def get(self, path: str, fingerprint: str, digest: str, evidence: bool = True) -> Optional[List[Finding]]:
        """The findings stored for this file, text and fingerprint, if every dependency holds
        (and they were stored with their evidence, if `evidence`)."""
        db = self._db()
        if db is None:
            return None
        try:
            row = db.execute("SELECT digest, findings, depset, used FROM entries "
                             "WHERE path=? AND fingerprint=?", (path, fingerprint)).fetchone()
            if row is None or row[0] != digest or not self._holds(db, json.loads(row[2])):
                return None
            findings = decode_findings(json.loads(row[1]), evidence)
            if findings is None:
                return None
            now = int(time.time())
            if self._writable and (not isinstance(row[3], int) or row[3] < now - _DAY):
                try:  # a hit writes at most once a day
                    db.execute("UPDATE entries SET used=? WHERE path=? AND fingerprint=?",
                               (now, path, fingerprint))
                except sqlite3.Error:
                    self._writable = False
            return findings
        except (sqlite3.Error, ValueError, TypeError, KeyError, IndexError):
            self._failed()
            return None

    def _holds(self, db: sqlite3.Connection, ids: Any) -> bool:
        """Every dependency of the chunks `ids` still holds (a missing chunk does not)."""
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return False
        unknown = [i for i in ids if i not in self._valid]
        for start in range(0, len(unknown), 500):
            part = unknown[start:start + 500]
            rows = db.execute(f"SELECT id, deps FROM chunks WHERE id IN ({','.join('?' * len(part))})",
                              part).fetchall()
            for chunk, text in rows:
                self._valid[chunk] = deps.rows_hold(json.loads(text))
        return all(self._valid.get(i, False) for i in ids)

    def put(self, path: str, fingerprint: str, digest: str, findings: List[Finding],
            used: deps.Deps, evidence: bool = True) -> None:
        db = self._db()
        if db is None or not self._writable:
            return
        try:
            chunks = self._chunks(used)
            fresh = [(chunk, text) for chunk, text in chunks if chunk not in self._stored]
            stored = json.dumps(encode_findings(findings, evidence), separators=(",", ":"))
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT OR IGNORE INTO chunks VALUES (?, ?)", fresh)
                db.execute("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?)",
                           (path, fingerprint, digest, stored, json.dumps([c for c, _ in chunks]),
                            int(time.time())))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            for chunk, _ in chunks:
                self._valid[chunk] = True
                self._stored.add(chunk)
        except sqlite3.OperationalError as exc:
            if "readonly" in str(exc).replace("-", "").replace(" ", "").lower():
                self._writable = False  # read-only: answers, but stores nothing more
            else:
                self._failed()
        except (sqlite3.Error, ValueError, TypeError):
            self._failed()

    def _chunks(self, used: deps.Deps) -> List[Tuple[str, str]]:
        """The dependencies as (id, JSON text) chunks, one per directory: the analyses of one
        project share most of them, stored and checked once (`_holds`). The files of one run
        mostly repeat the previous file's chunks: those are not encoded again."""
        by_directory: Dict[str, deps.Deps] = {}
        for key, value in used.items():
            by_directory.setdefault(os.path.dirname(key[-1]), {})[key] = value
        chunks = []
        for directory, part in sorted(by_directory.items()):
            last = self._encoded.get(directory)
            if last is None or last[0] != part:
                text = json.dumps(deps.encode(part), separators=(",", ":"))
                last = self._encoded[directory] = (part, hashlib.sha256(
                    text.encode("utf-8", "surrogatepass")).hexdigest()[:32], text)
            chunks.append((last[1], last[2]))
        return chunks

    def _failed(self) -> None:
        """A locked or damaged database: after a few failures, leave it alone for this run."""
        self._failures += 1
        if self._failures >= 3:
            self.close()
            self._broken = True

    def _prune(self, connection: sqlite3.Connection) -> None:
        """At most once a day: drop entries unused for `MAX_AGE_DAYS`, then the oldest ones
        beyond `MAX_BYTES`, then the dependency sets no entry uses."""
        now = int(time.time())
        row = connection.execute("SELECT value FROM meta WHERE key='pruned'").fetchone()
        if row is not None and str(row[0]).isdigit() and int(row[0]) > now - _DAY:
            return
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute("DELETE FROM entries WHERE used < ?", (now - MAX_AGE_DAYS * _DAY,))
            total = 0
            doomed = []
            sizes = dict(connection.execute("SELECT id, length(deps) FROM chunks").fetchall())
            counted = set()
            for path, fingerprint, size, ids in connection.execute(
                    "SELECT path, fingerprint, length(findings), depset FROM entries ORDER BY used DESC"):
                total += int(size or 0)
                for chunk in _ids(ids):  # a chunk shared by several entries counts once
                    if chunk not in counted:
                        counted.add(chunk)
                        total += int(sizes.get(chunk) or 0)
                if total > MAX_BYTES:
                    doomed.append((path, fingerprint))
            connection.executemany("DELETE FROM entries WHERE path=? AND fingerprint=?", doomed)
            listed = connection.execute("SELECT depset FROM entries")
            kept = {chunk for (ids,) in listed for chunk in _ids(ids)}
            connection.executemany("DELETE FROM chunks WHERE id=?", [(c,) for c in sizes if c not in kept])
            connection.execute("INSERT OR REPLACE INTO meta VALUES ('pruned', ?)", (str(now),))
            connection.execute("COMMIT")
        except sqlite3.Error:
            connection.execute("ROLLBACK")
            raise


def _ids(text: Any) -> List[str]:
    try:
        ids = json.loads(text)
    except (TypeError, ValueError):
        return []
    return [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []


def _damaged(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "file is encrypted" in text


def _prepare_directory(directory: str) -> None:
    """Create the cache directory with its `CACHEDIR.TAG` and a `.gitignore` of `*`."""
    os.makedirs(directory, exist_ok=True)
    for name, text in (("CACHEDIR.TAG", CACHEDIR_TAG), (".gitignore", "# created by flake8-fastapi-bg\n*\n")):
        target = os.path.join(directory, name)
        if os.path.exists(target):
            continue
        temporary = f"{target}.{os.getpid()}.tmp"
        try:
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(temporary, target)  # atomic: a parallel run sees all of it or nothing
        except OSError:
            try:
                os.remove(temporary)
            except OSError:
                pass


# --- values ---------------------------------------------------------------------------------------


def encode_findings(findings: List[Finding], evidence: bool = True) -> List[Dict[str, Any]]:
    """The findings as JSON values; `evidence=False` leaves the evidence out (`"evidence": null`),
    and with it the rendering of its positions."""
    return [{"code": f.code, "line": f.line, "col": f.col, "message": f.message,
             "fix": None if f.fix is None else {
                 "description": f.fix.description,
                 "edits": [[list(e.start), list(e.end), e.text] for e in f.fix.edits]},
             "end_line": f.end_line, "end_col": f.end_col, "key": f.key,
             "evidence": [{"function": h.function, "role": h.role, "reason": h.reason,
                           "where": None if h.where is None else [h.where.path, h.where.line, h.where.col]}
                          for h in f.evidence] if evidence else None}
            for f in findings]


def decode_findings(rows: Any, evidence: bool = True) -> Optional[List[Finding]]:
    """`encode_findings`'s output back; None for anything else (a damaged entry is a miss), and
    for findings stored without their evidence if `evidence` is wanted."""
    if not isinstance(rows, list):
        return None
    try:
        findings = []
        for row in rows:
            fix = row["fix"]
            if fix is not None:
                edits = tuple(Edit((int(a[0]), int(a[1])), (int(b[0]), int(b[1])), str(t))
                              for a, b, t in fix["edits"])
                fix = Fix(str(fix["description"]), edits)
            if row["evidence"] is None and evidence:
                return None  # stored by a host that does not show evidence: a miss for one that does
            hops = tuple(Hop(str(h["function"]), str(h["role"]), str(h["reason"]),
                             None if h["where"] is None else Where(str(h["where"][0]), int(h["where"][1]),
                                                                   int(h["where"][2])))
                         for h in row["evidence"] or ())
            findings.append(Finding(str(row["code"]), int(row["line"]), int(row["col"]), str(row["message"]),
                                    fix, end_line=_int_or_none(row["end_line"]),
                                    end_col=_int_or_none(row["end_col"]), evidence=hops, key=str(row["key"])))
        return findings
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def _int_or_none(value: Any) -> Optional[int]:
    return None if value is None else int(value)
