"""libcst statements built from `ast` (`convert`) are libcst's parse but for whitespace.

The oracle is libcst's own parse of each statement group (`convert_check`): node types, every
field the analysis may read, the comments pragmas read, the number of parentheses, the position
of every analysed node and the source text of every expression. Constructs the converter does
not build faithfully must make it give up (the group is then parsed by libcst).
"""

from __future__ import annotations

import ast
import sys
import textwrap
from pathlib import Path
from typing import Any, List, Tuple

import libcst as cst
import pytest
from convert_check import Report, check_text, files
from support import forget_projects, write_tree

from flake8_fastapi_bg import convert, libcst_compat, project, slicing
from flake8_fastapi_bg.engine import lint_source
from flake8_fastapi_bg.settings import Settings

ROOT = Path(__file__).resolve().parent.parent

TRICKY = '''
import a.b as c
from ..pkg import (x as y, z)
from . import *


@decorator(arg=(1))
# a comment between the decorator and the def
async def f(a, /, b: int = (2), *args: "str", c, d=lambda e=1, *f, **g: (e, f),
            **kw) -> None:  # fastapi-bg: light
    global G
    s = "a" "b" f"{a!r:>{b}}" \\
        'c'
    t = ((1, 2),), (3,)
    u = [(v) for v in (w) if (v) if not v async for q in r]
    x = {**kw, "k": (yield), 1: (yield from g())}
    if a and b and c or not d and (e or f):
        pass
    elif a < b <= c is not d not in e:
        del a, (b)
    elif (x := 3):
        raise E from (F)
    else:
        assert (a), "m"
    for (i, j) in k: break
    else: continue
    try:
        y = f(*a, (b), k=(c), **(d))(e for e in f)[1:2, ::3, (4)]
    except (A, B) as exc:
        z @= -(~x) ** 2
    except C:
        pass
    else:
        pass
    finally:
        return (await h())
    async with a as (b, c), d:
        f(x for x in y)
        f((x for x in y))
    # a footer comment, indented like the block
# a comment for the next statement


class Empty():
    pass


class K(Base, metaclass=(M)):
    """Doc."""

    attr: "int" = 1

    # fastapi-bg: cpu-heavy
    def method(self, *, key):  # a comment
        return self.x.y[key]

    def one(self): return 1  # fastapi-bg: cpu-heavy<SP>

    def two(self):
        if self:
            pass
            # deeper: the footer of the if's block
        # above the elif, at its indentation<SP>
        elif self.x:
            pass
        # above the else
        else:
            pass
        try:  # a header comment: with a colon:
            pass
        # above the except
        except E:  # on the except line
            pass
        # above the finally
        finally:
            pass
'''


def check(source: str) -> Report:
    report = Report()
    # <SP>: a comment's trailing blank (libcst keeps it)
    check_text(textwrap.dedent(source).lstrip().replace("<SP>", " "), "<test>", report)
    return report


def test_the_tricky_constructs_are_libcsts_parse() -> None:
    report = check(TRICKY)
    assert report.mismatches == []
    assert report.converted == report.groups == 6 and not report.fallbacks


@pytest.mark.parametrize("source,reason", [
    ("match x:\n    case 1:\n        pass\n", "Match"),
    pytest.param("def first[T](items: list[T]) -> T:\n    return items[0]\n", "type parameters",
                 marks=pytest.mark.skipif(sys.version_info < (3, 12), reason="PEP 695: Python 3.12 syntax")),
    pytest.param("class Box[T]:\n    def get(self) -> T:\n        pass\n", "type parameters",
                 marks=pytest.mark.skipif(sys.version_info < (3, 12), reason="PEP 695: Python 3.12 syntax")),
])
def test_what_is_not_built_faithfully_is_given_up(source: str, reason: str) -> None:
    report = check(source)
    assert report.mismatches == [] and report.converted == 0 and report.fallbacks == {reason: 1}


def test_the_near_misses_are_built() -> None:
    # A `with` without parentheses; a type comment (a comment: the engine's `ast` keeps none).
    report = check("with open(a) as f, open(b) as g:\n    pass\nx = []  # type: List[int]\n")
    assert report.mismatches == [] and report.converted == 2 and not report.fallbacks


