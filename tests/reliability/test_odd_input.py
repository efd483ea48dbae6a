"""Odd input: every file either gets exactly the right findings or is left silent; the plugin never
raises and never reports FBG901 on input Python itself accepts (nor on input it rejects: that is
flake8's E999).

Each case runs in-process through `engine.lint_source`; a representative subset also runs
through the real `flake8` executable with the installed plugin.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import List, Tuple

import pytest

# An async task that sleeps (FBG102 blocking + FBG105 delayed) and a sync task that derives a
# key with PBKDF2 (FBG101), registered on lines 18 and 19, column 4 (0-based).
BASE = '''import hashlib
import time
from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


async def nap() -> None:
    time.sleep(60)


def derive(secret: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", secret, b"salt", 600_000)


@app.post("/x")
async def endpoint(background_tasks: BackgroundTasks):
    background_tasks.add_task(nap)
    background_tasks.add_task(derive, b"s")
    return {}
'''


def expected(shift: int = 0) -> List[Tuple[str, int, int]]:
    """The findings of BASE with `shift` lines inserted above it: (code, line, 0-based col)."""
    return sorted([("FBG102", 18 + shift, 4), ("FBG105", 18 + shift, 4), ("FBG101", 19 + shift, 4)])


def flake8_expected(name: str, shift: int = 0) -> set:
    """The same findings as flake8 prints them: (path, line, 1-based col, code)."""
    return {(name, line, col + 1, code) for code, line, col in expected(shift)}


def append_route(source: str, body: str, name: str = "more") -> str:
    """BASE plus another route whose body is `body` (indented by the caller)."""
    return source + f'\n\n@app.post("/{name}")\nasync def {name}(background_tasks: BackgroundTasks):\n{body}'


def line_of(source: str, text: str) -> int:
    return next(n for n, line in enumerate(source.splitlines(), 1) if text in line)


def compiles(source: str) -> bool:
    try:
        compile(source, "<odd>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def test_base_has_the_expected_findings(lint) -> None:
    assert lint(BASE) == expected()


# --- syntax errors -------------------------------------------------------------------------


@pytest.mark.parametrize("broken", ["def f(:\n", "    x = (\n", "class:\n", "background_tasks.add_task(\n",
                                    "x = 1 +\n", "return = 3\n"])
def test_syntax_error_is_silent(lint, broken: str) -> None:
    source = BASE + broken
    assert not compiles(source)
    assert lint(source) == []


def test_syntax_error_through_flake8_is_e999_only(tmp_path: Path, flake8_run, parse_output) -> None:
    (tmp_path / "bad.py").write_text(BASE + "def f(:\n")
    result = flake8_run("--select", "FBG,E999", "bad.py", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert {code for *_, code in parse_output(result.stdout)} == {"E999"}, result.stdout


# --- encodings, newlines, whitespace ----------------------------------------------------------

LATIN1 = "# -*- coding: latin-1 -*-\n" + BASE.replace("return {}", "return {'name': 'café ñ ü'}")


def test_latin1_coding_cookie(lint) -> None:
    assert lint(LATIN1) == expected(shift=1)


def test_latin1_coding_cookie_through_flake8(tmp_path: Path, flake8_run, parse_output) -> None:
    data = LATIN1.encode("latin-1")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the test only means something when the bytes are not UTF-8
    (tmp_path / "latin.py").write_bytes(data)
    result = flake8_run("--select", "FBG,E9", "latin.py", cwd=tmp_path)
    assert parse_output(result.stdout) == flake8_expected("latin.py", shift=1), result.stdout + result.stderr
    assert "latin.py:10" in result.stdout  # the evidence points at the right line too


def test_latin1_coding_cookie_through_standalone_command(tmp_path: Path, cli_run, parse_output) -> None:
    (tmp_path / "latin.py").write_bytes(LATIN1.encode("latin-1"))
    result = cli_run("latin.py", cwd=tmp_path)
    assert result.returncode == 1 and result.stderr == ""
    assert parse_output(result.stdout) == flake8_expected("latin.py", shift=1)


def test_utf8_bom(lint) -> None:
    assert lint("\ufeff" + BASE) == expected()


def test_utf8_bom_on_a_task_line(lint) -> None:
    # The BOM must not shift the column of a finding on line 1.
    source = "\ufeff" + "import time; from fastapi import BackgroundTask; t = BackgroundTask(time.sleep, 6)\n"
    plain = lint(source[1:])
    assert lint(source) == plain


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_crlf_and_cr_line_endings(lint, newline: str) -> None:
    assert lint(BASE.replace("\n", newline)) == expected()


def test_mixed_line_endings(lint) -> None:
    lines = BASE.splitlines(keepends=True)
    mixed = "".join(line.replace("\n", "\r\n") if i % 2 else line for i, line in enumerate(lines))
    assert lint(mixed) == expected()


@pytest.mark.parametrize("name, data", [
    ("bom.py", ("\ufeff" + BASE).encode("utf-8")),
    ("crlf.py", BASE.replace("\n", "\r\n").encode()),
    ("cr.py", BASE.replace("\n", "\r").encode()),
])
def test_bom_and_newlines_through_flake8(tmp_path: Path, flake8_run, parse_output, name: str,
                                         data: bytes) -> None:
    (tmp_path / name).write_bytes(data)
    result = flake8_run("--select", "FBG,E9", name, cwd=tmp_path)
    assert parse_output(result.stdout) == flake8_expected(name), result.stdout + result.stderr


def test_form_feeds(lint) -> None:
    # Form feeds on blank lines and before top-level statements (the usual page breaks).
    source = "\f\n" + BASE.replace("\n\n\n", "\n\f\n\n").replace("@app.post", "\f@app.post")
    assert compiles(source)
    assert lint(source) == expected(shift=1)


def test_form_feed_in_indentation_keeps_columns(lint) -> None:
    # A form feed before a block's first indented line: columns are character offsets, as in
    # Python's ast (the form feed counts on its own line, and on no other line). libcst's render
    # repeated it on the block's later lines; the linted file is now placed by `ast`.
    source = BASE.replace("    background_tasks.add_task(nap)", "\f    background_tasks.add_task(nap)")
    assert compiles(source)
    assert lint(source) == sorted([("FBG102", 18, 5), ("FBG105", 18, 5), ("FBG101", 19, 4)])


def test_form_feeds_through_flake8(tmp_path: Path, flake8_run, parse_output) -> None:
    (tmp_path / "ff.py").write_text("\f\n" + BASE.replace("\n\n\n", "\n\f\n\n"))
    result = flake8_run("--select", "FBG,E9", "ff.py", cwd=tmp_path)
    assert parse_output(result.stdout) == flake8_expected("ff.py", shift=1), result.stdout + result.stderr


def test_100k_character_line_before_the_sites(lint) -> None:
    assert lint("X = '" + "a" * 100_000 + "'\n" + BASE) == expected(shift=1)


def test_100k_character_line_that_is_a_task_site(lint) -> None:
    big = 'b"' + "s" * 100_000 + '"'
    source = BASE.replace('background_tasks.add_task(derive, b"s")',
                          f"background_tasks.add_task(derive, {big})")
    assert len(max(source.splitlines(), key=len)) > 100_000
    assert lint(source) == expected()


def test_100k_character_line_through_flake8(tmp_path: Path, flake8_run, parse_output) -> None:
    (tmp_path / "long.py").write_text("X = '" + "a" * 100_000 + "'\n" + BASE)
    result = flake8_run("--select", "FBG,E9", "long.py", cwd=tmp_path)
    assert parse_output(result.stdout) == flake8_expected("long.py", shift=1), result.stdout + result.stderr


# --- deep nesting -----------------------------------------------------------------------------

DEEP = {
    # rejected by CPython ("too many nested parentheses"): flake8 says E999
    "parentheses-1000": "Y = " + "(" * 1000 + "1" + ")" * 1000,
    "lists-1000": "Y = " + "[" * 1000 + "1" + "]" * 1000,
    "calls-300": "Y = " + "f(" * 300 + "1" + ")" * 300,
    # accepted by CPython
    "parentheses-199": "Y = " + "(" * 199 + "1" + ")" * 199,
    "lists-150": "Y = " + "[" * 150 + "1" + "]" * 150,
    "dicts-150": "Y = " + "{'k': " * 150 + "1" + "}" * 150,
    "calls-150": "Y = " + "f(" * 150 + "1" + ")" * 150,
    "method-chain-300": "Y = x" + ".m()" * 300,
    "call-chain-300": "Y = f" + "(1)" * 300,
    "attribute-chain-1000": "Y = x" + ".a" * 1000,
    "additions-1000": "Y = " + " + ".join(["1"] * 1000),
    "and-chain-1000": "Y = " + " and ".join(["x"] * 1000),
    "not-500": "Y = " + "not " * 500 + "x",
    "unary-minus-500": "Y = " + "-" * 500 + "x",
    "comparisons-1000": "Y = " + " < ".join(["x"] * 1000),
    "nested-ifs-90": "".join("    " * i + "if x:\n" for i in range(90)) + "    " * 90 + "pass",
}


@pytest.mark.parametrize("shape", [pytest.param(s, marks=pytest.mark.slow) if s == "lists-1000" else s
                                   for s in sorted(DEEP)])  # lists-1000 takes seconds
def test_deep_nesting_never_raises_nor_reports_an_internal_error(lint, shape: str) -> None:
    # Silence (the file could not be analysed) or the right findings are fine; FBG901 is not.
    source = BASE + DEEP[shape] + "\n"
    assert lint(source) in ([], expected())


@pytest.mark.parametrize("shape", ["method-chain-300", "call-chain-300", "nested-ifs-90"])
def test_deep_but_valid_nesting_keeps_the_findings(lint, shape: str) -> None:
    source = BASE + DEEP[shape] + "\n"
    assert compiles(source)
    assert lint(source) == expected()


def test_deep_nesting_inside_the_task_route(lint) -> None:
    # The deep expression sits in the same function as the task sites.
    source = BASE.replace("    return {}", "    return " + "[" * 120 + "1" + "]" * 120)
    assert compiles(source)
    assert lint(source) in ([], expected())


@pytest.mark.parametrize("shape", ["lists-150", "lists-1000"])
def test_deep_nesting_through_flake8(tmp_path: Path, flake8_run, parse_output, shape: str) -> None:
    (tmp_path / "deep.py").write_text(BASE + DEEP[shape] + "\n")
    result = flake8_run("--select", "FBG,E999", "deep.py", cwd=tmp_path)
    found = parse_output(result.stdout)
    assert "Traceback" not in result.stderr
    assert not {f for f in found if f[3] == "FBG901"}, result.stdout
    if compiles(BASE + DEEP[shape]):
        assert found in (set(), flake8_expected("deep.py")), result.stdout
    else:
        assert {f[3] for f in found} == {"E999"}, result.stdout


# --- size -------------------------------------------------------------------------------------


def _big_source() -> str:
    """~5 MB: BASE, 500 small functions, 10 tables of 500 long string rows, one more route."""
    functions = "".join(f"def helper_{i}(a, b):\n    return a + b * {i}\n\n\n" for i in range(500))
    row = "    '" + "x" * 1000 + "',\n"
    tables = "".join(f"DATA_{i} = [\n" + row * 500 + "]\n\n\n" for i in range(10))
    return append_route(BASE + functions + tables, "    background_tasks.add_task(derive, b'z')\n",
                        name="last")


def test_multi_megabyte_file(lint) -> None:
    source = _big_source()
    assert len(source) > 5_000_000
    start = time.perf_counter()
    found = lint(source)
    elapsed = time.perf_counter() - start
    assert found == sorted(expected() + [("FBG101", line_of(source, "add_task(derive, b'z')"), 4)])
    assert elapsed < 30, f"{elapsed:.1f}s for a 5 MB file"


def test_multi_megabyte_file_through_flake8(tmp_path: Path, flake8_run, parse_output) -> None:
    source = _big_source()
    (tmp_path / "big.py").write_text(source)
    start = time.perf_counter()
    result = flake8_run("--select", "FBG,E9", "big.py", cwd=tmp_path)
    elapsed = time.perf_counter() - start
    assert parse_output(result.stdout) == flake8_expected("big.py") | {
        ("big.py", line_of(source, "add_task(derive, b'z')"), 5, "FBG101")}, result.stdout + result.stderr
    assert elapsed < 60, f"{elapsed:.1f}s for a 5 MB file"


# --- NUL bytes ----------------------------------------------------------------------------------


def test_nul_byte_inside_a_string(lint) -> None:
    source = BASE.replace("return {}", "return {'a': '\x00'}")
    # Python refuses the file; analysing it anyway or staying silent are both fine.
    assert lint(source) in ([], expected())


@pytest.mark.parametrize("where", ["end", "start", "comment"])
def test_nul_byte_outside_strings(lint, where: str) -> None:
    source = {"end": BASE + "\x00\n", "start": "\x00" + BASE, "comment": BASE + "# \x00\n"}[where]
    assert lint(source) in ([], expected())


def test_nul_byte_through_flake8(tmp_path: Path, flake8_run, parse_output) -> None:
    (tmp_path / "nul.py").write_bytes(BASE.replace("return {}", "return {'a': '\x00'}").encode())
    result = flake8_run("--select", "FBG,E999", "nul.py", cwd=tmp_path)
    assert "Traceback" not in result.stderr
    assert {f[3] for f in parse_output(result.stdout)} == {"E999"}, result.stdout


# --- the newest syntax --------------------------------------------------------------------------

PEP695 = BASE.replace("async def nap() -> None:", "async def nap[T]() -> None:") + '''

def ident[T](x: T) -> T:
    return x


type Alias[K] = dict[K, int]


class Box[T: (int, str), *Ts, **P]:
    def get(self) -> T: ...
'''
PEP701 = BASE.replace("    return {}",
                      '    return {"m": f"{"nested" + f"{"deep" * 2}"}", "q": f"{\'x\'!r:>{10}}"}')
MATCH = append_route(BASE, '''    match background_tasks:
        case BackgroundTasks() if True:
            background_tasks.add_task(nap)
        case {"a": [1, *rest]} | [*rest]:
            background_tasks.add_task(derive, b"m")
        case _:
            pass
''', name="matching")
EXCEPT_STAR = append_route(BASE, '''    try:
        pass
    except* (ValueError, KeyError) as group:
        background_tasks.add_task(derive, b"e")
''', name="grouped")

NEW_SYNTAX = {  # name: (source, the first Python that compiles it)
    "pep695": (PEP695, (3, 12)),
    "pep701": (PEP701, (3, 12)),
    "match": (MATCH, (3, 10)),
    "except-star": (EXCEPT_STAR, (3, 11)),
}


def _new_syntax_expected(name: str) -> List[Tuple[str, int, int]]:
    source = NEW_SYNTAX[name][0]
    if name == "match":
        nap = [n for n, line in enumerate(source.splitlines(), 1) if "add_task(nap)" in line][-1]
        derive = line_of(source, 'add_task(derive, b"m")')
        return sorted(expected() + [("FBG102", nap, 12), ("FBG105", nap, 12), ("FBG101", derive, 12)])
    if name == "except-star":
        return sorted(expected() + [("FBG101", line_of(source, 'add_task(derive, b"e")'), 8)])
    return expected()


@pytest.mark.parametrize("name", sorted(NEW_SYNTAX))
def test_newest_syntax_keeps_the_findings(lint, name: str) -> None:
    assert lint(NEW_SYNTAX[name][0]) == _new_syntax_expected(name)


@pytest.mark.parametrize("name", sorted(NEW_SYNTAX))
def test_newest_syntax_through_flake8(tmp_path: Path, flake8_run, parse_output, name: str) -> None:
    source, needs = NEW_SYNTAX[name]
    (tmp_path / "new.py").write_text(source)
    result = flake8_run("--select", "FBG,E999", "new.py", cwd=tmp_path)
    found = parse_output(result.stdout)
    if sys.version_info >= needs:
        assert compiles(source)
        assert found == {("new.py", line, col + 1, code) for code, line, col in _new_syntax_expected(name)}, \
            result.stdout
    else:  # this Python cannot parse it: flake8 reports E999 and skips the plugins
        assert {f[3] for f in found} == {"E999"}, result.stdout


# --- stubs, empty and comment-only files, words in strings ------------------------------------

STUB = '''from fastapi import BackgroundTasks
from starlette.background import BackgroundTask


def endpoint(background_tasks: BackgroundTasks) -> dict: ...
def add(background_tasks: BackgroundTasks, x: int) -> None: ...
def make() -> BackgroundTask: ...


class Service:
    background: BackgroundTasks
    def run(self, background_tasks: BackgroundTasks) -> None: ...
'''


def test_stub_file_is_silent(lint) -> None:
    assert lint(STUB, name="api.pyi") == []


def test_stub_with_bodies_is_analysed_like_a_module(lint) -> None:
    assert lint(BASE, name="api.pyi") == expected()


def test_task_resolved_into_a_stub_module(tmp_path: Path, flake8_run, parse_output) -> None:
    # The task's only definition is a `.pyi` stub: its signature still binds (FBG202), and a
    # pragma annotating a stub function counts (FBG104).
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'stubbed'\n")
    (tmp_path / "tasks.pyi").write_text('"""Task stubs."""\n\n\n# fastapi-bg: critical\n'
                                        "def provision(user_id: int) -> None: ...\n"
                                        "def plain(user_id: int) -> None: ...\n")
    (tmp_path / "routes.py").write_text(
        "from fastapi import BackgroundTasks, FastAPI\n\nfrom tasks import plain, provision\n\n"
        "app = FastAPI()\n\n\n@app.post('/x')\ndef endpoint(background_tasks: BackgroundTasks):\n"
        "    background_tasks.add_task(provision, 1)\n"
        "    background_tasks.add_task(plain, 1)\n"
        "    background_tasks.add_task(plain, 1, 2)\n")
    result = flake8_run("--select", "FBG,E9", "routes.py", "tasks.pyi", cwd=tmp_path)
    assert parse_output(result.stdout) == {("routes.py", 10, 5, "FBG104"), ("routes.py", 12, 5, "FBG202")}, \
        result.stdout + result.stderr


def test_pragma_on_the_first_line_of_a_file(lint) -> None:
    # A pragma in the file's opening comment block, right above the first `def`, annotates it
    # like anywhere else (libcst keeps those lines in the module header, not on the def).
    task = "# fastapi-bg: critical\ndef provision(user_id: int) -> None:\n    print(user_id)\n"
    route = ("\n\nfrom fastapi import BackgroundTasks, FastAPI\n\napp = FastAPI()\n\n\n@app.post('/x')\n"
             "def endpoint(background_tasks: BackgroundTasks):\n"
             "    background_tasks.add_task(provision, 1)\n")
    after_import = lint("import os\n" + task + route)
    at_top = lint(task + route)
    assert after_import == [("FBG104", line_of("import os\n" + task + route, "add_task"), 4)]
    assert at_top == [("FBG104", line_of(task + route, "add_task"), 4)]


@pytest.mark.parametrize("source", [
    "# fastapi-bg: critical\ndef f():\n    pass\n",
    "#!/usr/bin/env python\n# -*- coding: utf-8 -*-\n\n# about\n"
    "# fastapi-bg: critical\n@d\ndef f():\n    pass\n",
    "# fastapi-bg: critical\n\ndef f():  # fastapi-bg: critical\n    pass\n",
])
def test_attach_header_comments_keeps_the_code_and_shows_the_pragma(source: str) -> None:
    import libcst as cst

    from flake8_fastapi_bg.pragmas import attach_header_comments, function_tags

    module = cst.parse_module(source)
    attached = attach_header_comments(module)
    assert attached.code == source
    assert function_tags(attached.body[0]) == {"critical"}


@pytest.mark.parametrize("source", ["", "\n", "\n\n\n", "   \n", "\ufeff", "\f"])
def test_empty_files(lint, source: str) -> None:
    assert lint(source) == []


def test_only_comments(lint) -> None:
    assert lint("# background_tasks.add_task(nap)\n# BackgroundTasks\n#!/usr/bin/env python\n") == []


def test_task_words_only_in_strings(lint) -> None:
    source = ('"""Docs: call background_tasks.add_task(nap) or BackgroundTask(nap) in a route."""\n\n\n'
              'def helper():\n    """Use add_task: background_tasks.add_task(work, 1)."""\n'
              '    return "add_task" + f"{\'background\'}"\n')
    assert lint(source) == []


def test_task_words_in_strings_next_to_real_sites(lint) -> None:
    source = '"""add_task(nap) in a docstring is no site: background_tasks.add_task(nap)."""\n' + BASE
    assert lint(source) == expected(shift=1)


@pytest.mark.parametrize("name", ["empty.py", "comments.py", "doc.py", "api.pyi"])
def test_quiet_files_through_flake8(tmp_path: Path, flake8_run, name: str) -> None:
    text = {"empty.py": "", "comments.py": "# background_tasks.add_task(nap)\n",
            "doc.py": '"""background_tasks.add_task(nap)"""\n', "api.pyi": STUB}[name]
    (tmp_path / name).write_text(text)
    result = flake8_run("--select", "FBG,E9", name, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == "" and result.stderr == ""
