"""Statement order inside one function: "can this statement run before that one?"

The FBG2xx rules ask ordering questions that a flat text comparison gets wrong: a task added
in an `if` branch that returns early never reaches the `return` of the other branch; a
`finally` block runs after the `yield` of its `try`. `FunctionFlow` indexes a function body
once — every statement's path of (block, index) from the body, and every node's innermost
statement — and answers those questions structurally. Loops are not unrolled: a statement
never precedes an earlier one of the same loop body (the conservative answer for the rules).
Nested functions, lambdas and classes are part of the statement that contains them.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Set, Tuple

import libcst as cst

from ..syntax import walk

# (id of the compound statement or function, block label): one block of statements.
BlockKey = Tuple[int, str]
# One level of a statement's path: the block it is in, its index there, the statement.
Step = Tuple[BlockKey, int, cst.CSTNode]

# Which sibling blocks of one compound statement can run one after the other, in order.
_FOLLOWS = {
    ("try", "body"): {"handler", "orelse", "finalbody"},
    ("try", "handler"): {"finalbody"},
    ("try", "orelse"): {"finalbody"},
    ("loop", "body"): {"orelse"},
}


def _suite_lines(block: cst.BaseSuite) -> Sequence[cst.CSTNode]:
    # `if x: a(); b()` keeps its small statements in a SimpleStatementSuite; each one is a
    # statement for ordering purposes.
    return block.body


def _body_lines(root: cst.CSTNode) -> Sequence[cst.CSTNode]:
    """The statements of a module or a def's body."""
    if isinstance(root, cst.Module):
        return root.body
    if isinstance(root, (cst.FunctionDef, cst.ClassDef)):
        return _suite_lines(root.body)
    return ()


Block = Tuple[str, str, cst.CSTNode, Sequence[cst.CSTNode]]


# The statements with bodies (exact types, as parsed): any other statement, most of them, has
# none, told by one set look-up instead of an ABC `isinstance` check per kind below.
_COMPOUND = frozenset({cst.If, cst.For, cst.While, cst.Try, cst.TryStar, cst.With, cst.Match})


def sub_blocks(statement: cst.CSTNode) -> List[Block]:
    """(kind, label, body node, statements) of a compound statement's bodies, in order."""
    if type(statement) not in _COMPOUND:
        return []
    blocks: List[Block]
    if isinstance(statement, cst.If):
        blocks = [("if", "body", statement.body, _suite_lines(statement.body))]
        orelse = statement.orelse
        if isinstance(orelse, cst.Else):
            blocks.append(("if", "orelse", orelse.body, _suite_lines(orelse.body)))
        elif isinstance(orelse, cst.If):  # `elif`: a block of one If statement
            blocks.append(("if", "orelse", orelse, [orelse]))
        return blocks
    if isinstance(statement, (cst.For, cst.While)):
        blocks = [("loop", "body", statement.body, _suite_lines(statement.body))]
        if statement.orelse is not None:
            blocks.append(("loop", "orelse", statement.orelse.body, _suite_lines(statement.orelse.body)))
        return blocks
    if isinstance(statement, (cst.Try, cst.TryStar)):
        blocks = [("try", "body", statement.body, _suite_lines(statement.body))]
        blocks += [("try", "handler", h.body, _suite_lines(h.body)) for h in statement.handlers]
        for label, part in (("orelse", statement.orelse), ("finalbody", statement.finalbody)):
            if part is not None:
                blocks.append(("try", label, part.body, _suite_lines(part.body)))
        return blocks
    if isinstance(statement, cst.With):
        return [("with", "body", statement.body, _suite_lines(statement.body))]
    if isinstance(statement, cst.Match):
        return [("match", "case", case.body, _suite_lines(case.body)) for case in statement.cases]
    return []


class _NodeOwner(cst.CSTVisitor):
    """Maps every node of one statement (header only, for compound ones) to that statement."""

    def __init__(self, statement: cst.CSTNode, owners: Dict[int, cst.CSTNode], bodies: Set[int]) -> None:
        self.statement = statement
        self.owners = owners
        self.bodies = bodies

    def on_visit(self, node: cst.CSTNode) -> bool:
        if id(node) in self.bodies:
            return False
        self.owners.setdefault(id(node), self.statement)
        return True