WITH_PARENTHESES = '''
async def f():
    with (open(a) as f, open(b) as g):
        pass
    async with (
        s() as t,  # a comment
        t.get(u, params=v) as w,
    ):
        pass
    with (a, b):
        pass
    with (a):
        pass
    with ((a)):
        pass
    with ((a), (b)):
        pass
    with (a) as b:
        pass
    with ((a)) as b:
        pass
    with (a, b) as c:
        pass
    with (a as b):
        pass
    with (a as (b)):
        pass
    with (a as b,):
        pass
    with (a,):
        pass
    with (a) as b, c:
        pass
    with (a) as b, (c):
        pass
    with (a)(b) as c:
        pass
    with ((a) as b):
        pass
    with ((a) as b, (c) as (d)):
        pass
    with (a, (yield)):
        pass
    with (x for x in y):
        pass
    with (a, (x for x in y)):
        pass
    with (a): pass
    with (
        a
    ) as b:
        pass
    with (  # opening
        a  # item
    ):  # after
        pass
    with (f"{a}" as b, "s)" as c):
        pass
'''


def test_the_parentheses_of_with_are_built() -> None:
    report = check(WITH_PARENTHESES)
    assert report.mismatches == []
    assert report.converted == report.groups == 1 and not report.fallbacks


# f-strings: built from `ast` and their text where the source places each field's expression
# (`SIMPLE_FSTRINGS`: on every supported Python), given to libcst's parser otherwise; either
# way libcst's parse, field by field.
SIMPLE_FSTRINGS = r"""
def f(a, b, width, d, items):
    s1 = f"text {a} and {a.b} and {call(a, b=2)} {a[1]} {a[b, d]} {a[1:2]}"
    s2 = f'single {a!r} {b!s} {d!a} "other quotes"'
    s3 = F"{a:>10} {b:.2f} {a!r:^12} {a:} {a!r:} {a:%Y-%m-%d %H:%M} {a:#x} {a:=^10}"
    s4 = rf"\d+{a}\w" + fR'{b}\n' + Rf"{a}" + FR"x" + f""
    s5 = f"esc \n \t \\ \" \x41 \N{BULLET} {a} \u00e9 \\N{b}"
    s6 = f"{{braces}} {{{a}}} }}{{ {b}"
    s7 = f"{(lambda x: x * 2)(a)} {call(lambda: a)} {a if b else d} {-a} {a and b or d}"
    s8 = f"{ {1: 2}[a] } { {a, b} } {[x for x in items]} {(x for x in items)}"
    s9 = f"# not a comment {a} # still text"
    s10 = f"é ü {a.b} — {call(b)}"
    s11 = f"\t{a}\t{ b }\t{	d	}"
    s12 = f"{a['k']} {d[1] if b else 1} {'literal'}"
    s13 = ("first " f"{a}"  # a comment between the strings
           "second" f"{b!r}"
           f'third {d}')
    s14 = f"{(a)} {((b))} {(a, b)} {a!r}{a!r}{a}{a}"
    s15 = f'{a}' f"{b}" + "plain" f"{a}" + f"{a}" "plain"
    s16 = f"{ a }{  a  } { a !r} {a:>{width}} {b:{width}.{d}} {a!r:^{width}}"
    s17 = f"{a=} {a = } {a=!r} {a = :>5} {a.b=}"
    s18 = f"{f'{a}'} {f'{b!r:>{width}}'}"
    s19 = f"{a:{{}}>3}"
    s20 = rf"\d{a}\{b}\{{ \}}" + Fr'\{a}\}}\\' + Rb"bytes\d"
    s21 = f'''triple {a!r:>3} "quoted" 'too' {{ }}
    more text, {{no field}} "" ''
    ''' + f'''{b}''' + F'''"{a}"\''''
"""

# Read by libcst (on some Pythons at least): `ast` misplaces the expression, or the field is
# not one this module reads (a line break inside the braces).
PARSED_FSTRINGS = r"""
def f(a, b):
    s1 = f'''triple {a}
    second line {b.c} "quoted" 'too' {a!r:>3}
    '''
    s2 = f"text\
{a} after"
    s3 = f'''
{a}
  {b.c:>3}
'''
    s4 = f'''{a} and {call(a,
       b)}'''
    s5 = f"{a, b}"
"""


class _FStrings(cst.CSTVisitor):
    def __init__(self) -> None:
        self.found: List[cst.FormattedString] = []

    def visit_FormattedString(self, node: cst.FormattedString) -> None:
        self.found.append(node)


def _shape(node: Any) -> Any:
    """Every field of an f-string's own nodes, whitespace included (its expressions: by type)."""
    if isinstance(node, cst.FormattedString):
        return ("f", node.start, node.end, len(node.lpar), [_shape(p) for p in node.parts])
    if isinstance(node, cst.FormattedStringText):
        return ("text", node.value)
    if isinstance(node, cst.FormattedStringExpression):
        equal = None if node.equal is None \
            else (node.equal.whitespace_before.value, node.equal.whitespace_after.value)
        spec = None if node.format_spec is None else [_shape(p) for p in node.format_spec]
        return ("field", type(node.expression).__name__, node.conversion, spec, equal,
                node.whitespace_before_expression.value, node.whitespace_after_expression.value)
    raise AssertionError(node)


