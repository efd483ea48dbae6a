"""Cross-module robustness: a task whose target lives in another module of the linted project.

Each test builds a small project in tmp_path where an endpoint schedules a task defined
elsewhere, through awkward module layouts: import cycles, self-imports, symlink loops, missing
or unreadable modules, broken sources, namespace packages, twin roots, long re-export chains,
deep call chains and huge modules. The contract in every case: no FBG901, no exception, no
hang, and exactly the findings a correct resolver gives (FBG101 when the CPU-heavy target can
be resolved, silence when it cannot).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import pytest
from support import run_python

from flake8_fastapi_bg import project as project_mod
from flake8_fastapi_bg.engine import lint_source
from flake8_fastapi_bg.model import Finding
from flake8_fastapi_bg.settings import Settings

DEFAULT = Settings()
LINT_TIMEOUT = 30.0  # seconds for one file; a hang fails the test instead of blocking the run

HEAVY = '''\
import hashlib


def work(pw: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", pw, b"salt", 100_000)
'''

LIGHT = '''\
def work(pw: bytes) -> None:
    print("got", len(pw))
'''


def endpoint(imports: str, target: str) -> str:
    """An endpoint module scheduling `target` after `imports`."""
    return (
        "from fastapi import BackgroundTasks, FastAPI\n"
        f"{imports}\n"
        "\n"
        "api = FastAPI()\n"
        "\n"
        "\n"
        '@api.post("/x")\n'
        "def endpoint(background_tasks: BackgroundTasks):\n"
        f"    background_tasks.add_task({target}, b\"pw\")\n"
        "    return {}\n"
    )


Files = Dict[str, Union[str, bytes]]


def build(root: Path, files: Files) -> Path:
    """Write `files` (relative path -> text or bytes) under `root`; returns `root`."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")
    return root


def site_line(path: Path, needle: str = "add_task(") -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    hits = [n for n, text in enumerate(lines, start=1) if needle in text]
    assert len(hits) == 1, (needle, hits)
    return hits[0]


def lint(path: Path, settings: Settings = DEFAULT, timeout: float = LINT_TIMEOUT) -> List[Finding]:
    """Lint one file in a worker thread: a hang fails, an exception propagates, FBG901 fails."""
    box: Dict[str, object] = {}

    def run() -> None:
        try:
            source = path.read_text(encoding="utf-8")
            box["findings"] = lint_source(str(path), source, settings, path)
        except BaseException as exc:  # surfaced below, in the test's thread
            box["error"] = exc

    started = time.monotonic()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), f"linting {path} did not finish within {timeout} s"
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    findings: List[Finding] = box["findings"]  # type: ignore[assignment]
    internal = [f.text for f in findings if f.code == "FBG901"]
    assert not internal, internal
    assert time.monotonic() - started < timeout
    return findings


def codes(findings: List[Finding]) -> List[Tuple[str, int]]:
    return sorted((f.code, f.line) for f in findings)


def assert_heavy(path: Path, settings: Settings = DEFAULT, where: Optional[str] = None) -> Finding:
    """Exactly one finding, FBG101 on the add_task line, naming PBKDF2 (and `where`)."""
    findings = lint(path, settings)
    assert codes(findings) == [("FBG101", site_line(path))], [f.text for f in findings]
    message = findings[0].message
    assert "hashlib.pbkdf2_hmac" in message, message
    if where is not None:
        assert where in message, message
    return findings[0]


def assert_silent(path: Path, settings: Settings = DEFAULT) -> None:
    findings = lint(path, settings)
    assert findings == [], [f.text for f in findings]


_RUNNER = """\
import json, sys
from pathlib import Path
from flake8_fastapi_bg.engine import lint_source
from flake8_fastapi_bg.settings import Settings
path = Path(sys.argv[1])
found = lint_source(str(path), path.read_text(encoding="utf-8"), Settings(), path)
print(json.dumps([[f.code, f.line, f.message] for f in found]))
"""