class FunctionFlow:
    """Statement paths of one function body (a def or a module)."""

    def __init__(self, root: cst.CSTNode) -> None:
        self.root = root
        self.paths: Dict[int, List[Step]] = {}
        self.owners: Dict[int, cst.CSTNode] = {}
        self.kinds: Dict[int, str] = {}  # block key id -> compound kind
        self._index((id(root), "body"), _body_lines(root), [])

    def _index(self, key: BlockKey, statements: Sequence[cst.CSTNode], prefix: List[Step]) -> None:
        for index, statement in enumerate(statements):
            path = prefix + [(key, index, statement)]
            self.paths[id(statement)] = path
            blocks = sub_blocks(statement)
            bodies = {id(body) for _, _, body, _ in blocks}
            walk(statement, _NodeOwner(statement, self.owners, bodies))
            for number, (kind, label, _, inner) in enumerate(blocks):
                self.kinds[id(statement)] = kind
                self._index((id(statement), f"{label}:{number}"), inner, path)

    # -- queries -----------------------------------------------------------------------------
    def statement_of(self, node: cst.CSTNode) -> Optional[cst.CSTNode]:
        """The innermost statement containing `node` (a compound statement for its header)."""
        return self.owners.get(id(node))

    def contains(self, node: cst.CSTNode) -> bool:
        return id(node) in self.owners

    def path(self, statement: cst.CSTNode) -> List[Step]:
        return self.paths.get(id(statement), [])

    def inside(self, statement: cst.CSTNode, compound: cst.CSTNode) -> bool:
        """True when `statement` is in one of the bodies of `compound` (or is it)."""
        return any(step[2] is compound for step in self.path(statement))

    def precedes(self, first: cst.CSTNode, second: cst.CSTNode) -> bool:
        """`first` can run before `second` in one run of the function (loops not repeated).

        A compound statement counts as a whole: a statement after an `if` follows the whole
        `if`. Neither may contain the other."""
        a, b = self.path(first), self.path(second)
        if not a or not b:
            return False
        for level in range(min(len(a), len(b))):
            (key_a, index_a, stmt_a), (key_b, index_b, stmt_b) = a[level], b[level]
            if stmt_a is stmt_b:
                continue
            if key_a == key_b:
                return index_a < index_b
            # Different blocks of one compound statement.
            kind = self.kinds.get(key_a[0], "")
            label_a, number_a = key_a[1].split(":")
            label_b, number_b = key_b[1].split(":")
            if int(number_a) >= int(number_b):
                return False
            return label_b in _FOLLOWS.get((kind, label_a), set())
        return False  # one contains the other

    def falls_through(self, first: cst.CSTNode, second: cst.CSTNode) -> bool:
        """`first` precedes `second` and no `return`/`raise` stands certainly in between.

        Only statements directly in the blocks on the way count: a `return` inside an `if`
        after `first` may not run, so it does not stop the flow."""
        if not self.precedes(first, second):
            return False
        a, b = self.path(first), self.path(second)
        level = 0
        while level < min(len(a), len(b)) and a[level][2] is b[level][2]:
            level += 1
        # The rest of each block from `first` up to the level where the paths part.
        for depth in range(len(a) - 1, level - 1, -1):
            key, index, _ = a[depth]
            end = b[depth][1] if depth == level and b[depth][0] == key else None
            if self._terminates(key, index + 1, end, a[depth - 1][2] if depth else self.root):
                return False
        return True

    def _terminates(self, key: BlockKey, start: int, end: Optional[int], owner: cst.CSTNode) -> bool:
        for statement in self._block(key, owner)[start:end]:
            if isinstance(statement, cst.SimpleStatementLine):
                if any(isinstance(s, (cst.Return, cst.Raise)) for s in statement.body):
                    return True
            elif isinstance(statement, (cst.Return, cst.Raise)):
                return True
        return False

    def _block(self, key: BlockKey, owner: cst.CSTNode) -> Sequence[cst.CSTNode]:
        if key[0] == id(self.root) and owner is self.root:
            return _body_lines(self.root)
        number = int(key[1].split(":")[1])
        blocks = sub_blocks(owner)
        if number >= len(blocks):
            return []
        return blocks[number][3]


def flow_of(root: cst.CSTNode, cache: Dict[int, FunctionFlow]) -> FunctionFlow:
    found = cache.get(id(root))
    if found is None:
        found = cache[id(root)] = FunctionFlow(root)
    return found


__all__ = ["FunctionFlow", "flow_of", "sub_blocks"]