def _fstrings(source: str) -> Tuple[List[Any], List[Any], convert.Converter]:
    """The f-strings built from `source`, and libcst's, as `_shape`s."""
    source = textwrap.dedent(source).lstrip()
    module, converter = convert.convert(ast.parse(source).body, source.splitlines(keepends=True))
    mine, theirs = _FStrings(), _FStrings()
    module.visit(mine)
    cst.parse_module(source).visit(theirs)
    return [_shape(n) for n in mine.found], [_shape(n) for n in theirs.found], converter


def test_simple_fstrings_are_built_as_libcst_parses_them() -> None:
    report = check(SIMPLE_FSTRINGS)
    assert report.mismatches == [] and report.converted == report.groups == 1
    # On every supported Python (3.9 misplaces none of these).
    assert set(report.fstrings) == {"built"} and report.fstrings["built"] == 32
    mine, theirs, converter = _fstrings(SIMPLE_FSTRINGS)
    assert len(mine) == 35 and mine == theirs
    assert converter._parsed == []  # nothing left to position by rendering


def test_fstrings_ast_misplaces_are_libcsts_parse() -> None:
    report = check(PARSED_FSTRINGS)
    assert report.mismatches == [] and report.converted == report.groups == 1
    assert report.fstrings["built"] < 5 and report.fstrings["multi-line field"] == 1
    mine, theirs, _ = _fstrings(PARSED_FSTRINGS)
    assert mine == theirs


@pytest.mark.skipif(sys.version_info < (3, 11), reason="a[*b]: Python 3.11 syntax")
def test_a_field_the_converter_cannot_build_leaves_only_its_fstring_to_libcst() -> None:
    report = check('x = f"{a[*b]}" + f"{a[b]}"\n')
    assert report.mismatches == [] and report.converted == report.groups == 1
    assert report.fstrings == {"starred subscript": 1, "built": 1}


def test_a_field_inside_a_built_fstring_is_placed_from_ast() -> None:
    source = 'x = f"é\\t{a.b} {call(c)!r:>{w}}"\n'
    module, converter = convert.convert(ast.parse(source).body, [source])
    assign = cst.ensure_type(cst.ensure_type(module.body[0], cst.SimpleStatementLine).body[0], cst.Assign)
    string = cst.ensure_type(assign.value, cst.FormattedString)
    first, second = [p for p in string.parts if isinstance(p, cst.FormattedStringExpression)]
    where = converter.range(first.expression)
    assert where is not None and (where.start.column, where.end.column) == (10, 13)  # characters, not bytes
    assert convert.code_for(second.expression) == "call(c)"
    assert second.format_spec is not None
    nested = cst.ensure_type(second.format_spec[1], cst.FormattedStringExpression).expression
    where = converter.range(nested)
    assert where is not None and (where.start.column, where.end.column) == (28, 29)
    assert converter._parsed == []


def test_the_fixtures_are_built_as_libcst_parses_them() -> None:
    report = Report()
    for path in files([str(ROOT / "tests" / "fixtures")]):
        check_text(path.read_text(encoding="utf-8"), str(path), report)
    assert report.mismatches == []
    assert report.converted > 900 and report.groups - report.converted < 5


@pytest.mark.slow
def test_the_package_itself_is_built_as_libcst_parses_it() -> None:
    report = Report()
    for path in files([str(ROOT / "flake8_fastapi_bg"), str(ROOT / "tests"), str(ROOT / "benchmarks")]):
        check_text(path.read_text(encoding="utf-8"), str(path), report)
    assert report.mismatches == []
    assert report.converted > 2000


def test_nesting_deeper_than_the_bound_is_given_up_not_recursed() -> None:
    for deep in ("x = " + "f(" * 150 + "1" + ")" * 150 + "\n", "x = " + " + ".join(["1"] * 300) + "\n"):
        with pytest.raises(convert.Unconvertible):
            convert.convert(ast.parse(deep).body, deep.splitlines(keepends=True))
    shallower = "x = " + " + ".join(["1"] * 100) + "\n"  # the near miss
    convert.convert(ast.parse(shallower).body, shallower.splitlines(keepends=True))


@pytest.mark.parametrize("deep", [
    *("x = " + "-" * n + "a\n" for n in range(120, 124)),  # the bound met at an operator or at the leaf
    "".join("    " * i + "if a:\n" for i in range(50))
    + "    " * 50 + "x = " + "f(" * 100 + "1" + ")" * 100 + "\n",  # inside blocks
])
def test_a_group_given_up_as_too_deep_leaves_the_converter_as_it_was(deep: str) -> None:
    # A reached module has one converter for all its groups: giving up on one group must not
    # leave the depth count raised, or later groups of the module would be given up sooner.
    lines = deep.splitlines(keepends=True)
    converter = convert.Converter(lines)
    with pytest.raises(convert.Unconvertible), libcst_compat.unvalidated():
        converter.statements(ast.parse(deep).body)
    assert converter.depth == 0