def lint_isolated(path: Path, timeout: float) -> List[Tuple[str, int]]:
    """Lint in a child process that is killed on timeout: for inputs that could run away with
    the CPU, where a stuck worker thread would slow down every later test."""
    try:
        result: Optional[subprocess.CompletedProcess] = subprocess.run(
            [sys.executable, "-c", _RUNNER, str(path)], cwd=path.parent, capture_output=True,
            text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        result = None
    if result is None:
        pytest.fail(f"linting {path} did not finish within {timeout} s")
    assert result.returncode == 0, result.stderr
    found = [(code, line) for code, line, _message in json.loads(result.stdout)]
    assert all(code != "FBG901" for code, _ in found), result.stdout
    return sorted(found)


@pytest.fixture(autouse=True)
def _fresh_project_cache():
    """Projects are cached per directory; tmp paths differ, but start clean anyway."""
    for name in ("_project_for_dir", "_project_for_roots"):
        cached = getattr(project_mod, name, None)
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()
    yield


def package(root: Path, files: Files, marker: str = "pyproject.toml") -> Path:
    """A project with a marker file and a regular `app` package holding `files`."""
    base: Files = {marker: "", "app/__init__.py": ""}
    base.update(files)
    return build(root, base)


# -- import cycles ---------------------------------------------------------------------------


def test_target_reached_through_an_import_cycle(tmp_path: Path) -> None:
    # a imports b, b imports a; the endpoint takes `work` from b, which re-exports a's function.
    package(tmp_path, {
        "app/a.py": "from app import b  # noqa\n\n" + HEAVY,
        "app/b.py": "from app.a import work\nimport app.a\n\n\ndef other():\n    app.a.work(b'x')\n",
        "app/routes.py": endpoint("from app.b import work", "work"),
        "app/routes_attr.py": endpoint("from app import b", "b.work"),
    })
    assert_heavy(tmp_path / "app/routes.py", where="/a.py:7")
    assert_heavy(tmp_path / "app/routes_attr.py", where="/a.py:7")


def test_name_defined_nowhere_in_an_import_cycle_is_silent(tmp_path: Path) -> None:
    # Each module takes `work` from the other: nothing ever defines it.
    package(tmp_path, {
        "app/a.py": "from app.b import work\n",
        "app/b.py": "from app.a import work\n",
        "app/c.py": "from .a import work as job\nfrom .c import job as work\n",
        "app/routes.py": endpoint("from app.a import work", "work"),
        "app/routes_c.py": endpoint("from app.c import work", "work"),
    })
    assert_silent(tmp_path / "app/routes.py")
    assert_silent(tmp_path / "app/routes_c.py")


def test_call_cycle_across_two_modules(tmp_path: Path) -> None:
    # f (in a) calls g (in b), g calls f back and does the heavy work.
    package(tmp_path, {
        "app/a.py": """\
            from app import b


            def f(pw: bytes, n: int = 3) -> None:
                if n:
                    b.g(pw, n - 1)
            """,
        "app/b.py": """\
            import hashlib

            from app.a import f


            def g(pw: bytes, n: int) -> None:
                f(pw, n)
                hashlib.pbkdf2_hmac("sha256", pw, b"salt", 1000)


            def quiet(pw: bytes, n: int) -> None:
                from app.a import f as again
                again(pw, n)
            """,
        "app/c.py": """\
            def ping(n: int = 2) -> None:
                from app.d import pong
                pong(n)
            """,
        "app/d.py": """\
            from app.c import ping


            def pong(n: int) -> None:
                if n:
                    ping(n - 1)
            """,
        "app/routes.py": endpoint("from app.a import f", "f"),
        "app/routes_quiet.py": endpoint("from app.c import ping", "ping"),
    })
    finding = assert_heavy(tmp_path / "app/routes.py", where="b.py:8")
    assert "g" in finding.message
    assert_silent(tmp_path / "app/routes_quiet.py")


def test_star_import_cycle_with_fan_out_terminates(tmp_path: Path) -> None:
    # Three modules star-import each other; `work` is only in the last one reached via `*`.
    package(tmp_path, {
        "app/s1.py": "from .s2 import *\nfrom .s3 import *\n",
        "app/s2.py": "from .s1 import *\nfrom .s3 import *\n",
        "app/s3.py": "from .s1 import *\nfrom .s2 import *\nfrom .impl import *\n",
        "app/impl.py": HEAVY,
        "app/n1.py": "from .n2 import *\nfrom .n3 import *\n",
        "app/n2.py": "from .n1 import *\nfrom .n3 import *\n",
        "app/n3.py": "from .n1 import *\nfrom .n2 import *\n",
        "app/routes.py": endpoint("from app.s1 import work", "work"),
        "app/routes_none.py": endpoint("from app.n1 import work", "work"),
        "app/routes_star.py": endpoint("from app.n1 import *", "work"),
    })
    assert_heavy(tmp_path / "app/routes.py", where="impl.py:5")
    assert_silent(tmp_path / "app/routes_none.py")
    assert_silent(tmp_path / "app/routes_star.py")


def test_star_import_cycle_with_wide_fan_out_does_not_explode(tmp_path: Path) -> None:
    # Six modules, each star-importing the five others: a lookup that explores every path
    # up to the depth bound makes 5**12 steps. Each module must be searched once.
    width = 6
    files: Files = {}
    for i in range(width):
        files[f"app/w{i}.py"] = "".join(f"from .w{j} import *\n" for j in range(width) if j != i)
    files["app/w5.py"] += "from .impl import *\n"
    files["app/impl.py"] = HEAVY
    files["app/routes.py"] = endpoint("from app.w0 import work", "work")
    files["app/routes_none.py"] = endpoint("from app.w0 import nothing_anywhere", "nothing_anywhere")
    package(tmp_path, files)
    assert lint_isolated(tmp_path / "app/routes_none.py", timeout=8) == []
    assert lint_isolated(tmp_path / "app/routes.py", timeout=8) == [("FBG101", 9)]


def test_wide_class_lattice_across_modules_does_not_explode(tmp_path: Path) -> None:
    # Eleven modules of five classes, each class inheriting from all five of the next module
    # (a valid MRO). Looking up an attribute no class defines walks 5**10 paths if the base
    # classes are not de-duplicated.
    levels, width = 10, 5
    files: Files = {}
    for level in range(levels + 1):
        nxt = [f"C{level + 1}_{k}" for k in range(width)]
        head = f"from app.l{level + 1} import {', '.join(nxt)}\n" if level < levels else ""
        bases = ", ".join(nxt) if level < levels else ""
        files[f"app/l{level}.py"] = head + "".join(
            f"\n\nclass C{level}_{k}({bases}):\n    pass\n" for k in range(width))
    files["app/routes.py"] = endpoint("from app.l0 import C0_0", "C0_0().missing_method")
    package(tmp_path, files)
    assert lint_isolated(tmp_path / "app/routes.py", timeout=8) == []


# -- a module importing itself ---------------------------------------------------------------


def test_module_importing_itself(tmp_path: Path) -> None:
    package(tmp_path, {
        "app/tasks.py": """\
            import hashlib

            import app.tasks as me
            from app import tasks


            def heavy(pw: bytes) -> bytes:
                return hashlib.pbkdf2_hmac("sha256", pw, b"salt", 100_000)


            def via_alias(pw: bytes) -> None:
                me.heavy(pw)


            def via_from(pw: bytes) -> None:
                tasks.heavy(pw)
            """,
        "app/routes_alias.py": endpoint("from app.tasks import via_alias", "via_alias"),
        "app/routes_from.py": endpoint("from app.tasks import via_from", "via_from"),
        "app/routes_chain.py": endpoint("from app.tasks import me", "me.tasks.me.heavy"),
    })
    assert_heavy(tmp_path / "app/routes_alias.py", where="tasks.py:8")
    assert_heavy(tmp_path / "app/routes_from.py", where="tasks.py:8")
    assert_heavy(tmp_path / "app/routes_chain.py", where="tasks.py:8")


def test_endpoint_module_importing_itself(tmp_path: Path) -> None:
    # The linted file is itself a project module that imports itself and schedules its own task.
    package(tmp_path, {
        "app/views.py": """\
            import hashlib

            from fastapi import BackgroundTasks, FastAPI

            import app.views as me
            from app import views

            app = FastAPI()


            def heavy(pw: bytes) -> bytes:
                return hashlib.pbkdf2_hmac("sha256", pw, b"salt", 100_000)


            @app.post("/x")
            def endpoint(background_tasks: BackgroundTasks):
                background_tasks.add_task(me.heavy, b"pw")
                background_tasks.add_task(views.heavy, b"pw")
                return {}
            """,
    })
    path = tmp_path / "app/views.py"
    findings = lint(path)
    assert codes(findings) == [("FBG101", 17), ("FBG101", 18)], [f.text for f in findings]


def test_name_importing_itself_is_silent(tmp_path: Path) -> None:
    # `from app.loop import work` inside app/loop.py with no definition of `work` anywhere.
    package(tmp_path, {
        "app/loop.py": "from app.loop import work\nfrom . import loop\n",
        "app/routes.py": endpoint("from app.loop import work", "work"),
        "app/routes_attr.py": endpoint("from app import loop", "loop.loop.loop.work"),
    })
    assert_silent(tmp_path / "app/routes.py")
    assert_silent(tmp_path / "app/routes_attr.py")


# -- symlinks --------------------------------------------------------------------------------


def _symlink(link: Path, target: Union[str, Path], directory: bool = False) -> None:
    try:
        link.symlink_to(target, target_is_directory=directory)
    except (OSError, NotImplementedError) as exc:  # pragma: no cover - Windows without rights
        pytest.skip(f"cannot create symlinks here: {exc}")


def test_directory_symlink_to_its_parent(tmp_path: Path) -> None:
    package(tmp_path, {
        "app/sub/__init__.py": "",
        "app/tasks.py": HEAVY,
        "app/routes.py": endpoint("from app.sub.up.sub.up.tasks import work", "work"),
        "app/routes_loop.py": endpoint("from app.self.tasks import work", "work"),
    })
    _symlink(tmp_path / "app/sub/up", "..", directory=True)  # app/sub/up -> app
    _symlink(tmp_path / "app/self", "self", directory=True)  # a link to itself: ELOOP
    _symlink(tmp_path / "back", ".", directory=True)  # the project root links to itself
    assert_heavy(tmp_path / "app/routes.py", where="tasks.py:5")
    assert_silent(tmp_path / "app/routes_loop.py")
    # The linted file reached through the loop still finds its project.
    assert_heavy(tmp_path / "back/back/app/sub/up/routes.py", where="tasks.py:5")


def test_symlinked_module_files(tmp_path: Path) -> None:
    package(tmp_path, {
        "vendor/impl_heavy.py": HEAVY,
        "app/routes.py": endpoint("from app.tasks import work", "work"),
        "app/routes_self.py": endpoint("from app.selfloop import work", "work"),
        "app/routes_pair.py": endpoint("from app.ping import work", "work"),
    })
    _symlink(tmp_path / "app/tasks.py", tmp_path / "vendor/impl_heavy.py")
    _symlink(tmp_path / "app/selfloop.py", "selfloop.py")
    _symlink(tmp_path / "app/ping.py", "pong.py")
    _symlink(tmp_path / "app/pong.py", "ping.py")
    assert_heavy(tmp_path / "app/routes.py")
    assert_silent(tmp_path / "app/routes_self.py")
    assert_silent(tmp_path / "app/routes_pair.py")


def test_symlinked_endpoint_file(tmp_path: Path) -> None:
    # The endpoint itself is a symlink into the package, linted by its link path.
    package(tmp_path, {
        "app/tasks.py": HEAVY,
        "app/routes.py": endpoint("from .tasks import work", "work"),
    })
    (tmp_path / "scripts").mkdir()
    _symlink(tmp_path / "scripts/routes_link.py", tmp_path / "app/routes.py")
    assert_heavy(tmp_path / "scripts/routes_link.py", where="tasks.py:5")


# -- missing and unreadable modules ----------------------------------------------------------


def test_missing_module_and_missing_attribute_are_silent(tmp_path: Path) -> None:
    package(tmp_path, {
        "app/tasks.py": HEAVY,
        "app/routes_mod.py": endpoint("from app.missing import work", "work"),
        "app/routes_deep.py": endpoint("from app.missing.deeper.still import work", "work"),
        "app/routes_attr.py": endpoint("from app.tasks import nothere", "nothere"),
        "app/routes_dotted.py": endpoint("import app.tasks", "app.tasks.nothere"),
        "app/routes_sub.py": endpoint("from app import missing", "missing.work"),
        "app/routes_rel.py": endpoint("from .missing import work", "work"),
        "app/routes_ok.py": endpoint("from app.tasks import work", "work"),
    })
    for name in ("mod", "deep", "attr", "dotted", "sub", "rel"):
        assert_silent(tmp_path / f"app/routes_{name}.py")
    assert_heavy(tmp_path / "app/routes_ok.py")


def test_missing_module_inside_the_call_chain(tmp_path: Path) -> None:
    # The target exists but calls into a missing module and a missing attribute before the work.
    package(tmp_path, {
        "app/tasks.py": """\
            import hashlib

            from app.gone import vanished
            from app.helpers import absent


            def work(pw: bytes) -> None:
                vanished(pw)
                absent(pw)
                hashlib.pbkdf2_hmac("sha256", pw, b"salt", 1000)
            """,
        "app/helpers.py": "X = 1\n",
        "app/routes.py": endpoint("from app.tasks import work", "work"),
    })
    assert_heavy(tmp_path / "app/routes.py", where="tasks.py:10")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root reads files whatever their mode")
def test_unreadable_module_is_silent(tmp_path: Path) -> None:
    package(tmp_path, {
        "app/tasks.py": HEAVY,
        "app/routes.py": endpoint("from app.tasks import work", "work"),
    })
    locked = tmp_path / "app/tasks.py"
    locked.chmod(0)
    try:
        assert_silent(tmp_path / "app/routes.py")
    finally:
        locked.chmod(0o644)


def test_directory_named_like_a_module_file_is_silent(tmp_path: Path) -> None:
    package(tmp_path, {
        "app/tasks.py/work.py": HEAVY,  # a directory called tasks.py
        "app/routes.py": endpoint("from app.tasks import work", "work"),
        "app/routes_mod.py": endpoint("import app.tasks as t", "t.work"),
    })
    assert (tmp_path / "app/tasks.py").is_dir()
    assert_silent(tmp_path / "app/routes.py")
    assert_silent(tmp_path / "app/routes_mod.py")


def test_broken_symlink_module_is_silent(tmp_path: Path) -> None:
    package(tmp_path, {
        "app/routes.py": endpoint("from app.tasks import work", "work"),
        "app/routes_pkg.py": endpoint("from app.jobs import work", "work"),
    })
    _symlink(tmp_path / "app/tasks.py", tmp_path / "app/nowhere.py")
    (tmp_path / "app/jobs").mkdir()
    _symlink(tmp_path / "app/jobs/__init__.py", tmp_path / "gone/__init__.py")
    assert_silent(tmp_path / "app/routes.py")
    assert_silent(tmp_path / "app/routes_pkg.py")


@pytest.mark.parametrize("layout, heavy", [
    # A package directory wins over a module file of the same name (as in Python's finder).
    pytest.param({"app/tasks/__init__.py": LIGHT, "app/tasks.py": HEAVY}, False, id="package-over-module"),
    pytest.param({"app/tasks/__init__.py": HEAVY, "app/tasks.py": LIGHT}, True, id="package-over-module-2"),
    # A directory without __init__.py does not hide a module file of the same name.
    pytest.param({"app/tasks/readme.txt": "", "app/tasks.py": HEAVY}, True, id="module-over-namespace"),
    # A stub next to the module does not replace the code that runs.
    pytest.param({"app/tasks.pyi": "def work(pw: bytes) -> bytes: ...\n", "app/tasks.py": HEAVY}, True,
                 id="stub-beside-module"),
])
def test_same_name_module_and_package(tmp_path: Path, layout: Files, heavy: bool) -> None:
    files: Files = dict(layout)
    files["app/routes.py"] = endpoint("from app.tasks import work", "work")
    package(tmp_path, files)
    if heavy:
        assert_heavy(tmp_path / "app/routes.py")
    else:
        assert_silent(tmp_path / "app/routes.py")


def test_module_over_the_size_limit_is_skipped(tmp_path: Path) -> None:
    limit = getattr(project_mod, "_MAX_MODULE_BYTES", 4 * 1024 * 1024)
    padding = ("#" * 99 + "\n") * (limit // 100 + 1)
    package(tmp_path, {
        "app/generated.py": HEAVY + padding,
        "app/routes.py": endpoint("from app.generated import work", "work"),
    })
    assert (tmp_path / "app/generated.py").stat().st_size > limit
    # Not analysed (its work is not reported); FBG903 says the task needed it.
    findings = lint(tmp_path / "app/routes.py")
    assert [f.code for f in findings] == ["FBG903"], [f.text for f in findings]
    assert "generated.py, which was not analysed (larger than 4 MiB; needed at " in findings[0].message


# -- broken, odd and empty module sources ----------------------------------------------------


@pytest.mark.parametrize("content", [
    pytest.param("def work(pw:\n    return hashlib.pbkdf2_hmac('sha256', pw, b's', 1)\n", id="syntax-error"),
    pytest.param("import hashlib\ndef work(pw):\nreturn hashlib.pbkdf2_hmac('sha256', pw, b's', 1)\n",
                 id="indentation-error"),
    pytest.param(HEAVY.encode() + b"\x00\n", id="nul-byte"),
    pytest.param(b"import hashlib\n\x00def work(pw):\n    hashlib.pbkdf2_hmac('sha256', pw, b's', 1)\n",
                 id="nul-in-code"),
    pytest.param(b"", id="empty"),
    pytest.param(b"\n\n  \n# only a comment\n", id="blank-and-comment"),
    pytest.param(b"# -*- coding: no-such-codec -*-\n" + HEAVY.encode(), id="unknown-codec"),
    pytest.param(b"s = '\xff\xfe'\n" + HEAVY.encode(), id="invalid-utf8"),
])
def test_broken_or_empty_target_module_is_silent(tmp_path: Path, content: Union[str, bytes]) -> None:
    package(tmp_path, {
        "app/tasks.py": content,
        "app/routes.py": endpoint("from app.tasks import work", "work"),
        "app/routes_mod.py": endpoint("from app import tasks", "tasks.work"),
    })
    assert_silent(tmp_path / "app/routes.py")
    assert_silent(tmp_path / "app/routes_mod.py")


LATIN1_HEADER = "# -*- coding: latin-1 -*-\n# Caf\xe9 r\xe9sum\xe9\nNAME = 'na\xefve'\n\n\n"


@pytest.mark.parametrize("content", [
    pytest.param(LATIN1_HEADER.encode("latin-1") + HEAVY.encode(), id="latin-1-cookie"),
    pytest.param(b"\xef\xbb\xbf" + HEAVY.encode(), id="utf8-bom"),
    pytest.param(HEAVY.replace("\n", "\r\n").encode(), id="crlf"),
    pytest.param(b"# vim: set fileencoding=cp1252 :\nSIGN = '\x80'\n" + HEAVY.encode(), id="cp1252-cookie"),
])
def test_target_module_with_unusual_encoding_still_resolves(tmp_path: Path, content: bytes) -> None:
    package(tmp_path, {
        "app/tasks.py": content,
        "app/routes.py": endpoint("from app.tasks import work", "work"),
    })
    assert_heavy(tmp_path / "app/routes.py", where="tasks.py:")


def test_broken_module_in_the_middle_of_a_chain(tmp_path: Path) -> None:
    # The endpoint's target calls one broken module and one good one: the good path still counts.
    package(tmp_path, {
        "app/broken.py": "def half(:\n",
        "app/nul.py": b"def other():\x00 pass\n",
        "app/good.py": HEAVY,
        "app/tasks.py": """\
            from app.broken import half
            from app.good import work as good_work
            from app.nul import other


            def run(pw: bytes) -> None:
                half(pw)
                other()
                good_work(pw)
            """,
        "app/routes.py": endpoint("from app.tasks import run", "run"),
    })
    assert_heavy(tmp_path / "app/routes.py", where="good.py:5")


# -- namespace packages ----------------------------------------------------------------------


def test_namespace_package(tmp_path: Path) -> None:
    build(tmp_path, {
        "setup.cfg": "",
        "nsapp/jobs/hashing.py": HEAVY,
        "nsapp/jobs/light.py": LIGHT,
        "nsapp/main.py": endpoint("from nsapp.jobs.hashing import work", "work"),
        "nsapp/main_mod.py": endpoint("import nsapp.jobs.hashing as h", "h.work"),
        "nsapp/main_pkg.py": endpoint("from nsapp.jobs import hashing", "hashing.work"),
        "nsapp/main_light.py": endpoint("from nsapp.jobs.light import work", "work"),
        "nsapp/main_missing.py": endpoint("from nsapp.jobs.absent import work", "work"),
    })
    assert_heavy(tmp_path / "nsapp/main.py", where="hashing.py:5")
    assert_heavy(tmp_path / "nsapp/main_mod.py", where="hashing.py:5")
    assert_heavy(tmp_path / "nsapp/main_pkg.py", where="hashing.py:5")
    assert_silent(tmp_path / "nsapp/main_light.py")
    assert_silent(tmp_path / "nsapp/main_missing.py")


def test_nested_namespace_packages(tmp_path: Path) -> None:
    # Namespace packages inside namespace packages, and a regular package inside one of them.
    build(tmp_path, {
        "pyproject.toml": "",
        "corp/a/b/c/d/deep.py": HEAVY,
        "corp/regular/__init__.py": "",
        "corp/regular/impl.py": "from corp.a.b.c.d.deep import work as _w\n\n\ndef work(pw):\n    _w(pw)\n",
        "corp/api/v1/routes.py": endpoint("from corp.a.b.c.d.deep import work", "work"),
        "corp/api/v1/routes_rel.py": endpoint("from ...a.b.c.d import deep", "deep.work"),
        "corp/api/v1/routes_reg.py": endpoint("from corp.regular.impl import work", "work"),
        "corp/regular/routes.py": endpoint("from ..a.b.c.d.deep import work", "work"),
    })
    assert_heavy(tmp_path / "corp/api/v1/routes.py", where="deep.py:5")
    assert_heavy(tmp_path / "corp/api/v1/routes_reg.py", where="deep.py:5")
    assert_heavy(tmp_path / "corp/regular/routes.py", where="deep.py:5")
    # A relative import inside a namespace package (corp.api.v1 -> corp.a.b.c.d).
    assert_heavy(tmp_path / "corp/api/v1/routes_rel.py", where="deep.py:5")


def test_folder_without_init_inside_a_package(tmp_path: Path) -> None:
    # `backend/app` is a package; `backend/app/features/projects` has no __init__.py, yet its
    # modules are imported as `app.features.projects.x` and import `app.jobs` absolutely.
    build(tmp_path, {
        "pyproject.toml": "",
        "backend/app/__init__.py": "",
        "backend/app/jobs.py": HEAVY,
        "backend/app/features/__init__.py": "",
        "backend/app/features/projects/api.py": endpoint("from app.jobs import work", "work"),
        "backend/app/features/projects/api_rel.py": endpoint("from ...jobs import work", "work"),
        "backend/app/features/projects/api_missing.py": endpoint("from app.absent import work", "work"),
    })
    assert_heavy(tmp_path / "backend/app/features/projects/api.py", where="jobs.py:5")
    assert_heavy(tmp_path / "backend/app/features/projects/api_rel.py", where="jobs.py:5")
    assert_silent(tmp_path / "backend/app/features/projects/api_missing.py")


def test_src_layout_namespace_target(tmp_path: Path) -> None:
    build(tmp_path, {
        "pyproject.toml": "[project]\nname = 'svc'\n",
        "src/svc/__init__.py": "",
        "src/svc/routes.py": endpoint("from workers.hashing import work", "work"),
        "src/workers/hashing.py": HEAVY,
    })
    assert_heavy(tmp_path / "src/svc/routes.py", where="hashing.py:5")


# -- two roots with the same module names ----------------------------------------------------


def _twin_services(root: Path, with_markers: bool) -> Tuple[Path, Path]:
    files: Files = {}
    for name, body in (("a", HEAVY), ("b", LIGHT)):
        base = f"services/{name}"
        if with_markers:
            files[f"{base}/pyproject.toml"] = f"[project]\nname = 'svc-{name}'\n"
        files[f"{base}/app/__init__.py"] = ""
        files[f"{base}/app/tasks.py"] = body
        files[f"{base}/app/routes.py"] = endpoint("from app.tasks import work", "work")
    if with_markers:
        files["pyproject.toml"] = "[project]\nname = 'monorepo'\n"
    build(root, files)
    return root / "services/a/app/routes.py", root / "services/b/app/routes.py"


@pytest.mark.parametrize("with_markers", [True, False], ids=["pyproject-each", "package-roots"])
@pytest.mark.parametrize("order", ["a-first", "b-first"])
def test_two_roots_with_the_same_module_name(tmp_path: Path, with_markers: bool, order: str) -> None:
    heavy, light = _twin_services(tmp_path, with_markers)
    sequence = [heavy, light] if order == "a-first" else [light, heavy]
    for path in sequence * 2:  # twice: the second round answers from the caches
        if path == heavy:
            assert_heavy(path, where=os.path.join("a", "app", "tasks.py"))
        else:
            assert_silent(path)


# -- re-exports, star imports, __all__, relative imports -------------------------------------


def test_re_export_chain_five_levels_deep(tmp_path: Path) -> None:
    package(tmp_path, {
        "app/l1/__init__.py": "from .l2 import work\n",
        "app/l1/l2/__init__.py": "from .l3 import work as work\n",
        "app/l1/l2/l3/__init__.py": "from app.l1.l2.l3.l4 import job as work\n",
        "app/l1/l2/l3/l4/__init__.py": "from . import l5\njob = l5.impl.work\n",
        "app/l1/l2/l3/l4/l5/__init__.py": "from . import impl\n",
        "app/l1/l2/l3/l4/l5/impl.py": HEAVY,
        "app/r1.py": "from app.r2 import *\n",
        "app/r2.py": "from app.r3 import work\n__all__ = ['work']\n",
        "app/r3.py": "from .r4 import *\n",
        "app/r4.py": "import app.r5 as r5\nwork = r5.work\n",
        "app/r5.py": "from app.l1 import work\n",
        "app/routes.py": endpoint("from app.l1 import work", "work"),
        "app/routes_attr.py": endpoint("import app.l1.l2.l3.l4.l5", "app.l1.l2.l3.l4.l5.impl.work"),
        "app/routes_mixed.py": endpoint("from app.r1 import work", "work"),
    })
    assert_heavy(tmp_path / "app/routes.py", where="impl.py:5")
    assert_heavy(tmp_path / "app/routes_attr.py", where="impl.py:5")
    assert_heavy(tmp_path / "app/routes_mixed.py", where="impl.py:5")


def test_star_imports_and_dunder_all(tmp_path: Path) -> None:
    package(tmp_path, {
        "app/impl.py": HEAVY + "\n\n__all__ = ['work']\n",
        "app/light_impl.py": LIGHT,
        "app/api.py": "from .impl import *\nfrom .light_impl import work as light\n",
        "app/star_in_pkg/__init__.py": "from ..impl import *\n",
        "app/routes.py": endpoint("from app.api import work", "work"),
        "app/routes_light.py": endpoint("from app.api import light", "light"),
        "app/routes_pkg.py": endpoint("from app import star_in_pkg", "star_in_pkg.work"),
        "app/routes_star.py": endpoint("from app.api import *", "work"),
    })
    assert_heavy(tmp_path / "app/routes.py", where="impl.py:5")
    assert_silent(tmp_path / "app/routes_light.py")
    assert_heavy(tmp_path / "app/routes_pkg.py", where="impl.py:5")
    assert_heavy(tmp_path / "app/routes_star.py", where="impl.py:5")


HIDDEN = HEAVY + "\n\n__all__ = ['other']\n\n\ndef other() -> None:\n    pass\n"


@pytest.mark.parametrize("api, heavy", [
    # Python binds star-imported names in statement order: the later binding wins.
    pytest.param("from .heavy_impl import *\nfrom .light_impl import *\n", False, id="light-star-last"),
    pytest.param("from .light_impl import *\nfrom .heavy_impl import *\n", True, id="heavy-star-last"),
    pytest.param("def work(pw):\n    pass\n\n\nfrom .heavy_impl import *  # noqa\n", True,
                 id="star-after-def"),
    pytest.param("from .heavy_impl import *\n\n\ndef work(pw):\n    pass\n", False, id="def-after-star"),
    # `__all__` decides what a star import binds: `work` is left out of hidden_impl.
    pytest.param("from .hidden_impl import *\nfrom .light_impl import *\n", False, id="all-hides-heavy"),
    pytest.param("from .hidden_impl import *\n", False, id="all-hides-only-candidate"),
])
def test_star_import_binding_order_and_dunder_all(tmp_path: Path, api: str, heavy: bool) -> None:
    package(tmp_path, {
        "app/heavy_impl.py": HEAVY,
        "app/hidden_impl.py": HIDDEN,
        "app/light_impl.py": LIGHT,
        "app/api.py": api,
        "app/routes.py": endpoint("from app.api import work", "work"),
        "app/routes_attr.py": endpoint("from app import api as facade", "facade.work"),
    })
    for name in ("routes", "routes_attr"):
        if heavy:
            assert_heavy(tmp_path / f"app/{name}.py", where="heavy_impl.py:5")
        else:
            assert_silent(tmp_path / f"app/{name}.py")


@pytest.mark.parametrize("imports, heavy", [
    pytest.param("from app.heavy_impl import *\nfrom app.light_impl import *", False, id="light-star-last"),
    pytest.param("from app.light_impl import *\nfrom app.heavy_impl import *", True, id="heavy-star-last"),
    pytest.param("from app.hidden_impl import *\nfrom app.light_impl import *", False, id="all-hides-heavy"),
])
def test_star_imports_of_the_linted_module(tmp_path: Path, imports: str, heavy: bool) -> None:
    package(tmp_path, {
        "app/heavy_impl.py": HEAVY,
        "app/hidden_impl.py": HIDDEN,
        "app/light_impl.py": LIGHT,
        "app/routes.py": endpoint(imports, "work"),
    })
    if heavy:
        assert_heavy(tmp_path / "app/routes.py", where="heavy_impl.py:5")
    else:
        assert_silent(tmp_path / "app/routes.py")


@pytest.mark.parametrize("imports, target", [
    ("from ... import work", "work"),
    ("from .... import tasks", "tasks.work"),
    ("from .......... import x as work", "work"),
    ("from ...app.tasks import work", "work"),
    ("from ..... import *", "work"),
])
def test_relative_import_beyond_the_top_level_package(tmp_path: Path, imports: str, target: str) -> None:
    package(tmp_path, {
        "app/tasks.py": HEAVY,
        "app/routes.py": endpoint(imports, target),
    })
    assert_silent(tmp_path / "app/routes.py")


def test_relative_imports_beyond_the_top_inside_the_target(tmp_path: Path) -> None:
    # The target module has over-dotted imports; its own work is still found.
    package(tmp_path, {
        "app/tasks.py": "from .... import nothing\nfrom ..... import *\nfrom ...x.y import z\n\n" + HEAVY,
        "app/routes.py": endpoint("from .tasks import work", "work"),
    })
    assert_heavy(tmp_path / "app/routes.py", where="tasks.py:9")


def test_relative_import_in_a_loose_script(tmp_path: Path) -> None:
    # No package and no marker: the script's directory is the only root.
    build(tmp_path, {
        "scripts/tasks.py": HEAVY,
        "scripts/run.py": endpoint("from . import tasks", "tasks.work"),
        "scripts/run_abs.py": endpoint("from tasks import work", "work"),
        "scripts/run_up.py": endpoint("from .. import tasks", "tasks.work"),
    })
    # A top-level script has no package: `from . import` fails at run time, so nothing resolves.
    assert_silent(tmp_path / "scripts/run.py")
    assert_heavy(tmp_path / "scripts/run_abs.py", where="tasks.py:5")
    assert_silent(tmp_path / "scripts/run_up.py")


# -- deep call chains ------------------------------------------------------------------------


def _chain(root: Path, length: int) -> Path:
    """app/m0.py .. app/m{length-1}.py: f_i calls f_{i+1}; the last one does the heavy work."""
    files: Files = {}
    for i in range(length - 1):
        files[f"app/m{i}.py"] = (f"from app.m{i + 1} import f{i + 1}\n\n\n"
                                 f"def f{i}(pw: bytes) -> None:\n    f{i + 1}(pw)\n")
    last = length - 1
    files[f"app/m{last}.py"] = HEAVY.replace("def work", f"def f{last}")
    files["app/routes.py"] = endpoint("from app.m0 import f0", "f0")
    package(root, files)
    return root / "app/routes.py"


def test_deep_call_chain_and_max_depth(tmp_path: Path) -> None:
    path = _chain(tmp_path, 20)  # the heavy call is 19 calls away from the task
    assert_silent(path)  # default max_depth is 8
    assert DEFAULT.max_depth == 8
    finding = assert_heavy(path, Settings(max_depth=25), where="m19.py:5")
    assert "via f1 (+18 more)" in finding.message  # the message names the first call ...
    # ... and the evidence has every hop, each at the call that enters it
    assert [h.function for h in finding.evidence[1:-1]] == [f"app.m{i}.f{i}" for i in range(1, 20)]
    assert [h.line for h in finding.evidence[1:-1]] == [5] * 19
    # The boundary is exact: 19 levels are needed, 18 are not enough.
    assert_heavy(path, Settings(max_depth=19))
    assert_silent(path, Settings(max_depth=18))
    assert_silent(path)  # and the cached summaries do not leak the deeper answer


@pytest.mark.parametrize("length, depth, heavy", [
    (7, 6, True),  # f6 is 6 calls away: reached with the default depth
    (8, 6, False),  # f7 is 7 calls away: not reached
    (1, 0, True),  # the task itself does the work: depth 0 still sees it
    (2, 0, False),
])
def test_max_depth_boundary(tmp_path: Path, length: int, depth: int, heavy: bool) -> None:
    path = _chain(tmp_path, length)
    settings = Settings(max_depth=depth)
    if heavy:
        assert_heavy(path, settings, where=f"m{length - 1}.py:5")
    else:
        assert_silent(path, settings)


# -- huge modules ----------------------------------------------------------------------------


def test_huge_target_module(tmp_path: Path) -> None:
    filler = "".join(f"def filler_{i}(x):\n    return x + {i}\n\n\n" for i in range(5000))  # 20k lines
    body = "import hashlib\n\n\n" + filler + HEAVY.replace("import hashlib\n\n\n", "")
    package(tmp_path, {
        "app/tasks.py": body,
        "app/routes.py": endpoint("from app.tasks import work, filler_4999", "work"),
        "app/routes_light.py": endpoint("from app.tasks import filler_4999", "filler_4999"),
    })
    total = body.count("\n")
    assert total > 20_000
    started = time.monotonic()
    assert_heavy(tmp_path / "app/routes.py", where=f"tasks.py:{total}")
    assert_silent(tmp_path / "app/routes_light.py")
    assert time.monotonic() - started < 20


# -- through the real flake8 executable ------------------------------------------------------


def flake8(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return run_python("-m", "flake8", "--select", "FBG", "-j2", *args, cwd=cwd, timeout=120)


def reported(output: str) -> List[Tuple[str, int, str]]:
    found = []
    for line in output.splitlines():
        path, line_no, _col, rest = line.split(":", 3)
        found.append((path.removeprefix("./").replace(os.sep, "/"), int(line_no), rest.split()[0]))
    return sorted(found)


def test_flake8_on_twin_services(tmp_path: Path) -> None:
    _twin_services(tmp_path, with_markers=True)
    result = flake8(tmp_path, "services")
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr == ""
    assert reported(result.stdout) == [("services/a/app/routes.py", 9, "FBG101")], result.stdout
    assert "FBG901" not in result.stdout


def test_flake8_on_a_hostile_project(tmp_path: Path) -> None:
    # Symlink loops, import cycles, broken and missing modules in one tree, linted by flake8.
    package(tmp_path, {
        "app/a.py": "from app import b  # noqa\n\n" + HEAVY,
        "app/b.py": "from app.a import work\n",
        "app/loop.py": "from app.loop import loop_work\n",
        "app/empty.py": "",
        "app/routes_cycle.py": endpoint("from app.b import work", "work"),
        "app/routes_missing.py": endpoint("from app.missing import work", "work"),
        "app/routes_loop.py": endpoint("from app.loop import loop_work", "loop_work"),
        "app/routes_empty.py": endpoint("from app.empty import work", "work"),
        "app/routes_symlink.py": endpoint("from app.sub.up.a import work", "work"),
        "app/sub/__init__.py": "",
    })
    _symlink(tmp_path / "app/sub/up", "..", directory=True)
    _symlink(tmp_path / "app/self", "self", directory=True)
    _symlink(tmp_path / "app/dangling.py", tmp_path / "nowhere.py")
    started = time.monotonic()
    result = flake8(tmp_path, "app")
    assert time.monotonic() - started < 100
    assert "FBG901" not in result.stdout and "Traceback" not in result.stderr, result.stderr
    # flake8 does not descend into directory symlinks, so nothing is reported twice.
    assert reported(result.stdout) == [("app/routes_cycle.py", 9, "FBG101"),
                                       ("app/routes_symlink.py", 9, "FBG101")], result.stdout
    assert result.returncode == 1


def test_flake8_clean_run_exits_zero(tmp_path: Path) -> None:
    package(tmp_path, {
        "app/broken.py": "def half(:\n",
        "app/routes_broken.py": endpoint("from app.broken import half", "half"),
        "app/routes_missing.py": endpoint("from app.missing import work", "work"),
        "app/routes_over.py": endpoint("from ..... import work", "work"),
    })
    result = flake8(tmp_path, "app/routes_broken.py", "app/routes_missing.py", "app/routes_over.py")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
