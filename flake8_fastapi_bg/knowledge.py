"""The knowledge base: which library calls are CPU-heavy, blocking, long-running or critical.

The facts are data in ``knowledge.toml`` beside this module, in the shape of bandit's call
tables: per category, qualified-name globs mapped to a short reason that goes into a finding's
message. This module only loads the file, validates it (so a bad edit fails loudly at load, not
as a silently missed finding), matches qualified names against it and renders it as Markdown.

Matching rules, relied on by the engine and the user options:

* A pattern is an fnmatch glob; ``*`` matches across dots.
* The most specific pattern wins: patterns added by the user (:meth:`KnowledgeBase.extended`)
  beat built-in ones; a built-in exception (a ``false`` value, which carves calls out of a
  table) beats built-in positives; then an exact name beats a glob, a longer literal prefix
  beats a shorter one, and more literal characters beat fewer.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import (Any, Callable, Dict, FrozenSet, Generic, Iterable, List, Mapping, Optional,
                    Sequence, Set, Tuple, TypeVar)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - only on Python < 3.11
    import tomli as tomllib

CATEGORIES = ("cpu", "blocking", "long", "repeated", "critical")
OFFLOAD_KINDS = ("thread", "process", "queue", "schedule")
NAME_LISTS = ("always", "context", "objects", "observers", "reads", "texts", "verbs")
_PHRASE_LISTS = frozenset({"always", "context", "texts"})  # snake_case word sequences
SECTIONS = CATEGORIES + ("offload", "returns", "critical_names")

_DATA_FILE = "knowledge.toml"
_WILDCARD = re.compile(r"[*?\[]")  # where a glob stops being a literal name
# A built-in pattern is anchored to a package: it starts with an identifier character, and its
# dotted segments are non-empty runs of identifier and glob characters.
_BUILTIN_PATTERN = re.compile(r"[A-Za-z_][\w*?\[\]!-]*(?:\.[\w*?\[\]!-]+)*\Z")
# Users may write any glob without blanks (`*.billing.*`); settings.py has checked its shape.
_USER_PATTERN = re.compile(r"\S+\Z")
_DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*\Z")
_WORD = re.compile(r"[a-z0-9]+\Z")
_WORDS = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*\Z")
# Splits one identifier part into words: `chargeCustomer`, `HTTPRequest`, `send2FACode`.
_SPLIT = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+(?:[a-z]+|[A-Z]+(?![a-z]))?")
_OFFLOAD_KEYS = frozenset({"kind", "callable_arg", "callable_kw"})
_CACHE_SIZE = 8192

_BUILTIN, _USER = 0, 1  # tiers: user patterns win over built-in ones


class KnowledgeBaseError(ValueError):
    """The knowledge base data, or a pattern added to it, is invalid."""


@dataclass(frozen=True)
class Match:
    """The pattern that matched a qualified name, and the reason to show for it."""

    pattern: str
    reason: str


@dataclass(frozen=True)
class Offload:
    """A call that hands work to a thread, a process, a queue or a scheduler.

    ``callable_arg`` is the index of the positional argument that is the callable handed off,
    or -1 when there is none to follow (the receiver is the task, or the work is named by a
    string). ``callable_kw`` is the keyword that can carry the same callable, if any.
    """

    pattern: str
    kind: str
    callable_arg: int
    callable_kw: Optional[str] = None


V = TypeVar("V")


@dataclass(frozen=True)
class _Rule(Generic[V]):
    pattern: str
    value: V
    rank: Tuple[int, int, int, int, int]
    exact: bool  # a plain name, no wildcard: matched by dict lookup, never by `matches`

    def matches(self, name: str) -> bool:
        """Whether the glob of this (non-exact) rule matches `name`."""
        return _glob(self.pattern)(name) is not None


@functools.lru_cache(maxsize=None)
def _glob(pattern: str) -> Callable[[str], Optional["re.Match[str]"]]:
    """A glob's compiled matcher, built the first time a name is tried against it: most of
    the shipped globs are never tried in a run, and compiling them all up front is wasted work
    in every worker."""
    return re.compile(fnmatch.translate(pattern)).match


def _literal_prefix(pattern: str) -> int:
    wildcard = _WILDCARD.search(pattern)
    return len(pattern) if wildcard is None else wildcard.start()


def _rule(pattern: str, value: V, tier: int, exception: bool = False) -> _Rule[V]:
    prefix = _literal_prefix(pattern)
    exact = prefix == len(pattern)
    literals = len(pattern) - sum(map(pattern.count, "*?[]!"))
    rank = (tier, int(exception), int(exact), prefix, literals)
    return _Rule(pattern, value, rank, exact)


def _order(rule: _Rule[Any]) -> Tuple[Any, ...]:
    return tuple(-part for part in rule.rank) + (rule.pattern,)


class _Matcher(Generic[V]):
    """Finds the most specific rule whose pattern matches a qualified name.

    Exact names are one dict lookup. Globs are compiled once, on first use, and bucketed by
    their first dotted segment when it is literal, so a name is tried only against its own
    package's globs (plus the few whose first segment has a wildcard), in best-first order,
    stopping at the first hit.
    """

    def __init__(self, rules: Iterable[_Rule[V]]) -> None:
        self._exact: Dict[str, _Rule[V]] = {}
        by_head: Dict[str, List[_Rule[V]]] = {}
        loose: List[_Rule[V]] = []
        for rule in rules:
            if rule.exact:
                self._exact[rule.pattern] = rule
                continue
            head = rule.pattern.split(".", 1)[0]
            if _WILDCARD.search(head) is None:
                by_head.setdefault(head, []).append(rule)
            else:
                loose.append(rule)
        self._by_head = {head: tuple(sorted(rules, key=_order)) for head, rules in by_head.items()}
        self._loose = tuple(sorted(loose, key=_order))

    def find(self, name: str) -> Optional[_Rule[V]]:
        best = self._exact.get(name)
        for rules in (self._by_head.get(name.split(".", 1)[0], ()), self._loose):
            for rule in rules:
                if best is not None and rule.rank <= best.rank:
                    break  # sorted best-first: nothing later can beat what we have
                if rule.matches(name):
                    best = rule
                    break
        return best


def _word_forms(word: str) -> FrozenSet[str]:
    """The word and the stems it may be an inflection of: `orders`, `charged`, `processing`."""
    forms = {word}
    if len(word) > 3:
        if word.endswith("ies"):
            forms.add(word[:-3] + "y")
        if word.endswith("es"):
            forms.add(word[:-2])
        if word.endswith("s"):
            forms.add(word[:-1])
        if word.endswith("ed"):
            forms.update((word[:-2], word[:-1]))
        if word.endswith("ing"):
            forms.update((word[:-3], word[:-3] + "e"))
    return frozenset(forms)


def split_words(name: str) -> Tuple[str, ...]:
    """Lower-case words of an identifier (or dotted name): snake_case, camelCase, acronyms."""
    return tuple(word.lower() for part in re.split(r"[^A-Za-z0-9]+", name)
                 for word in _SPLIT.findall(part))


def _find_phrase(forms: Sequence[FrozenSet[str]],
                 phrases: Tuple[Tuple[str, ...], ...]) -> Optional[Tuple[str, ...]]:
    """The first phrase (a word sequence) that occurs in a run of word forms. Only the
    phrases whose first word is one of the forms are tried (`_first_words`), in their order."""
    firsts, empty = _first_words(phrases)
    candidates: Set[int] = set(empty)
    for form in forms:
        for word in form:
            found = firsts.get(word)
            if found is not None:
                candidates.update(found)
    for number in sorted(candidates):
        phrase = phrases[number]
        for start in range(len(forms) - len(phrase) + 1):
            if all(word in forms[start + k] for k, word in enumerate(phrase)):
                return phrase
    return None


# The phrase lists' positions by first word, by id of the list (kept alive here, so that its
# id stays its own): the lists are few and fixed, the questions many.
_FIRSTS: Dict[int, Tuple[Tuple[Tuple[str, ...], ...], Dict[str, Tuple[int, ...]], Tuple[int, ...]]] = {}


def _first_words(phrases: Tuple[Tuple[str, ...], ...]) -> Tuple[Dict[str, Tuple[int, ...]], Tuple[int, ...]]:
    """{first word: positions of the phrases starting with it}, and those of empty phrases."""
    found = _FIRSTS.get(id(phrases))
    if found is None or found[0] is not phrases:
        firsts: Dict[str, List[int]] = {}
        for number, phrase in enumerate(phrases):
            if phrase:
                firsts.setdefault(phrase[0], []).append(number)
        empty = tuple(number for number, phrase in enumerate(phrases) if not phrase)
        found = _FIRSTS[id(phrases)] = (phrases, {word: tuple(at) for word, at in firsts.items()}, empty)
    return found[1], found[2]


@dataclass(frozen=True)
class _NameRules:
    """FBG104 heuristics on names and texts; see [critical_names] in the data file."""

    always: Tuple[Tuple[str, ...], ...]
    objects: FrozenSet[str]
    observers: FrozenSet[str]
    verbs: FrozenSet[str]
    context: Tuple[Tuple[str, ...], ...] = ()
    reads: FrozenSet[str] = frozenset()
    texts: Tuple[Tuple[str, ...], ...] = ()

    def judge(self, name: str) -> Optional[str]:
        words = split_words(name)
        forms = [_word_forms(word) for word in words]
        if self._observes(forms) or self._converts(forms) or self._reports_event(words, forms):
            return None
        return self._acts(forms)

    def _reports_event(self, words: Sequence[str], forms: Sequence[FrozenSet[str]]) -> bool:
        """`user_subscription_revoked`, `order_completed`: the name is an event that happened,
        its only verb a past participle at the end; such a function reacts to (reports) the
        event. A participle of an `always` word (`payment_refunded`) still acts."""
        if len(words) < 2 or not words[-1].endswith("ed"):
            return False
        if not (forms[-1] - {words[-1]}) & self.verbs:
            return False
        return not any(form & self.verbs for form in forms[:-1]) \
            and _find_phrase(forms, self.always) is None

    def _acts(self, forms: Sequence[FrozenSet[str]]) -> Optional[str]:
        for i, verb_forms in enumerate(forms):
            verbs = verb_forms & self.verbs
            if not verbs:
                continue
            for j, object_forms in enumerate(forms):
                objects = object_forms & self.objects
                if j != i and objects:
                    return f"name says '{min(verbs)}' + '{min(objects)}'"
        phrase = _find_phrase(forms, self.always)
        return f"name says '{' '.join(phrase)}'" if phrase else None

    def _observes(self, forms: Sequence[FrozenSet[str]]) -> bool:
        return any(form & self.observers for form in forms)

    def _converts(self, forms: Sequence[FrozenSet[str]]) -> bool:
        """`<thing>_from_<source>` builds or reads a thing (`card_credential_from_item`): the
        words before `from` end in neither a verb nor an object, and hold no `always` phrase.
        `charge_from_wallet` and `deduct_credits_from_balance` still act."""
        index = next((i for i, form in enumerate(forms) if "from" in form), 0)
        if index == 0:
            return False
        before = forms[:index]
        acting = self.verbs | self.objects
        return not (before[-1] & acting) and _find_phrase(before, self.always) is None

    def is_observer(self, name: str) -> bool:
        return self._observes([_word_forms(word) for word in split_words(name)])

    def is_read(self, name: str) -> bool:
        """The name says the function only reads: it starts with a read word (`get_`,
        `fetch_`, ...) and the rest does not act (`get_invoice_total`, not
        `fetch_and_process_payments`), or it is a conversion."""
        forms = [_word_forms(word) for word in split_words(name)]
        if not forms:
            return False
        if forms[0] & self.reads:
            return self._acts(forms[1:]) is None
        return self._converts(forms)

    def judge_context(self, name: str) -> Optional[str]:
        """Why the name of the route or helper that schedules a task says the task is part of
        critical work (`forgot_password`, `payment_webhook`), or None (`get_payment`)."""
        forms = [_word_forms(word) for word in split_words(name)]
        if self._observes(forms) or self._converts(forms):
            return None
        phrase = _find_phrase(forms, self.context)
        return f"name says '{' '.join(phrase)}'" if phrase else None

    def judge_text(self, text: str) -> Optional[str]:
        """Why a string the task is given or writes says it is critical mail or work
        (`"Reset your password"`, `"Your payment was received"`), or None."""
        # Exact words: "reseted your password" is a notice that it happened, not a reset link.
        forms = [frozenset((word,)) for word in split_words(text)]
        phrase = _find_phrase(forms, self.texts)
        return f"text says '{' '.join(phrase)}'" if phrase else None


class KnowledgeBase:
    """Validated knowledge about library calls, with fast cached matching.

    Build one with :meth:`default` (the shipped data) or :meth:`from_toml_text`; add user globs
    with :meth:`extended`, which returns a new instance. Instances are never mutated.
    """

    def __init__(self, tables: Mapping[str, Mapping[str, Optional[str]]],
                 offloads: Mapping[str, Offload], returns: Mapping[str, str],
                 names: Mapping[str, Tuple[str, ...]],
                 user: Optional[Mapping[str, Mapping[str, str]]] = None) -> None:
        """Use :meth:`default` or :meth:`from_toml_text`: this takes already validated data."""
        self._builtin = {category: dict(tables.get(category, {})) for category in CATEGORIES}
        self._user = {category: dict((user or {}).get(category, {})) for category in CATEGORIES}
        self._offloads = dict(offloads)
        self._returns = dict(returns)
        self._names = {key: tuple(names.get(key, ())) for key in NAME_LISTS}
        self._matchers = {category: self._build_matcher(category) for category in CATEGORIES}
        self._offload_matcher: _Matcher[Offload] = _Matcher(
            _rule(pattern, offload, _BUILTIN) for pattern, offload in self._offloads.items())
        self._name_rules = _NameRules(
            always=tuple(tuple(entry.split("_")) for entry in self._names["always"]),
            objects=frozenset(self._names["objects"]),
            observers=frozenset(self._names["observers"]),
            verbs=frozenset(self._names["verbs"]),
            context=tuple(tuple(entry.split("_")) for entry in self._names["context"]),
            reads=frozenset(self._names["reads"]),
            texts=tuple(tuple(entry.split("_")) for entry in self._names["texts"]))
        # Bounded per-instance caches: the engine asks about the same names over and over.
        self._match_cached = functools.lru_cache(maxsize=_CACHE_SIZE)(self._match_uncached)
        self._offload_cached = functools.lru_cache(maxsize=_CACHE_SIZE)(self._offload_uncached)
        self._name_cached = functools.lru_cache(maxsize=_CACHE_SIZE)(self._name_rules.judge)

    def _build_matcher(self, category: str) -> _Matcher[Optional[str]]:
        rules = [_rule(pattern, reason, _BUILTIN, exception=reason is None)
                 for pattern, reason in self._builtin[category].items()
                 if pattern not in self._user[category]]
        rules += [_rule(pattern, reason, _USER) for pattern, reason in self._user[category].items()]
        return _Matcher(rules)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def default(cls) -> "KnowledgeBase":
        """The shipped knowledge base, loaded and validated once per process."""
        return _load_default()

    @classmethod
    def from_toml_text(cls, text: str, source: str = "<string>") -> "KnowledgeBase":
        """Parse and validate knowledge-base TOML; raise KnowledgeBaseError when it is invalid."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise KnowledgeBaseError(f"{source}: invalid TOML: {exc}") from None
        return cls(**_validate(data, source))

    def extended(self, category: str, patterns: Iterable[str], reason: str) -> "KnowledgeBase":
        """A new knowledge base with user globs added to a category; they beat built-in ones."""
        _check_category(category)
        if not isinstance(reason, str) or not reason.strip():
            raise KnowledgeBaseError(f"a reason is needed for patterns added to [{category}]")
        user = {name: dict(table) for name, table in self._user.items()}
        for pattern in patterns:
            pattern = pattern.strip()
            if not pattern:
                continue  # "a, , b" in an option
            if not _USER_PATTERN.match(pattern):
                raise KnowledgeBaseError(f"{pattern!r} is not a qualified-name glob")
            user[category][pattern] = reason.strip()
        return KnowledgeBase(self._builtin, self._offloads, self._returns, self._names, user)

    # -- queries -----------------------------------------------------------------------------
    def match(self, category: str, qualname: str) -> Optional[Match]:
        """The most specific pattern of a category matching a qualified name, if any."""
        _check_category(category)
        return self._match_cached(category, qualname)

    def _match_uncached(self, category: str, qualname: str) -> Optional[Match]:
        rule = self._matchers[category].find(qualname)
        if rule is None or rule.value is None:  # no match, or an exception carved it out
            return None
        return Match(rule.pattern, rule.value)

    def offload(self, qualname: str) -> Optional[Offload]:
        """How a call hands work off, when it does."""
        return self._offload_cached(qualname)

    def _offload_uncached(self, qualname: str) -> Optional[Offload]:
        rule = self._offload_matcher.find(qualname)
        return None if rule is None else rule.value

    def returns(self, qualname: str) -> Optional[str]:
        """The type of what a call returns, for the factories the data lists (exact names)."""
        return self._returns.get(qualname)

    def critical_name(self, name: str) -> Optional[str]:
        """Why a task or function name says its work must not be lost, or None."""
        return self._name_cached(name)

    def critical_context(self, name: str) -> Optional[str]:
        """Why the name of the route or helper scheduling a task says the task is critical."""
        return self._name_rules.judge_context(name)

    def critical_text(self, text: str) -> Optional[str]:
        """Why a string given to or written by a task says the task is critical, or None."""
        return self._name_rules.judge_text(text)

    def observer_name(self, name: str) -> bool:
        """The name says the function watches or reports rather than acts (`log_payment`)."""
        return self._name_rules.is_observer(name)

    def read_name(self, name: str) -> bool:
        """The name says the function only reads or converts (`fetch_credential_item`,
        `card_credential_from_item`): its callees' names do not make it critical."""
        return self._name_rules.is_read(name)

    # -- read-only views (tests, docs) -------------------------------------------------------
    def table(self, category: str) -> Mapping[str, Optional[str]]:
        """Pattern -> reason of a category, user patterns included; None marks an exception."""
        _check_category(category)
        merged = {**self._builtin[category], **self._user[category]}
        return MappingProxyType(dict(sorted(merged.items())))

    @property
    def offloads(self) -> Mapping[str, Offload]:
        return MappingProxyType(self._offloads)

    @property
    def return_types(self) -> Mapping[str, str]:
        return MappingProxyType(self._returns)

    @property
    def name_words(self) -> Mapping[str, Tuple[str, ...]]:
        return MappingProxyType(self._names)

    # -- documentation -----------------------------------------------------------------------
    def render_markdown(self) -> str:
        """The full text of docs/knowledge-base.md: deterministic for the same data."""
        out: List[str] = [
            "# Knowledge base",
            "",
            "<!-- Generated from flake8_fastapi_bg/knowledge.toml by "
            "KnowledgeBase.render_markdown(); do not edit by hand. -->",
            "",
            "flake8-fastapi-bg judges what a background task does by the library calls it makes. "
            "These tables list the qualified-name patterns it knows, in fnmatch syntax (`*` "
            "matches across dots), with the reason shown in findings. The most specific pattern "
            "wins: an exact name beats a glob and a longer literal prefix beats a shorter one; "
            "*not flagged* marks an exception carved out of a broader pattern. Add your own with "
            "the `fastapi-bg-cpu-heavy`, `fastapi-bg-long-running` and `fastapi-bg-critical` "
            "options; they win over the built-in patterns.",
        ]
        for category in CATEGORIES:
            title, blurb = _SECTION_DOCS[category]
            out += ["", f"## {title}", "", blurb, "", "| pattern | reason |", "|---|---|"]
            for pattern, reason in self.table(category).items():
                shown = "*not flagged*" if reason is None else _cell(reason)
                out.append(f"| `{_cell(pattern)}` | {shown} |")
        title, blurb = _SECTION_DOCS["offload"]
        out += ["", f"## {title}", "", blurb, "",
                "| pattern | kind | callable argument |", "|---|---|---|"]
        for pattern, offload in sorted(self._offloads.items()):
            where = "none" if offload.callable_arg < 0 else f"position {offload.callable_arg}"
            if offload.callable_kw:
                where += f" or `{offload.callable_kw}=`"
            out.append(f"| `{_cell(pattern)}` | {offload.kind} | {where} |")
        title, blurb = _SECTION_DOCS["returns"]
        out += ["", f"## {title}", "", blurb, "", "| call | result type |", "|---|---|"]
        for call, result in sorted(self._returns.items()):
            out.append(f"| `{_cell(call)}` | `{_cell(result)}` |")
        title, blurb = _SECTION_DOCS["critical_names"]
        out += ["", f"## {title}", "", blurb, ""]
        for key in NAME_LISTS:
            words = ", ".join(f"`{word}`" for word in self._names[key])
            out.append(f"- **{key}**: {words}")
        return "\n".join(out) + "\n"