PRAGMA_HELPER = '''
    import time


    class Jobs:
        def run(self, n: int) -> int: return sum(i * i for i in range(n))  # fastapi-bg: cpu-heavy

        def other(self) -> None:
            time.sleep(0)
    '''

PRAGMA_ROUTES = '''
    from fastapi import APIRouter, BackgroundTasks

    from app.jobs import Jobs

    router = APIRouter()


    @router.post("/go")
    def go(background_tasks: BackgroundTasks):
        background_tasks.add_task(Jobs().run, 10)
        return {}
    '''


@pytest.mark.parametrize("pragma,expected", [("  # fastapi-bg: cpu-heavy", ["FBG101"]),
                                             ("  # cpu-heavy", [])])
def test_a_pragma_after_a_one_line_method_of_a_reached_class_is_read(
        tmp_path: Path, pragma: str, expected: List[str]) -> None:
    forget_projects()
    helper = PRAGMA_HELPER.replace("  # fastapi-bg: cpu-heavy", pragma)
    files = {"app/__init__.py": "", "app/jobs.py": helper, "app/routes.py": PRAGMA_ROUTES}
    root = write_tree(tmp_path, files, dedent=True, marker=True)
    assert [line.split()[0] for line in lint(root)] == expected
    forget_projects()


MATCHING = '''
    import hashlib

    class Jobs:
        def run(self, kind: str, pw: bytes) -> bytes:
            match kind:
                case "hash":
                    return hashlib.pbkdf2_hmac("sha256", pw, b"salt", 100_000)
            return pw

        def other(self) -> None:
            pass
    '''

ROUTES = '''
    from fastapi import APIRouter, BackgroundTasks

    from app.jobs import Jobs

    router = APIRouter()


    @router.post("/go")
    def go(background_tasks: BackgroundTasks):
        background_tasks.add_task(Jobs().run, "hash", b"pw")
        return {}
    '''


def lint(root: Path) -> List[str]:
    path = root / "app" / "routes.py"
    return [f"{f.code} {f.message}" for f in lint_source(str(path), path.read_text(), Settings(), path)]


def test_a_method_convert_cannot_build_is_parsed_by_libcst(tmp_path: Path) -> None:
    # The `match` in `run` makes the converter give up on the method: libcst parses its class,
    # and the work in it is still found, at its line.
    forget_projects()
    files = {"app/__init__.py": "", "app/jobs.py": MATCHING, "app/routes.py": ROUTES}
    root = write_tree(tmp_path, files, dedent=True, marker=True)
    found = lint(root)
    assert [line.split()[0] for line in found] == ["FBG101"] and "app/jobs.py:7" in found[0]
    info = project.project_for(root / "app" / "routes.py").module("app.jobs")
    assert isinstance(info, slicing.SlicedModuleInfo) and info._converted
    [run] = info._converter._unstubbed.values()
    assert info._converter.origin(run) is None  # libcst's, positioned by rendering its class
    forget_projects()


def test_the_same_method_without_match_is_built(tmp_path: Path) -> None:
    forget_projects()
    plain = MATCHING.replace('match kind:\n                case "hash":\n                    return',
                             'if kind == "hash":\n                return')
    root = write_tree(tmp_path, {"app/__init__.py": "", "app/jobs.py": plain, "app/routes.py": ROUTES},
                      dedent=True, marker=True)
    found = lint(root)
    assert [line.split()[0] for line in found] == ["FBG101"] and "app/jobs.py:6" in found[0]
    info = project.project_for(root / "app" / "routes.py").module("app.jobs")
    assert isinstance(info, slicing.SlicedModuleInfo)
    assert [type(n).__name__ for n in info._converter._unstubbed.values()] == ["FunctionDef"]
    forget_projects()


def test_code_for_gives_the_source_of_built_expressions() -> None:
    source = "x = f(a,b)  +  g( k = 1 )\n"
    module, _ = convert.convert(ast.parse(source).body, [source])
    line = cst.ensure_type(module.body[0], cst.SimpleStatementLine)
    value = cst.ensure_type(line.body[0], cst.Assign).value
    assert convert.code_for(value) == "f(a,b)  +  g( k = 1 )"
    assert convert.code_for(cst.parse_expression("f(a,b)")) == "f(a,b)"  # parsed: libcst renders it
