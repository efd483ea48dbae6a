"""The fast read-only walk visits exactly what libcst's own visit does, in the same order."""

from __future__ import annotations

import sysconfig
from pathlib import Path
from typing import List, Tuple

import libcst as cst
import pytest

from flake8_fastapi_bg.syntax import children, preorder, preorder_spans, walk

ROOT = Path(__file__).resolve().parent.parent
TOKEN_MODULES = ("libcst._nodes.whitespace", "libcst._nodes.op")
TOKENS = (cst.Comma, cst.LeftParen, cst.RightParen, cst.LeftSquareBracket, cst.RightSquareBracket,
          cst.LeftCurlyBrace, cst.RightCurlyBrace, cst.Asynchronous, cst.Dot, cst.ParamSlash,
          cst.AssignEqual, cst.Colon, cst.Semicolon, cst.ImportStar)


def is_token(node: cst.CSTNode) -> bool:
    return type(node).__module__ in TOKEN_MODULES or isinstance(node, TOKENS)


class Recorder(cst.CSTVisitor):
    def __init__(self) -> None:
        self.events: List[Tuple[str, int]] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if not is_token(node):
            self.events.append(("visit", id(node)))
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if not is_token(original_node):
            self.events.append(("leave", id(original_node)))


def corpus() -> List[Path]:
    files = sorted((ROOT / "tests" / "fixtures").rglob("*.py")) + sorted((ROOT / "examples").rglob("*.py"))
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files += [stdlib / name for name in ("ast.py", "dataclasses.py", "asyncio/tasks.py", "argparse.py",
                                         "typing.py", "email/_header_value_parser.py")]
    return [f for f in files if f.is_file() and f.stat().st_size > 200]


@pytest.mark.slow
@pytest.mark.parametrize("path", corpus(), ids=lambda p: p.name)
def test_walk_matches_libcst_visit_on_real_code(path: Path) -> None:
    module = cst.parse_module(path.read_bytes())
    theirs, ours = Recorder(), Recorder()
    module.visit(theirs)
    walk(module, ours)
    assert ours.events == theirs.events
    assert len(ours.events) > 10


def test_walk_reaches_new_syntax() -> None:
    source = ("type Alias[T] = list[T]\n"
              "def f[T](x: T) -> T:\n"
              "    match x:\n"
              "        case {'k': [1, *rest]} if rest: pass\n"
              "    try:\n        pass\n    except* ValueError as e:\n        pass\n"
              "    return f\"{x!r:>{10}} {'nested'}\"\n")
    module = cst.parse_module(source)
    theirs, ours = Recorder(), Recorder()
    module.visit(theirs)
    walk(module, ours)
    assert ours.events == theirs.events


def test_visit_returning_false_skips_children_but_leave_runs() -> None:
    class Calls(cst.CSTVisitor):
        def __init__(self) -> None:
            self.seen: List[str] = []

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            self.seen.append(f"def {node.name.value}")
            return False

        def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
            self.seen.append(f"end {original_node.name.value}")

        def visit_Call(self, node: cst.Call) -> None:
            self.seen.append(f"call {cst.Module([]).code_for_node(node.func)}")

    module = cst.parse_module("a()\ndef f():\n    b()\nc(d())\n")
    visitor = Calls()
    walk(module, visitor)
    assert visitor.seen == ["call a", "def f", "end f", "call c", "call d"]


@pytest.mark.slow
def test_deep_nesting_does_not_exhaust_the_recursion_limit() -> None:
    depth = 600
    module = cst.parse_module("x = " + "(" * depth + "1" + ")" * depth + "\n" + "y = " + "[" * depth
                              + "]" * depth + "\n")
    with pytest.raises(RecursionError):
        module.visit(Recorder())
    ours = Recorder()
    walk(module, ours)
    assert len([e for e in ours.events if e[0] == "visit"]) > depth


def test_children_skip_whitespace_and_punctuation() -> None:
    call = cst.parse_expression("f( a , b = 1 )")
    assert [type(c).__name__ for c in children(call)] == ["Name", "Arg", "Arg"]


class Stopping(cst.CSTVisitor):
    """Records every node it visits and enters none of the `stop` types (but the root)."""

    def __init__(self, root: cst.CSTNode, stop: frozenset) -> None:
        self.root, self.stop = root, stop
        self.seen: List[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if type(node) in self.stop and node is not self.root:
            return False
        self.seen.append(node)
        return True


@pytest.mark.parametrize("path", corpus()[:8], ids=lambda p: p.name)
def test_preorder_lists_what_the_walk_visits(path: Path) -> None:
    module = cst.parse_module(path.read_bytes())
    stop = frozenset({cst.FunctionDef, cst.Lambda, cst.ClassDef})
    for root in [module] + [s for s in module.body if isinstance(s, (cst.FunctionDef, cst.ClassDef))]:
        visitor = Stopping(root, stop)
        walk(root, visitor)
        assert preorder(root, stop) == visitor.seen
    everything = Stopping(module, frozenset())
    walk(module, everything)
    assert preorder(module) == everything.seen and len(everything.seen) > 10


@pytest.mark.parametrize("path", corpus()[:8], ids=lambda p: p.name)
def test_preorder_spans_end_each_node_after_its_descendants(path: Path) -> None:
    module = cst.parse_module(path.read_bytes())
    stop = frozenset({cst.FunctionDef, cst.Lambda, cst.ClassDef})
    spans = frozenset({cst.Call, cst.For, cst.If, cst.IndentedBlock})
    for root in [module] + [s for s in module.body if isinstance(s, (cst.FunctionDef, cst.ClassDef))]:
        nodes, ends = preorder_spans(root, stop, spans)
        assert nodes == preorder(root, stop)
        spanned = [i for i, node in enumerate(nodes) if type(node) in spans]
        assert list(ends) == spanned
        for start in spanned:
            assert nodes[start:ends[start]] == preorder(nodes[start], stop)
