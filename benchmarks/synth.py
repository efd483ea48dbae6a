"""Generate a synthetic, realistic FastAPI project for benchmarking flake8-fastapi-bg.

The tree looks like a mid-sized production app::

    <root>/pyproject.toml            project marker, so cross-module targets resolve
    <root>/app/__init__.py, main.py, config.py, db.py, deps.py
    <root>/app/{routes,services,models,schemas,utils,tasks}/...

Each "domain" (invoice_17, order_42, ...) has a model, a schema, a service and a route module;
around them sit utility and task modules. Generated modules are 80-150 lines of ordinary
code: SQLAlchemy models, pydantic schemas, service classes with queries, route functions with
`Depends`, helpers with comprehensions and docstrings.

About `site_share` (default 2%) of the modules are routes that schedule background work. Their
targets mostly live elsewhere: `app.tasks.emails.send_welcome` (which reaches
`app.utils.mailer` and `app.utils.templating`), `app.services.images.resize_image` (PIL),
methods of service objects, package re-exports (`from app.tasks import notify_admins`),
generated task modules (some of them blocking inside `async def`), local webhooks and a
Starlette `BackgroundTask` attached to a response. A few other modules say "background" in
other senses (CSS in strings, `background: str` fields) so the plugin's text pre-filter lets
them through without them holding a task site.

Generation is deterministic for a given (modules, seed, site_share). Usage::

    from synth import generate
    stats = generate(Path("/tmp/app1000"), modules=1000, seed=0)
"""

from __future__ import annotations

import random
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, FrozenSet, Iterable, List, Sequence, Set, Tuple

__all__ = ["Block", "SynthStats", "generate", "plan_counts"]

SUBPACKAGES = ("routes", "services", "models", "schemas", "utils", "tasks")
NOUNS = (
    "user", "invoice", "order", "product", "customer", "payment", "shipment",
    "review", "coupon", "ticket", "project", "comment", "report", "subscription",
    "warehouse", "supplier", "category", "campaign", "message", "document",
    "device", "team", "lead", "contract", "asset", "booking", "event", "refund",
    "vendor", "quote",
)
STDLIB = frozenset({
    "asyncio", "csv", "dataclasses", "datetime", "decimal", "email.message", "enum",
    "functools", "hashlib", "io", "json", "logging", "os", "pathlib", "re", "smtplib",
    "string", "time", "typing", "uuid",
})
# Site variants and their weights: see `_site_block`.
SITE_VARIANTS = (("email", 20), ("image", 10), ("method", 20), ("reexport", 10),
                 ("generated", 25), ("webhook", 10), ("response", 5))
TASK_FUNCS_PER_MODULE = 3
# Chance that a schema module has a `background: str` colour field, and that a utility module
# builds CSS with "background-color": about 1% of all modules each.
THEME_SHARE = 0.05
CSS_SHARE = 0.10

Imports = FrozenSet[Tuple[str, str]]


@dataclass(frozen=True)
class Block:
    """A top-level chunk of code and the imports it needs: ("", "x") is `import x`."""

    code: str
    imports: Imports = frozenset()

    @property
    def lines(self) -> int:
        return self.code.count("\n") + 1


@dataclass
class SynthStats:
    """What `generate` wrote."""

    root: Path
    modules: int = 0
    lines: int = 0
    site_modules: int = 0
    site_calls: int = 0
    background_word_modules: int = 0
    variants: Dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Domain:
    """One business entity with its model, schema, service and route modules."""

    index: int
    noun: str

    @property
    def mod(self) -> str:
        return f"{self.noun}_{self.index}"

    @property
    def cls(self) -> str:
        return "".join(part.capitalize() for part in self.noun.split("_")) + str(self.index)

    @property
    def table(self) -> str:
        return f"{self.noun}s_{self.index}"


@dataclass
class Plan:
    """Names of every generated module, decided before any is written."""

    domains: List[Domain]
    utils: List[int]
    tasks: List[int]
    site_domains: Set[int]


def _imp(*pairs: str) -> Imports:
    """`_imp("typing:List", "logging")` -> {("typing", "List"), ("", "logging")}."""
    out = set()
    for pair in pairs:
        module, _, name = pair.partition(":")
        out.add((module, name) if name else ("", module))
    return frozenset(out)