_SECTION_DOCS: Dict[str, Tuple[str, str]] = {
    "cpu": ("CPU-heavy calls (FBG101)",
            "CPU-bound work: images, PDFs and documents, ML inference, data crunching, "
            "compression, password hashing, audio and video."),
    "blocking": ("Blocking calls (FBG102)",
                 "Blocking I/O, reported when an `async def` task makes it on the event loop. "
                 "Reading or writing file contents counts; single metadata calls such as "
                 "`os.remove` do not."),
    "long": ("Long-running calls (FBG103)",
             "Calls that run for seconds to hours: model APIs, crawls, large transfers, "
             "subprocesses, bulk database work."),
    "repeated": ("Calls long when repeated (FBG103)",
                 "Remote calls that are quick alone but make a task long-running when a `for` or "
                 "`while` loop repeats them: paging through an exchange's history, embedding or "
                 "moderating item by item. Outside a loop they are not reported."),
    "critical": ("Critical calls (FBG104)",
                 "Calls whose work must not be lost: they move money or bill someone."),
    "offload": ("Calls that hand work off",
                "Calls that hand work to a thread pool, process pool, queue or scheduler. The "
                "analysis stops following at them: that work does not run in the task."),
    "returns": ("Factories with known result types",
                "Calls whose result type is tracked, so that method calls on the result get a "
                "qualified name (`boto3.client(\"s3\").upload_file` is "
                "`botocore.client.BaseClient.upload_file`). `X.__call__` is calling an instance "
                "of `X`."),
    "critical_names": ("Task-name heuristics (FBG104)",
                       "A task or function name is split into lower-case words. Any *observer* "
                       "word makes it not critical, and so do a conversion (`<thing>_from_"
                       "<source>` whose words before `from` end in neither verb nor object) and "
                       "an event (`order_completed`: a final past participle is the only verb, "
                       "and not an *always* word); "
                       "otherwise a *verb* with a different *object* word, or any *always* word "
                       "or word sequence, makes it critical. A task whose name is a read (starts "
                       "with a *reads* word and the rest does not act) is not made critical by "
                       "its callees' names. A task whose own name is neither an observer nor a "
                       "read is critical when the route or helper scheduling it has a *context* "
                       "phrase in its name, or when a string it is given or writes has a "
                       "*texts* phrase."),
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _check_category(category: str) -> None:
    if category not in CATEGORIES:
        raise KnowledgeBaseError(f"unknown category {category!r}; expected one of {CATEGORIES}")


# -- validation --------------------------------------------------------------------------------
def _validate(data: Mapping[str, Any], source: str) -> Dict[str, Any]:
    """Check the parsed TOML; return the keyword arguments of KnowledgeBase()."""
    for section in data:
        if section not in SECTIONS:
            raise KnowledgeBaseError(f"{source}: unknown section [{section}]; "
                                     f"expected one of {', '.join(SECTIONS)}")
    for section in SECTIONS:
        if not isinstance(data.get(section, {}), dict):
            raise KnowledgeBaseError(f"{source}: [{section}] must be a table")
    tables = {category: _category_table(data.get(category, {}), f"{source}: [{category}]")
              for category in CATEGORIES}
    return {
        "tables": tables,
        "offloads": _offload_table(data.get("offload", {}), f"{source}: [offload]"),
        "returns": _returns_table(data.get("returns", {}), f"{source}: [returns]"),
        "names": _name_lists(data.get("critical_names", {}), f"{source}: [critical_names]"),
    }


def _check_sorted(keys: Sequence[str], where: str, what: str = "keys") -> None:
    # Sorted data gives every new entry exactly one place and makes duplicates adjacent.
    for before, after in zip(keys, keys[1:]):
        if before >= after:
            raise KnowledgeBaseError(f"{where}: {what} must be sorted and unique: {after!r} "
                                     f"comes after {before!r}")


def _check_pattern(pattern: str, where: str) -> None:
    if not _BUILTIN_PATTERN.match(pattern) or pattern.count("[") != pattern.count("]"):
        raise KnowledgeBaseError(f"{where}: {pattern!r} is not a dotted qualified-name glob "
                                 f"starting with a package name")


def _category_table(table: Mapping[str, Any], where: str) -> Dict[str, Optional[str]]:
    keys = list(table)
    _check_sorted(keys, where)
    result: Dict[str, Optional[str]] = {}
    for pattern in keys:
        _check_pattern(pattern, where)
        reason = table[pattern]
        if reason is False:
            result[pattern] = None  # an exception
        elif isinstance(reason, str) and reason.strip() and reason == reason.strip():
            result[pattern] = reason
        else:
            raise KnowledgeBaseError(f"{where}: {pattern!r} needs a reason: a non-empty string "
                                     f"without surrounding blanks, or false for an exception; "
                                     f"got {reason!r}")
    return result


def _offload_table(table: Mapping[str, Any], where: str) -> Dict[str, Offload]:
    keys = list(table)
    _check_sorted(keys, where)
    result: Dict[str, Offload] = {}
    for pattern in keys:
        _check_pattern(pattern, where)
        entry = table[pattern]
        if not isinstance(entry, dict):
            raise KnowledgeBaseError(f"{where}: {pattern!r} must be an inline table "
                                     f"{{ kind = ..., callable_arg = ... }}")
        unknown = sorted(set(entry) - _OFFLOAD_KEYS)
        if unknown:
            raise KnowledgeBaseError(f"{where}: {pattern!r} has unknown keys {unknown}")
        kind, arg, keyword = entry.get("kind"), entry.get("callable_arg"), entry.get("callable_kw")
        if kind not in OFFLOAD_KINDS:
            raise KnowledgeBaseError(f"{where}: {pattern!r} has kind {kind!r}; expected one of "
                                     f"{', '.join(OFFLOAD_KINDS)}")
        if isinstance(arg, bool) or not isinstance(arg, int) or arg < -1:
            raise KnowledgeBaseError(f"{where}: {pattern!r} needs callable_arg, an integer >= -1; "
                                     f"got {arg!r}")
        if keyword is not None and not (isinstance(keyword, str) and keyword.isidentifier()):
            raise KnowledgeBaseError(f"{where}: {pattern!r} has callable_kw {keyword!r}; "
                                     f"expected an identifier")
        result[pattern] = Offload(pattern, kind, arg, keyword)
    return result


def _returns_table(table: Mapping[str, Any], where: str) -> Dict[str, str]:
    keys = list(table)
    _check_sorted(keys, where)
    for call in keys:
        result = table[call]
        if not _DOTTED_NAME.match(call):
            raise KnowledgeBaseError(f"{where}: {call!r} must be an exact dotted name (no globs)")
        if not isinstance(result, str) or not _DOTTED_NAME.match(result):
            raise KnowledgeBaseError(f"{where}: {call!r} must map to a dotted type name; "
                                     f"got {result!r}")
    return dict(table)


def _name_lists(table: Mapping[str, Any], where: str) -> Dict[str, Tuple[str, ...]]:
    unknown = sorted(set(table) - set(NAME_LISTS))
    if unknown:
        raise KnowledgeBaseError(f"{where}: unknown keys {unknown}; expected {', '.join(NAME_LISTS)}")
    result: Dict[str, Tuple[str, ...]] = {}
    for key in NAME_LISTS:
        words = table.get(key, [])
        shape = _WORDS if key in _PHRASE_LISTS else _WORD
        valid = isinstance(words, list) and all(isinstance(w, str) and shape.match(w) for w in words)
        if not valid:
            raise KnowledgeBaseError(f"{where}: {key} must be a list of lower-case "
                                     f"{'snake_case words' if key in _PHRASE_LISTS else 'words'}")
        _check_sorted(words, f"{where} {key}", what="words")
        result[key] = tuple(words)
    acting = set(result["verbs"]) | set(result["objects"]) | {
        word for key in ("always", "context") for entry in result[key] for word in entry.split("_")}
    clash = sorted(acting & set(result["observers"]))
    if clash:
        raise KnowledgeBaseError(f"{where}: observers also listed as acting words: {clash}")
    return result


@functools.lru_cache(maxsize=None)
def _load_default() -> KnowledgeBase:
    # Beside this module, as the cache's fingerprint reads it (cache.settings_digest); not through
    # importlib.resources, whose import (tempfile, shutil, zipfile...) the standalone command
    # would pay for this one file.
    text = Path(__file__).with_name(_DATA_FILE).read_text(encoding="utf-8")
    return KnowledgeBase.from_toml_text(text, source=_DATA_FILE)


__all__ = ["CATEGORIES", "OFFLOAD_KINDS", "KnowledgeBase", "KnowledgeBaseError", "Match",
           "Offload", "split_words"]
