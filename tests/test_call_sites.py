"""The calls of a function's own body and their context (`analyse._calls`): the loops around
each call, whether it is awaited, whether it is top level, and the iterables evaluated once.
The evidence chain, "in a loop" messages and the loop reasoning of FBG103/FBG105 read them."""

from __future__ import annotations

import textwrap
import types
from typing import List, Set, Tuple

import libcst as cst
import pytest
from test_syntax import corpus

from flake8_fastapi_bg.analyse import _calls
from flake8_fastapi_bg.syntax import preorder, walk

TRICKY = textwrap.dedent('''
    @deco()
    async def tricky(items=default(), *, client: make_type() = None):
        setup()
        await fetch()
        x = await wrap(inner())
        for a in load(arg()):
            work(a)
            while poll():
                await sleep(1)
        else:
            after()
        for b in factory().items:
            use(b)
        for c[index()] in sources():
            pass
        for d in [pick(i) for i in gather()]:
            pass
        total = [embed(e) for e in chunk(text()) if keep(e)]
        nested = {k: value(z) for z in (g(y) for y in h()) for k in m(z) if p(k)}
        if flag():
            branch()
        elif other():
            branch2()
        try:
            risky()
        except Exception:
            handle()
        finally:
            cleanup()
        with ctx() as w:
            inside(lambda: hidden())
        for f in (lambda: nope()):
            pass

        def inner_def(arg=in_default()):
            hidden2()

        class Inner:
            attr = hidden3()
        return done()
''')

# (callee, loops around it, awaited, top level), in source order
EXPECTED = [
    ("deco", (), False, True),
    ("default", (), False, True),
    ("make_type", (), False, True),
    ("setup", (), False, True),
    ("fetch", (), True, True),
    ("wrap", (), True, True),
    ("inner", (), False, True),
    ("load", (), False, False),  # the iterable is evaluated once: its loop is not counted
    ("arg", (), False, False),
    ("work", ("For",), False, False),
    ("poll", ("For", "While"), False, False),
    ("sleep", ("For", "While"), True, False),
    ("after", ("For",), False, False),  # the `else` of a loop: counted in it
    ("factory", ("For",), False, False),  # an attribute iterable is not looked into
    ("use", ("For",), False, False),
    ("index", ("For",), False, False),  # the target: not the iterable
    ("sources", (), False, False),
    ("pick", ("For",), False, False),  # a comprehension in an iterable: only the `for` is dropped
    ("gather", ("For",), False, False),
    ("embed", ("ListComp",), False, False),
    ("chunk", (), False, False),
    ("text", (), False, False),
    ("keep", ("ListComp",), False, False),  # a condition runs for every element
    ("value", ("DictComp",), False, False),
    ("g", ("DictComp",), False, False),
    ("h", ("DictComp",), False, False),
    ("m", ("DictComp",), False, False),  # only the first iterable is evaluated once
    ("p", ("DictComp",), False, False),
    ("flag", (), False, False),  # the test of a branch is in the branch
    ("branch", (), False, False),
    ("other", (), False, False),
    ("branch2", (), False, False),
    ("risky", (), False, False),
    ("handle", (), False, False),
    ("cleanup", (), False, False),
    ("ctx", (), False, True),  # `with` is not a branch
    ("inside", (), False, True),
    ("done", (), False, True),
]


def sites(node: cst.CSTNode) -> List[Tuple[str, Tuple[str, ...], bool, bool]]:
    scope = types.SimpleNamespace(node=node)
    return [(cst.Module([]).code_for_node(s.node.func), tuple(type(loop).__name__ for loop in s.loops),
             s.awaited, s.top_level) for s in _calls(scope)]  # type: ignore[arg-type]


def test_call_sites_of_a_tricky_function() -> None:
    function = cst.parse_module(TRICKY).body[0]
    assert sites(function) == EXPECTED


def test_a_lambda_is_its_own_function() -> None:
    function = cst.parse_expression("lambda x: [f(y) for y in g(x)]")
    assert sites(function) == [("f", ("ListComp",), False, False), ("g", (), False, False)]


class Reference(cst.CSTVisitor):
    """The call sites as a visitor with enter/leave hooks tracks them: the definition that
    `_calls`, derived from the spans of one walk, must match."""

    def __init__(self, root: cst.CSTNode) -> None:
        self.root = root
        self.loops: List[cst.CSTNode] = []
        self.blocks = 0
        self.awaited: Set[int] = set()
        self.once: Set[int] = set()
        self.calls: List[Tuple[int, Tuple[int, ...], bool, bool]] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, (cst.FunctionDef, cst.Lambda, cst.ClassDef)) and node is not self.root:
            return False
        if isinstance(node, cst.Await) and isinstance(node.expression, cst.Call):
            self.awaited.add(id(node.expression))
        if isinstance(node, (cst.For, cst.While, cst.BaseComp)):
            self.loops.append(node)
            iterable = node.for_in.iter if isinstance(node, cst.BaseComp) else getattr(node, "iter", None)
            if iterable is not None and not (isinstance(node, cst.For)
                                             and isinstance(iterable, (cst.Name, cst.Attribute))):
                self.once.update(id(n) for n in preorder(iterable, frozenset({cst.Lambda}))
                                 if isinstance(n, cst.Call))
        if isinstance(node, (cst.If, cst.Try, cst.ExceptHandler)):
            self.blocks += 1
        if isinstance(node, cst.Call):
            loops = self.loops[:-1] if id(node) in self.once else self.loops
            self.calls.append((id(node), tuple(map(id, loops)), id(node) in self.awaited,
                               not self.loops and not self.blocks))
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if isinstance(original_node, (cst.For, cst.While, cst.BaseComp)):
            self.loops.pop()
        if isinstance(original_node, (cst.If, cst.Try, cst.ExceptHandler)):
            self.blocks -= 1


def reference(node: cst.CSTNode) -> List[Tuple[int, Tuple[int, ...], bool, bool]]:
    visitor = Reference(node)
    walk(node, visitor)
    return visitor.calls


def test_the_reference_agrees_on_the_tricky_function() -> None:
    function = cst.parse_module(TRICKY).body[0]
    scope = types.SimpleNamespace(node=function)
    assert reference(function) == [(id(s.node), tuple(map(id, s.loops)), s.awaited, s.top_level)
                                   for s in _calls(scope)]  # type: ignore[arg-type]


@pytest.mark.parametrize("path", corpus()[:12], ids=lambda p: p.name)
def test_call_sites_match_the_reference_on_real_code(path) -> None:
    module = cst.parse_module(path.read_bytes())
    functions = [n for n in preorder(module) if isinstance(n, (cst.FunctionDef, cst.Lambda))]
    for function in functions:
        scope = types.SimpleNamespace(node=function)
        ours = [(id(s.node), tuple(map(id, s.loops)), s.awaited, s.top_level)
                for s in _calls(scope)]  # type: ignore[arg-type]
        assert ours == reference(function)