def _code(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


# --------------------------------------------------------------------------- imports

def _group(module: str) -> int:
    if module.startswith("app"):
        return 2
    return 0 if module.split(".")[0] in STDLIB or module in STDLIB else 1


def _render_imports(imports: Iterable[Tuple[str, str]]) -> str:
    """isort-like rendering: stdlib, third party, first party; wrapped under 80 columns."""
    plain: Dict[int, Set[str]] = {0: set(), 1: set(), 2: set()}
    froms: Dict[int, Dict[str, Set[str]]] = {0: {}, 1: {}, 2: {}}
    for module, name in imports:
        if module == "":
            plain[_group(name)].add(name)
        else:
            froms[_group(module)].setdefault(module, set()).add(name)
    sections = []
    for group in (0, 1, 2):
        lines = [f"import {name}" for name in sorted(plain[group])]
        for module in sorted(froms[group]):
            names = sorted(froms[group][module])
            one = f"from {module} import {', '.join(names)}"
            if len(one) <= 79:
                lines.append(one)
            else:
                body = "".join(f"    {name},\n" for name in names)
                lines.append(f"from {module} import (\n{body})")
        if lines:
            sections.append("\n".join(lines))
    return "\n\n".join(sections)


def _render_module(doc: str, blocks: Sequence[Block], preamble: Sequence[str] = ()) -> str:
    """Docstring, imports, module-level statements, then blocks two blank lines apart."""
    imports: Set[Tuple[str, str]] = set()
    for block in blocks:
        imports |= block.imports
    parts = [f'"""{doc}"""']
    rendered = _render_imports(imports)
    if rendered:
        parts.append(rendered)
    if preamble:
        parts.append("\n".join(preamble))
    text = "\n\n".join(parts)
    for block in blocks:
        text += "\n\n\n" + block.code
    return text + "\n"


def _fill(blocks: List[Block], target: int, pad: Callable[[int], Block], header: int) -> None:
    """Append padding blocks until the module reaches about `target` lines."""
    k = 0
    while header + sum(block.lines + 2 for block in blocks) < target:
        blocks.append(pad(k))
        k += 1


# --------------------------------------------------------------------------- plan

FIXED_MODULES = (
    "app/__init__.py", "app/main.py", "app/config.py", "app/db.py", "app/deps.py",
    *(f"app/{sub}/__init__.py" for sub in SUBPACKAGES),
    "app/services/images.py", "app/tasks/emails.py", "app/tasks/notifications.py",
    "app/utils/mailer.py", "app/utils/templating.py",
)


def plan_counts(modules: int) -> Tuple[int, int, int]:
    """(domains, utils modules, task modules) so that the tree holds exactly `modules` files.

    Each domain is four modules (model, schema, service, route); the rest are utilities and
    generated task modules. Needs at least len(FIXED_MODULES) + 8 modules.
    """
    rest = modules - len(FIXED_MODULES)
    if rest < 8:
        raise ValueError(f"need at least {len(FIXED_MODULES) + 8} modules, got {modules}")
    tasks = max(2, round(rest * 0.04))
    utils = max(2, round(rest * 0.10))
    domains = (rest - tasks - utils) // 4
    utils = rest - tasks - 4 * domains
    return domains, utils, tasks


def _plan(modules: int, rng: random.Random, site_share: float) -> Plan:
    n_domains, n_utils, n_tasks = plan_counts(modules)
    domains = [Domain(i, NOUNS[i % len(NOUNS)]) for i in range(n_domains)]
    n_sites = min(n_domains, max(1, round(modules * site_share))) if site_share > 0 else 0
    site_domains = set(rng.sample(range(n_domains), n_sites))
    return Plan(domains, list(range(n_utils)), list(range(n_tasks)), site_domains)


# --------------------------------------------------------------------------- models

def _model_main(d: Domain) -> Block:
    return Block(_code(f'''
        class {d.cls}(Base):
            """A {d.noun} stored in the ``{d.table}`` table."""

            __tablename__ = "{d.table}"

            id = Column(Integer, primary_key=True, index=True)
            name = Column(String(120), nullable=False)
            slug = Column(String(140), unique=True, index=True)
            description = Column(Text, default="")
            owner_id = Column(Integer, ForeignKey("users.id"), index=True)
            status = Column(String(32), default="draft", nullable=False)
            amount = Column(Numeric(12, 2), default=0)
            is_active = Column(Boolean, default=True)
            created_at = Column(DateTime, default=datetime.utcnow)
            updated_at = Column(DateTime, onupdate=datetime.utcnow)

            lines = relationship("{d.cls}Line", back_populates="parent")

            def __repr__(self) -> str:
                return f"<{d.cls} id={{self.id}} status={{self.status}}>"

            @property
            def is_draft(self) -> bool:
                """Whether the {d.noun} has not been published yet."""
                return self.status == "draft"

            def total(self) -> Decimal:
                """Sum of the line amounts."""
                return sum((line.subtotal for line in self.lines), Decimal(0))

            def to_dict(self) -> Dict[str, Any]:
                """A plain dict for logging and exports."""
                return {{
                    "id": self.id,
                    "name": self.name,
                    "status": self.status,
                    "amount": str(self.amount),
                }}
    '''), _imp("datetime:datetime", "decimal:Decimal", "typing:Any", "typing:Dict",
               "sqlalchemy:Boolean", "sqlalchemy:Column", "sqlalchemy:DateTime",
               "sqlalchemy:ForeignKey", "sqlalchemy:Integer", "sqlalchemy:Numeric",
               "sqlalchemy:String", "sqlalchemy:Text", "sqlalchemy.orm:relationship",
               "app.db:Base"))


def _model_line(d: Domain) -> Block:
    return Block(_code(f'''
        class {d.cls}Line(Base):
            """One line of a {d.noun}."""

            __tablename__ = "{d.table}_lines"

            id = Column(Integer, primary_key=True)
            parent_id = Column(
                Integer, ForeignKey("{d.table}.id"), nullable=False
            )
            label = Column(String(200), nullable=False)
            quantity = Column(Integer, default=1)
            amount = Column(Numeric(12, 2), default=0)

            parent = relationship("{d.cls}", back_populates="lines")

            @property
            def subtotal(self) -> Decimal:
                """Amount times quantity."""
                return self.amount * self.quantity
    '''), _imp("decimal:Decimal", "sqlalchemy:Column", "sqlalchemy:ForeignKey",
               "sqlalchemy:Integer", "sqlalchemy:Numeric", "sqlalchemy:String",
               "sqlalchemy.orm:relationship", "app.db:Base"))


def _model_status(d: Domain) -> Block:
    return Block(_code(f'''
        class {d.cls}Status(str, enum.Enum):
            """Lifecycle of a {d.noun}."""

            DRAFT = "draft"
            ACTIVE = "active"
            ARCHIVED = "archived"

            @classmethod
            def visible(cls) -> List[str]:
                """Statuses shown in listings."""
                return [s.value for s in cls if s is not cls.ARCHIVED]
    '''), _imp("enum", "typing:List"))


def _model_pad(d: Domain, k: int) -> Block:
    return Block(_code(f'''
        class {d.cls}Event{k}(Base):
            """Audit trail entry (kind {k}) for {d.noun}s."""

            __tablename__ = "{d.table}_events_{k}"

            id = Column(Integer, primary_key=True)
            parent_id = Column(
                Integer, ForeignKey("{d.table}.id"), index=True
            )
            kind = Column(String(40), nullable=False)
            payload = Column(Text, default="{{}}")
            created_at = Column(DateTime, default=datetime.utcnow)

            def summary(self) -> str:
                """A one-line description for the admin list."""
                when = self.created_at.strftime("%Y-%m-%d %H:%M")
                return f"{{self.kind}} at {{when}}"

            def decoded(self) -> Dict[str, Any]:
                """The JSON payload, or an empty dict when it is broken."""
                try:
                    return json.loads(self.payload or "{{}}")
                except ValueError:
                    return {{}}
    '''), _imp("datetime:datetime", "json", "typing:Any", "typing:Dict",
               "sqlalchemy:Column", "sqlalchemy:DateTime", "sqlalchemy:ForeignKey",
               "sqlalchemy:Integer", "sqlalchemy:String", "sqlalchemy:Text", "app.db:Base"))


def _model_module(d: Domain, rng: random.Random) -> str:
    blocks = [_model_status(d), _model_main(d), _model_line(d)]
    _fill(blocks, rng.randint(80, 140), lambda k: _model_pad(d, k), 22)
    return _render_module(f"Database models for {d.noun}s.", blocks)


# --------------------------------------------------------------------------- schemas

def _schema_core(d: Domain) -> List[Block]:
    base = Block(_code(f'''
        class {d.cls}Base(BaseModel):
            """Fields shared by every {d.noun} schema."""

            name: str = Field(..., min_length=1, max_length=120)
            description: str = ""
            status: str = "draft"
            amount: Decimal = Decimal("0")

            @field_validator("name")
            @classmethod
            def strip_name(cls, value: str) -> str:
                value = value.strip()
                if not value:
                    raise ValueError("name must not be blank")
                return value
    '''), _imp("decimal:Decimal", "pydantic:BaseModel", "pydantic:Field",
               "pydantic:field_validator"))
    create = Block(_code(f'''
        class {d.cls}Create({d.cls}Base):
            """Payload for creating a {d.noun}."""

            tags: List[str] = Field(default_factory=list)
    '''), _imp("typing:List", "pydantic:Field"))
    update = Block(_code(f'''
        class {d.cls}Update(BaseModel):
            """Partial update; every field is optional."""

            name: Optional[str] = None
            description: Optional[str] = None
            status: Optional[str] = None
            amount: Optional[Decimal] = None
    '''), _imp("decimal:Decimal", "typing:Optional", "pydantic:BaseModel"))
    read = Block(_code(f'''
        class {d.cls}Read({d.cls}Base):
            """A {d.noun} as returned by the API."""

            model_config = ConfigDict(from_attributes=True)

            id: int
            owner_id: int
            created_at: datetime
            updated_at: Optional[datetime] = None
    '''), _imp("datetime:datetime", "typing:Optional", "pydantic:ConfigDict"))
    return [base, create, update, read]


def _schema_theme(d: Domain) -> Block:
    """Mentions "background" as a colour: passes the text pre-filter, holds no task."""
    return Block(_code(f'''
        class {d.cls}Theme(BaseModel):
            """Display settings for {d.noun} pages."""

            background: str = "#ffffff"
            foreground: str = "#222222"
            accent: str = "#0b5fff"

            def css(self) -> str:
                """Inline style for the page body."""
                return f"background: {{self.background}}; color: {{self.foreground}};"
    '''), _imp("pydantic:BaseModel"))


def _schema_pad(d: Domain, k: int) -> Block:
    return Block(_code(f'''
        class {d.cls}Filter{k}(BaseModel):
            """Query filter (variant {k}) for listing {d.noun}s."""

            q: Optional[str] = None
            status: Optional[str] = None
            min_amount: Optional[Decimal] = None
            max_amount: Optional[Decimal] = None
            order_by: str = "created_at"

            def clauses(self) -> Dict[str, Any]:
                """The non-empty filters as keyword arguments."""
                return {{
                    key: value
                    for key, value in self.model_dump().items()
                    if value is not None and key != "order_by"
                }}
    '''), _imp("decimal:Decimal", "typing:Any", "typing:Dict", "typing:Optional",
               "pydantic:BaseModel"))


def _schema_module(d: Domain, rng: random.Random) -> Tuple[str, bool]:
    blocks = _schema_core(d)
    themed = rng.random() < THEME_SHARE
    if themed:
        blocks.append(_schema_theme(d))
    _fill(blocks, rng.randint(80, 140), lambda k: _schema_pad(d, k), 12)
    return _render_module(f"Request and response schemas for {d.noun}s.", blocks), themed


# --------------------------------------------------------------------------- services

def _service_class(d: Domain, util: int) -> Block:
    return Block(_code(f'''
        class {d.cls}Service:
            """Business logic for {d.noun}s; one instance per request."""

            def __init__(self, db: Session) -> None:
                self.db = db

            def get(self, item_id: int) -> Optional[{d.cls}]:
                """The {d.noun} with `item_id`, or None."""
                query = self.db.query({d.cls})
                return query.filter({d.cls}.id == item_id).first()

            def list_for_owner(
                self, owner_id: int, offset: int = 0, limit: int = 50
            ) -> List[{d.cls}]:
                """The owner's {d.noun}s, newest first."""
                model = {d.cls}
                return (
                    self.db.query(model)
                    .filter(model.owner_id == owner_id, model.is_active.is_(True))
                    .order_by(model.created_at.desc())
                    .offset(offset)
                    .limit(limit)
                    .all()
                )

            def create(
                self, payload: {d.cls}Create, owner_id: int
            ) -> {d.cls}:
                """Insert a new {d.noun} owned by `owner_id`."""
                data = payload.model_dump(exclude={{"tags"}})
                item = {d.cls}(**data, owner_id=owner_id)
                item.slug = slugify_{util}(item.name)
                self.db.add(item)
                self.db.commit()
                self.db.refresh(item)
                logger.info("created {d.noun} %s", item.id)
                return item

            def update(
                self, item: {d.cls}, payload: {d.cls}Update
            ) -> {d.cls}:
                """Apply the fields that were sent."""
                changes = payload.model_dump(exclude_unset=True)
                for name, value in changes.items():
                    setattr(item, name, value)
                self.db.commit()
                return item

            def delete(self, item: {d.cls}) -> None:
                """Soft-delete: the row stays for the audit trail."""
                item.is_active = False
                self.db.commit()

            def search(self, text: str, limit: int = 20) -> List[{d.cls}]:
                """Case-insensitive name search."""
                pattern = f"%{{text.strip()}}%"
                query = self.db.query({d.cls})
                query = query.filter({d.cls}.name.ilike(pattern))
                return query.limit(limit).all()

            def recalculate_totals(self, item_id: int) -> None:
                """Recompute the stored amount from the lines."""
                item = self.get(item_id)
                if item is None:
                    return
                item.amount = item.total()
                self.db.commit()

            def stats(self, owner_id: int) -> Dict[str, int]:
                """How many of the owner's {d.noun}s are in each status."""
                counts: Dict[str, int] = {{}}
                for item in self.list_for_owner(owner_id, limit=1000):
                    counts[item.status] = counts.get(item.status, 0) + 1
                return counts
    '''), _imp("typing:Dict", "typing:List", "typing:Optional", "sqlalchemy.orm:Session",
               f"app.models.{d.mod}:{d.cls}", f"app.schemas.{d.mod}:{d.cls}Create",
               f"app.schemas.{d.mod}:{d.cls}Update", f"app.utils.util_{util}:slugify_{util}"))


def _service_pad(d: Domain, k: int) -> Block:
    return Block(_code(f'''
        class {d.cls}Exporter{k}:
            """Writes {d.noun}s as CSV rows (layout {k})."""

            columns = ("id", "name", "status", "amount")

            def __init__(self, service: {d.cls}Service) -> None:
                self.service = service

            def rows(self, owner_id: int) -> List[List[str]]:
                """One list of strings per {d.noun}."""
                items = self.service.list_for_owner(owner_id, limit=500)
                return [
                    [str(getattr(item, column)) for column in self.columns]
                    for item in items
                ]

            def render(self, owner_id: int) -> str:
                """The CSV document, header first."""
                buffer = io.StringIO()
                writer = csv.writer(buffer)
                writer.writerow(self.columns)
                writer.writerows(self.rows(owner_id))
                return buffer.getvalue()
    '''), _imp("csv", "io", "typing:List"))


def _service_module(d: Domain, rng: random.Random, n_utils: int) -> str:
    blocks = [_service_class(d, rng.randrange(n_utils))]
    _fill(blocks, rng.randint(80, 140), lambda k: _service_pad(d, k), 16)
    blocks[0] = Block(blocks[0].code, blocks[0].imports | _imp("logging"))
    return _render_module(f"Service layer for {d.noun}s.", blocks,
                          ["logger = logging.getLogger(__name__)"])


# --------------------------------------------------------------------------- routes

def _route_core(d: Domain) -> List[Block]:
    svc = f"app.services.{d.mod}:{d.cls}Service"
    sch = f"app.schemas.{d.mod}"
    common = ("fastapi:Depends", "sqlalchemy.orm:Session", "app.db:get_db", svc)
    helper = Block(_code(f'''
        def _get_or_404(service: {d.cls}Service, item_id: int) -> Any:
            """The {d.noun}, or a 404 for the client."""
            item = service.get(item_id)
            if item is None:
                raise HTTPException(status_code=404, detail="{d.noun} not found")
            return item
    '''), _imp("typing:Any", "fastapi:HTTPException", svc))
    listing = Block(_code(f'''
        @router.get("/", response_model=List[{d.cls}Read])
        def list_{d.noun}s(
            pagination: Pagination = Depends(),
            db: Session = Depends(get_db),
            user: CurrentUser = Depends(get_current_user),
        ) -> List[{d.cls}Read]:
            """List the {d.noun}s visible to the current user."""
            service = {d.cls}Service(db)
            items = service.list_for_owner(
                user.id, offset=pagination.offset, limit=pagination.limit
            )
            return [{d.cls}Read.model_validate(item) for item in items]
    '''), _imp("typing:List", f"{sch}:{d.cls}Read", "app.deps:Pagination",
               "app.deps:CurrentUser", "app.deps:get_current_user", *common))
    detail = Block(_code(f'''
        @router.get("/{{item_id}}", response_model={d.cls}Read)
        def get_{d.noun}(item_id: int, db: Session = Depends(get_db)) -> Any:
            """One {d.noun} by id."""
            return _get_or_404({d.cls}Service(db), item_id)
    '''), _imp("typing:Any", f"{sch}:{d.cls}Read", *common))
    create = Block(_code(f'''
        @router.post("/", response_model={d.cls}Read, status_code=201)
        def create_{d.noun}(
            payload: {d.cls}Create,
            db: Session = Depends(get_db),
            user: CurrentUser = Depends(get_current_user),
        ) -> Any:
            """Create a {d.noun} owned by the current user."""
            return {d.cls}Service(db).create(payload, owner_id=user.id)
    '''), _imp("typing:Any", f"{sch}:{d.cls}Read", f"{sch}:{d.cls}Create",
               "app.deps:CurrentUser", "app.deps:get_current_user", *common))
    update = Block(_code(f'''
        @router.patch("/{{item_id}}", response_model={d.cls}Read)
        def update_{d.noun}(
            item_id: int,
            payload: {d.cls}Update,
            db: Session = Depends(get_db),
        ) -> Any:
            """Change some fields of a {d.noun}."""
            service = {d.cls}Service(db)
            item = _get_or_404(service, item_id)
            return service.update(item, payload)
    '''), _imp("typing:Any", f"{sch}:{d.cls}Read", f"{sch}:{d.cls}Update", *common))
    delete = Block(_code(f'''
        @router.delete("/{{item_id}}", status_code=204)
        def delete_{d.noun}(item_id: int, db: Session = Depends(get_db)) -> None:
            """Archive a {d.noun}."""
            service = {d.cls}Service(db)
            service.delete(_get_or_404(service, item_id))
    '''), _imp(*common))
    search = Block(_code(f'''
        @router.get("/search/", response_model=List[{d.cls}Read])
        def search_{d.noun}s(
            q: str = Query(..., min_length=2),
            limit: int = Query(20, ge=1, le=100),
            db: Session = Depends(get_db),
        ) -> Any:
            """Search {d.noun}s by name."""
            found = {d.cls}Service(db).search(q, limit=limit)
            return sorted(found, key=lambda item: item.name.lower())
    '''), _imp("typing:Any", "typing:List", "fastapi:Query", f"{sch}:{d.cls}Read", *common))
    return [helper, listing, detail, create, update, delete, search]


def _route_pad(d: Domain, k: int) -> Block:
    return Block(_code(f'''
        @router.get("/{{item_id}}/history-{k}")
        def {d.noun}_history_{k}(
            item_id: int,
            limit: int = Query(20, ge=1, le=100),
            db: Session = Depends(get_db),
        ) -> List[Dict[str, Any]]:
            """Recent field values of one {d.noun} (view {k})."""
            item = _get_or_404({d.cls}Service(db), item_id)
            fields = sorted(item.to_dict().items())
            return [{{"field": key, "value": value}} for key, value in fields][:limit]
    '''), _imp("typing:Any", "typing:Dict", "typing:List", "fastapi:Depends",
               "fastapi:Query", "sqlalchemy.orm:Session", "app.db:get_db",
               f"app.services.{d.mod}:{d.cls}Service"))


def _site_block(d: Domain, k: int, variant: str, rng: random.Random,
                plan: Plan) -> List[Block]:
    """An endpoint that schedules work after the response; see SITE_VARIANTS."""
    svc = f"app.services.{d.mod}:{d.cls}Service"
    base = ("fastapi:BackgroundTasks", "fastapi:Depends", "typing:Dict",
            "sqlalchemy.orm:Session", "app.db:get_db", svc)
    user = ("app.deps:CurrentUser", "app.deps:get_current_user")
    if variant == "email":
        return [Block(_code(f'''
            @router.post("/{{item_id}}/share-{k}", status_code=202)
            def share_{d.noun}_{k}(
                item_id: int,
                background_tasks: BackgroundTasks,
                db: Session = Depends(get_db),
                user: CurrentUser = Depends(get_current_user),
            ) -> Dict[str, str]:
                """Share a {d.noun}; the e-mail goes out after the response."""
                item = _get_or_404({d.cls}Service(db), item_id)
                background_tasks.add_task(send_welcome, user.email, item.name)
                return {{"status": "queued"}}
        '''), _imp(*base, *user, "app.tasks.emails:send_welcome"))]
    if variant == "image":
        return [Block(_code(f'''
            @router.post("/{{item_id}}/images-{k}", status_code=202)
            async def upload_{d.noun}_image_{k}(
                item_id: int,
                background_tasks: BackgroundTasks,
                file: UploadFile = File(...),
            ) -> Dict[str, Any]:
                """Store an upload and make its thumbnails later."""
                path = MEDIA_ROOT / f"{d.noun}-{{item_id}}-{{file.filename}}"
                path.write_bytes(await file.read())
                background_tasks.add_task(resize_image, path, (640, 480))
                return {{"path": str(path), "queued": True}}
        '''), _imp("fastapi:BackgroundTasks", "fastapi:File", "fastapi:UploadFile",
                   "typing:Any", "typing:Dict", "app.services.images:MEDIA_ROOT",
                   "app.services.images:resize_image"))]
    if variant == "method":
        return [Block(_code(f'''
            @router.post("/{{item_id}}/recalculate-{k}", status_code=202)
            def recalculate_{d.noun}_{k}(
                item_id: int,
                background_tasks: BackgroundTasks,
                db: Session = Depends(get_db),
            ) -> Dict[str, str]:
                """Recompute totals once the response is sent."""
                service = {d.cls}Service(db)
                background_tasks.add_task(service.recalculate_totals, item_id)
                return {{"status": "accepted"}}
        '''), _imp(*base))]
    if variant == "reexport":
        return [Block(_code(f'''
            @router.delete("/{{item_id}}/purge-{k}", status_code=204)
            def purge_{d.noun}_{k}(
                item_id: int,
                background_tasks: BackgroundTasks,
                db: Session = Depends(get_db),
                user: CurrentUser = Depends(get_current_user),
            ) -> None:
                """Purge a {d.noun} and tell the admins later."""
                service = {d.cls}Service(db)
                service.delete(_get_or_404(service, item_id))
                background_tasks.add_task(
                    notify_admins, f"{d.noun} {{item_id}} purged by {{user.email}}"
                )
        '''), _imp(*[b for b in base if b != "typing:Dict"], *user,
                   "app.tasks:notify_admins"))]
    if variant == "generated":
        task_mod = rng.choice(plan.tasks)
        func = f"sync_record_{task_mod}_{rng.randrange(TASK_FUNCS_PER_MODULE)}"
        return [Block(_code(f'''
            @router.post("/{{item_id}}/sync-{k}", status_code=202)
            def sync_{d.noun}_{k}(
                item_id: int,
                background_tasks: BackgroundTasks,
                user: CurrentUser = Depends(get_current_user),
            ) -> Dict[str, Any]:
                """Push the {d.noun} to the partner system after the response."""
                background_tasks.add_task({func}, item_id, user.id)
                return {{"item_id": item_id, "queued": True}}
        '''), _imp("fastapi:BackgroundTasks", "fastapi:Depends", "typing:Any",
                   "typing:Dict", *user, f"app.tasks.jobs_{task_mod}:{func}"))]
    if variant == "webhook":
        hook = Block(_code(f'''
            async def _post_webhook_{k}(url: str, payload: Dict[str, Any]) -> None:
                """Deliver one event; errors end up in the server log."""
                async with httpx.AsyncClient(timeout=10) as client:
                    response = await client.post(url, json=payload)
                    response.raise_for_status()
        '''), _imp("httpx", "typing:Any", "typing:Dict"))
        route = Block(_code(f'''
            @router.post("/{{item_id}}/publish-{k}")
            async def publish_{d.noun}_{k}(
                item_id: int,
                background_tasks: BackgroundTasks,
                db: Session = Depends(get_db),
            ) -> Dict[str, Any]:
                """Publish a {d.noun} and call the configured webhook."""
                item = _get_or_404({d.cls}Service(db), item_id)
                payload = {{"id": item.id, "event": "published"}}
                background_tasks.add_task(
                    _post_webhook_{k}, settings.webhook_url, payload
                )
                return payload
        '''), _imp(*base, "typing:Any", "app.config:settings"))
        return [hook, route]
    if variant == "response":
        return [Block(_code(f'''
            @router.get("/{{item_id}}/report-{k}")
            def {d.noun}_report_{k}(
                item_id: int,
                db: Session = Depends(get_db),
                user: CurrentUser = Depends(get_current_user),
            ) -> JSONResponse:
                """Return a report and log the access afterwards."""
                item = _get_or_404({d.cls}Service(db), item_id)
                task = BackgroundTask(record_access, user.id, "{d.noun}", item_id)
                return JSONResponse(item.to_dict(), background=task)
        '''), _imp("fastapi:Depends", "fastapi.responses:JSONResponse",
                   "starlette.background:BackgroundTask", "sqlalchemy.orm:Session",
                   "app.db:get_db", svc, *user, "app.tasks.notifications:record_access"))]
    raise ValueError(f"unknown site variant {variant!r}")


def _route_module(d: Domain, rng: random.Random, plan: Plan,
                  variants: Dict[str, int]) -> Tuple[str, int]:
    blocks = _route_core(d)
    sites = 0
    if d.index in plan.site_domains:
        names = [name for name, _ in SITE_VARIANTS]
        weights = [weight for _, weight in SITE_VARIANTS]
        sites = rng.choices((1, 2, 3), weights=(60, 30, 10))[0]
        for k, variant in enumerate(rng.choices(names, weights=weights, k=sites)):
            blocks.extend(_site_block(d, k, variant, rng, plan))
            variants[variant] = variants.get(variant, 0) + 1
    _fill(blocks, rng.randint(80, 140), lambda k: _route_pad(d, k), 14)
    blocks[0] = Block(blocks[0].code, blocks[0].imports | _imp("fastapi:APIRouter"))
    preamble = [f'router = APIRouter(prefix="/{d.noun}s-{d.index}", tags=["{d.noun}s"])']
    return _render_module(f"HTTP endpoints for {d.noun}s.", blocks, preamble), sites


# --------------------------------------------------------------------------- utils

def _util_core(u: int) -> List[Block]:
    return [
        Block(_code(f'''
            def slugify_{u}(text: str, max_length: int = 120) -> str:
                """Lower-case, ASCII, dash-separated: "Hello World!" -> "hello-world"."""
                words = re.findall(r"[a-z0-9]+", text.lower())
                return "-".join(words)[:max_length].strip("-")
        '''), _imp("re")),
        Block(_code(f'''
            def chunked_{u}(items: Sequence[T], size: int) -> Iterator[List[T]]:
                """Consecutive slices of `items`, each at most `size` long."""
                if size < 1:
                    raise ValueError("size must be positive")
                for start in range(0, len(items), size):
                    yield list(items[start:start + size])
        '''), _imp("typing:Iterator", "typing:List", "typing:Sequence", "typing:TypeVar")),
        Block(_code(f'''
            def parse_bool_{u}(value: Optional[str], default: bool = False) -> bool:
                """Read a yes/no flag from a header, a query string or the env."""
                if value is None:
                    return default
                return value.strip().lower() in {{"1", "true", "yes", "on"}}
        '''), _imp("typing:Optional")),
        Block(_code(f'''
            def format_money_{u}(amount: Decimal, currency: str = "EUR") -> str:
                """Two decimals and a currency code: 1234.5 -> "1,234.50 EUR"."""
                rounded = amount.quantize(Decimal("0.01"))
                return f"{{rounded:,}} {{currency}}"
        '''), _imp("decimal:Decimal")),
        Block(_code(f'''
            def retry_{u}(times: int = 3) -> Callable[[F], F]:
                """Retry a function on ConnectionError, re-raising the last one."""

                def decorate(func: F) -> F:
                    @functools.wraps(func)
                    def wrapper(*args: Any, **kwargs: Any) -> Any:
                        for attempt in range(times):
                            try:
                                return func(*args, **kwargs)
                            except ConnectionError:
                                if attempt == times - 1:
                                    raise
                        return None

                    return wrapper  # type: ignore[return-value]

                return decorate
        '''), _imp("functools", "typing:Any", "typing:Callable")),
    ]


def _util_css(u: int) -> Block:
    """Says "background" inside strings: passes the text pre-filter, holds no task."""
    return Block(_code(f'''
        def badge_html_{u}(label: str, colour: str = "#e8f0fe") -> str:
            """A small inline badge for e-mails and the admin pages."""
            style = f"background-color: {{colour}}; border-radius: 4px; padding: 2px"
            return f'<span style="{{style}}">{{html.escape(label)}}</span>'
    '''), _imp("html"))


def _util_pad(u: int, k: int) -> Block:
    return Block(_code(f'''
        def deep_merge_{u}_{k}(
            base: Dict[str, Any], override: Dict[str, Any]
        ) -> Dict[str, Any]:
            """Merge nested dicts; values from `override` win (variant {k})."""
            merged = dict(base)
            for key, value in override.items():
                current = merged.get(key)
                if isinstance(current, dict) and isinstance(value, dict):
                    merged[key] = deep_merge_{u}_{k}(current, value)
                else:
                    merged[key] = value
            return merged


        def fingerprint_{u}_{k}(payload: Dict[str, Any]) -> str:
            """A stable hash of a JSON-able payload."""
            text = json.dumps(payload, sort_keys=True, default=str)
            return hashlib.sha256(text.encode()).hexdigest()[:16]
    '''), _imp("hashlib", "json", "typing:Any", "typing:Dict"))


def _util_module(u: int, rng: random.Random) -> Tuple[str, bool]:
    blocks = _util_core(u)
    css = rng.random() < CSS_SHARE
    if css:
        blocks.append(_util_css(u))
    _fill(blocks, rng.randint(80, 140), lambda k: _util_pad(u, k), 14)
    blocks[0] = Block(blocks[0].code, blocks[0].imports | _imp("typing:TypeVar",
                                                               "typing:Callable"))
    preamble = ['T = TypeVar("T")', 'F = TypeVar("F", bound=Callable[..., Any])']
    blocks[0] = Block(blocks[0].code, blocks[0].imports | _imp("typing:Any"))
    return _render_module(f"Small helpers (group {u}).", blocks, preamble), css


# --------------------------------------------------------------------------- tasks

def _task_funcs(t: int, util: int) -> List[Block]:
    return [
        Block(_code(f'''
            def sync_record_{t}_0(item_id: int, user_id: int) -> None:
                """Push one record to the partner API, retrying with backoff."""
                for attempt in range(3):
                    response = requests.post(
                        f"{{settings.partner_url}}/records/{{item_id}}",
                        json={{"user": user_id}},
                        timeout=10,
                    )
                    if response.ok:
                        return
                    time.sleep(2 ** attempt)
                logger.warning("giving up on record %s", item_id)
        '''), _imp("time", "requests", "app.config:settings")),
        Block(_code(f'''
            async def sync_record_{t}_1(item_id: int, user_id: int) -> None:
                """Tell the partner a record changed (blocks the event loop)."""
                time.sleep(0.5)
                requests.post(
                    f"{{settings.partner_url}}/ping",
                    json={{"id": item_id, "user": user_id}},
                    timeout=5,
                )
        '''), _imp("time", "requests", "app.config:settings")),
        Block(_code(f'''
            def sync_record_{t}_2(item_id: int, user_id: int) -> None:
                """Re-index the user's rows in batches, with its own session."""
                db = SessionLocal()
                try:
                    rows = db.execute(
                        text("SELECT id FROM items WHERE owner_id = :uid"),
                        {{"uid": user_id}},
                    )
                    ids = [row.id for row in rows]
                    for batch in chunked_{util}(ids, 100):
                        logger.info("indexing %d rows for %s", len(batch), item_id)
                finally:
                    db.close()
        '''), _imp("sqlalchemy:text", "app.db:SessionLocal",
                   f"app.utils.util_{util}:chunked_{util}")),
    ]


def _task_pad(t: int, k: int) -> Block:
    return Block(_code(f'''
        def cleanup_{t}_{k}(days: int = 30) -> int:
            """Delete stale rows (job {k}); returns how many went."""
            cutoff = datetime.utcnow() - timedelta(days=days)
            db = SessionLocal()
            try:
                result = db.execute(
                    text("DELETE FROM events WHERE created_at < :cutoff"),
                    {{"cutoff": cutoff}},
                )
                db.commit()
                logger.info("cleanup {t}/{k} removed %d rows", result.rowcount)
                return result.rowcount
            finally:
                db.close()
    '''), _imp("datetime:datetime", "datetime:timedelta", "sqlalchemy:text",
               "app.db:SessionLocal"))


def _task_module(t: int, rng: random.Random, n_utils: int) -> str:
    blocks = _task_funcs(t, rng.randrange(n_utils))
    _fill(blocks, rng.randint(80, 140), lambda k: _task_pad(t, k), 16)
    blocks[0] = Block(blocks[0].code, blocks[0].imports | _imp("logging"))
    return _render_module(f"Jobs that run after the response (group {t}).", blocks,
                          ["logger = logging.getLogger(__name__)"])


# --------------------------------------------------------------------------- fixed

def _fixed_modules(plan: Plan) -> Dict[str, str]:
    routers = [d.mod for d in plan.domains[:40]]
    router_lines = "".join(f"    {name},\n" for name in sorted(routers))
    files = {f"app/{sub}/__init__.py": f'"""The {sub} of the application."""\n'
             for sub in SUBPACKAGES}
    files["app/__init__.py"] = '"""Example FastAPI application (generated)."""\n'
    files["app/tasks/__init__.py"] = _code('''
        """Jobs run after the response; the common ones are re-exported here."""

        from app.tasks.notifications import notify_admins, record_access

        __all__ = ["notify_admins", "record_access"]
    ''') + "\n"
    files["app/main.py"] = _code('''
        """Application entry point: `uvicorn app.main:app`."""

        from fastapi import FastAPI

        from app.config import settings
        from app.routes import (
        @ROUTERS@)

        ROUTERS = (
        @ROUTERS@)

        app = FastAPI(title=settings.app_name, version="1.0.0")
        for module in ROUTERS:
            app.include_router(module.router)


        @app.get("/health")
        def health() -> dict:
            """Liveness probe."""
            return {"status": "ok"}
    ''').replace("@ROUTERS@", router_lines) + "\n"
    files["app/config.py"] = _code('''
        """Settings read from the environment."""

        from pydantic_settings import BaseSettings


        class Settings(BaseSettings):
            """Every knob of the application, overridable with APP_* variables."""

            app_name: str = "Example API"
            database_url: str = "sqlite:///./app.db"
            smtp_host: str = "localhost"
            smtp_port: int = 25
            mail_sender: str = "noreply@example.com"
            partner_url: str = "https://partner.example.com/api"
            webhook_url: str = "https://hooks.example.com/events"
            slack_url: str = "https://hooks.slack.example.com/services/T000"
            media_root: str = "/var/lib/app/media"
            template_dir: str = "templates"

            model_config = {"env_prefix": "APP_"}


        settings = Settings()
    ''') + "\n"
    files["app/db.py"] = _code('''
        """Database engine, session factory and the request-scoped session."""

        from typing import Iterator

        from sqlalchemy import create_engine
        from sqlalchemy.orm import Session, declarative_base, sessionmaker

        from app.config import settings

        engine = create_engine(settings.database_url, pool_pre_ping=True)
        SessionLocal = sessionmaker(bind=engine, autoflush=False)
        Base = declarative_base()


        def get_db() -> Iterator[Session]:
            """One session per request, closed when the response is done."""
            db = SessionLocal()
            try:
                yield db
            finally:
                db.close()
    ''') + "\n"
    files["app/deps.py"] = _code('''
        """Dependencies shared by the routers."""

        from fastapi import Header, HTTPException, Query
        from pydantic import BaseModel


        class CurrentUser(BaseModel):
            """The authenticated caller."""

            id: int
            email: str
            name: str
            is_admin: bool = False


        class Pagination:
            """`?offset=&limit=` with sane bounds."""

            def __init__(
                self,
                offset: int = Query(0, ge=0),
                limit: int = Query(50, ge=1, le=500),
            ) -> None:
                self.offset = offset
                self.limit = limit


        def get_current_user(authorization: str = Header(...)) -> CurrentUser:
            """Decode the bearer token (a stub in this generated app)."""
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise HTTPException(status_code=401, detail="not authenticated")
            user_id = int(token.split(".")[0]) if token[0].isdigit() else 0
            return CurrentUser(id=user_id, email=f"{token}@example.com", name=token)
    ''') + "\n"
    files["app/services/images.py"] = _code('''
        """Image processing with Pillow."""

        from pathlib import Path
        from typing import Tuple

        from PIL import Image

        from app.config import settings

        MEDIA_ROOT = Path(settings.media_root)


        def resize_image(path: Path, size: Tuple[int, int]) -> Path:
            """Write a resized copy next to the original and return its path."""
            with Image.open(path) as image:
                image.thumbnail(size)
                target = path.with_name(f"{path.stem}-{size[0]}x{size[1]}.jpg")
                image.convert("RGB").save(target, "JPEG", quality=85)
            return target


        def make_thumbnails(path: Path) -> list:
            """The usual three sizes."""
            return [resize_image(path, size) for size in ((64, 64), (256, 256))]
    ''') + "\n"
    files["app/tasks/emails.py"] = _code('''
        """E-mails sent after the response."""

        import logging

        from app.config import settings
        from app.utils.mailer import send_mail

        logger = logging.getLogger(__name__)


        def send_welcome(email: str, name: str) -> None:
            """Welcome a user; reaches the mailer and the template renderer."""
            send_mail(
                to=email,
                subject=f"Welcome to {settings.app_name}, {name}!",
                template="welcome.html",
                context={"name": name},
            )
            logger.info("welcome mail sent to %s", email)


        def send_password_reset(email: str, token: str) -> None:
            """The reset link, valid for one hour."""
            send_mail(
                to=email,
                subject="Reset your password",
                template="reset.html",
                context={"token": token},
            )
    ''') + "\n"
    files["app/tasks/notifications.py"] = _code('''
        """Notifications and audit records written after the response."""

        import logging

        import httpx
        from sqlalchemy import text

        from app.config import settings
        from app.db import SessionLocal

        logger = logging.getLogger(__name__)


        def notify_admins(message: str) -> None:
            """Post to the admins' chat channel."""
            response = httpx.post(settings.slack_url, json={"text": message})
            if response.status_code >= 400:
                logger.error("slack refused: %s", response.text)


        def record_access(user_id: int, kind: str, item_id: int) -> None:
            """Append an audit row, in a session of its own."""
            db = SessionLocal()
            try:
                db.execute(
                    text("INSERT INTO audit (user_id, kind, item_id) "
                         "VALUES (:u, :k, :i)"),
                    {"u": user_id, "k": kind, "i": item_id},
                )
                db.commit()
            finally:
                db.close()
    ''') + "\n"
    files["app/utils/mailer.py"] = _code('''
        """SMTP delivery."""

        import smtplib
        from email.message import EmailMessage
        from typing import Any, Dict

        from app.config import settings
        from app.utils.templating import render_template


        def send_mail(to: str, subject: str, template: str,
                      context: Dict[str, Any]) -> None:
            """Render `template` and send it; blocking network I/O."""
            message = EmailMessage()
            message["From"] = settings.mail_sender
            message["To"] = to
            message["Subject"] = subject
            message.set_content(render_template(template, context), subtype="html")
            with smtplib.SMTP(settings.smtp_host, settings.smtp_port) as smtp:
                smtp.send_message(message)
    ''') + "\n"
    files["app/utils/templating.py"] = _code('''
        """Tiny HTML templating for e-mails."""

        import functools
        from pathlib import Path
        from string import Template
        from typing import Any, Dict

        from app.config import settings

        BASE_STYLE = "body { background-color: #f6f6f6; font-family: sans-serif; }"


        @functools.lru_cache(maxsize=64)
        def _load(name: str) -> Template:
            path = Path(settings.template_dir) / name
            return Template(path.read_text(encoding="utf-8"))


        def render_template(name: str, context: Dict[str, Any]) -> str:
            """Substitute `context` into the template and inline the base style."""
            body = _load(name).safe_substitute(context)
            return f"<style>{BASE_STYLE}</style>{body}"
    ''') + "\n"
    return files


# --------------------------------------------------------------------------- driver

def generate(root: Path, modules: int, seed: int = 0, site_share: float = 0.02) -> SynthStats:
    """Write a synthetic app of exactly `modules` Python files under `root` (created)."""
    rng = random.Random(f"plan:{modules}:{seed}:{site_share}")
    plan = _plan(modules, rng, site_share)
    stats = SynthStats(root=root)
    files = _fixed_modules(plan)
    stats.background_word_modules += 1  # app/utils/templating.py
    n_utils = len(plan.utils)
    for d in plan.domains:
        r = random.Random(f"{seed}:{d.mod}")
        files[f"app/models/{d.mod}.py"] = _model_module(d, r)
        files[f"app/schemas/{d.mod}.py"], themed = _schema_module(d, r)
        files[f"app/services/{d.mod}.py"] = _service_module(d, r, n_utils)
        files[f"app/routes/{d.mod}.py"], sites = _route_module(d, r, plan, stats.variants)
        stats.background_word_modules += themed
        stats.site_calls += sites
        stats.site_modules += bool(sites)
    for u in plan.utils:
        files[f"app/utils/util_{u}.py"], css = _util_module(u, random.Random(f"{seed}:u{u}"))
        stats.background_word_modules += css
    for t in plan.tasks:
        files[f"app/tasks/jobs_{t}.py"] = _task_module(t, random.Random(f"{seed}:t{t}"),
                                                       n_utils)
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "synthetic-app"\nversion = "0.0.0"\n', encoding="utf-8")
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        stats.lines += text.count("\n")
    stats.modules = len(files)
    return stats


def main(argv: "Sequence[str] | None" = None) -> int:
    """`python benchmarks/synth.py OUT_DIR MODULES [SEED]`: write one tree and describe it."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) not in (2, 3):
        print(main.__doc__, file=sys.stderr)
        return 2
    stats = generate(Path(args[0]), int(args[1]), int(args[2]) if len(args) == 3 else 0)
    print(f"{stats.modules} modules, {stats.lines} lines, {stats.site_modules} modules with "
          f"{stats.site_calls} task sites {stats.variants}, "
          f"{stats.background_word_modules} say 'background' otherwise")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
