"""Write a synthetic FastAPI project to benchmark flake8-fastapi-bg on.

    python benchmarks/synth.py OUT_DIR MODULES [SEED]
    synth.generate(Path(OUT_DIR), modules=717, seed=0, site_share=0.02)

The tree looks like a mid-sized app: `app/{models,schemas,services,routes}/<domain>.py` for
each business domain (`invoice_3`, ...), `app/utils/` and `app/tasks/` around them, and a
`pyproject.toml` marking the project root. Modules are 80 to 150 lines of ordinary,
flake8-clean code (about 117 on average, like Netflix/dispatch: 717 modules make about
84,000 lines). About `site_share` of the modules are routers that schedule background work
whose target lives in another module (an e-mail through a mailer, a Pillow resize, a
service method, a blocking call in an `async def` job, a retry loop with sleeps, a
`BackgroundTask` on a response), so the plugin resolves tasks across modules as on a real
app. Output is deterministic for given arguments.
"""

from __future__ import annotations

import random
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple

NOUNS = ("user", "invoice", "order", "product", "customer", "payment", "shipment", "review",
         "coupon", "ticket", "project", "comment", "report", "subscription", "document")
PACKAGES = ("models", "schemas", "services", "routes", "utils", "tasks")
Module = Tuple[List[str], List[str], List[str]]  # (import lines, module-level lines, blocks)


@dataclass
class Stats:
    modules: int = 0
    lines: int = 0
    site_modules: int = 0
    sites: int = 0


def _code(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def _render(doc: str, module: Module, target: int, pad) -> str:
    """The module, padded with `pad(k)` blocks up to about `target` lines."""
    imports, preamble, blocks = module
    head = f'"""{doc}"""\n' + "".join(line + "\n" for line in sorted(set(imports)))
    head += "".join("\n" + line + "\n" for line in preamble)
    k = 0
    while head.count("\n") + sum(block.count("\n") + 3 for block in blocks) < target:
        blocks.append(pad(k))
        k += 1
    return head + "".join("\n\n" + block + "\n" for block in blocks)


# --------------------------------------------------------------------------- per domain

def model(cls: str, table: str) -> Module:
    imports = ["import json", "from datetime import datetime", "from typing import Any, Dict",
               "from sqlalchemy import Column, DateTime, Integer, String, Text",
               "from app.db import Base"]
    return imports, [], [_code(f'''
        class {cls}(Base):
            """One row of ``{table}``."""

            __tablename__ = "{table}"

            id = Column(Integer, primary_key=True, index=True)
            name = Column(String(120), nullable=False)
            owner_id = Column(Integer, index=True)
            status = Column(String(32), default="draft", nullable=False)
            extra = Column(Text, default="{{}}")
            created_at = Column(DateTime, default=datetime.utcnow)

            def to_dict(self) -> Dict[str, Any]:
                """A plain dict for logging and exports."""
                data = {{"id": self.id, "name": self.name, "status": self.status}}
                data.update(json.loads(self.extra or "{{}}"))
                return data
    ''')]


def model_pad(cls: str, table: str, k: int) -> str:
    return _code(f'''
        class {cls}Event{k}(Base):
            """Audit trail entry (kind {k})."""

            __tablename__ = "{table}_events_{k}"

            id = Column(Integer, primary_key=True)
            parent_id = Column(Integer, index=True)
            payload = Column(Text, default="{{}}")
            created_at = Column(DateTime, default=datetime.utcnow)

            def decoded(self) -> Dict[str, Any]:
                """The JSON payload, or an empty dict when it is broken."""
                try:
                    return json.loads(self.payload or "{{}}")
                except ValueError:
                    return {{}}
    ''')


def schema_pad(cls: str, k: int) -> str:
    return _code(f'''
        class {cls}View{k}(BaseModel):
            """A read model (view {k}); `background` is a colour here."""

            id: int
            name: str = Field(..., max_length=120)
            status: str = "draft"
            background: str = "#ffffff"
            tags: List[str] = []

            def label(self) -> str:
                return f"{{self.name}} ({{self.status}})"
    ''')


def service(cls: str, mod: str) -> Module:
    imports = ["import logging", "from typing import List, Optional",
               "from sqlalchemy.orm import Session", f"from app.models.{mod} import {cls}"]
    return imports, ["logger = logging.getLogger(__name__)"], [_code(f'''
        class {cls}Service:
            """Queries and changes of {cls} rows, in the caller's session."""

            def __init__(self, db: Session) -> None:
                self.db = db

            def get(self, item_id: int) -> Optional[{cls}]:
                return self.db.get({cls}, item_id)

            def list_for_owner(self, owner_id: int, limit: int = 50) -> List:
                query = self.db.query({cls})
                query = query.filter({cls}.owner_id == owner_id)
                return query.limit(limit).all()

            def recalculate_totals(self, item_id: int) -> None:
                """Recompute the derived fields, in the caller's session."""
                item = self.get(item_id)
                if item is not None:
                    item.status = "recalculated"
                    self.db.commit()
                    logger.info("recalculated %s", item_id)
    ''')]


def service_pad(cls: str, k: int) -> str:
    return _code(f'''
        def summary_{k}(items: List[{cls}], limit: Optional[int] = 9) -> str:
            """A short text summary of some rows (report {k})."""
            names = sorted(item.name for item in items if item.name)
            if limit is not None:
                names = names[:limit]
            logger.debug("summary {k} of %d rows", len(names))
            return ", ".join(names)
    ''')


def route(cls: str, mod: str, noun: str) -> Module:
    imports = ["from typing import Any, Dict", "from fastapi import APIRouter, Depends, HTTPException",
               "from sqlalchemy.orm import Session", "from app.db import get_db",
               f"from app.services.{mod} import {cls}Service"]
    return imports, [f'router = APIRouter(prefix="/{mod}")'], [_code(f'''
        def _get_or_404(service: {cls}Service, item_id: int) -> Any:
            item = service.get(item_id)
            if item is None:
                raise HTTPException(status_code=404, detail="{noun} not found")
            return item
    '''), _code(f'''
        @router.get("/{{item_id}}")
        def get_{noun}(item_id: int, db: Session = Depends(get_db)) -> Any:
            return _get_or_404({cls}Service(db), item_id).to_dict()
    ''')]


def route_pad(cls: str, noun: str, k: int) -> str:
    return _code(f'''
        @router.get("/{{item_id}}/history-{k}")
        def {noun}_history_{k}(
            item_id: int, limit: int = 20, db: Session = Depends(get_db)
        ) -> Dict[str, Any]:
            """Recent field values of one {noun} (view {k})."""
            item = _get_or_404({cls}Service(db), item_id)
            fields = sorted(item.to_dict().items())[:limit]
            return {{"item": item_id, "fields": dict(fields)}}
    ''')


# Task sites: (weight, extra imports, block). `{cls}`, `{noun}`, `{k}`, `{job}` are filled in.
SITES = (
    (25, ["from fastapi import BackgroundTasks", "from app.tasks.emails import send_welcome"], '''
        @router.post("/{{item_id}}/share-{k}", status_code=202)
        def share_{noun}_{k}(
            item_id: int, email: str, background_tasks: BackgroundTasks
        ) -> Dict[str, Any]:
            background_tasks.add_task(send_welcome, email, str(item_id))
            return {{"status": "queued"}}
    '''),
    (15, ["from fastapi import BackgroundTasks", "from app.utils.images import resize_image"], '''
        @router.post("/{{item_id}}/image-{k}", status_code=202)
        async def image_{noun}_{k}(
            item_id: int, path: str, background_tasks: BackgroundTasks
        ) -> Dict[str, Any]:
            background_tasks.add_task(resize_image, path, (640, 480))
            return {{"item": item_id, "queued": True}}
    '''),
    (20, ["from fastapi import BackgroundTasks"], '''
        @router.post("/{{item_id}}/recalculate-{k}", status_code=202)
        def recalculate_{noun}_{k}(
            item_id: int,
            background_tasks: BackgroundTasks,
            db: Session = Depends(get_db),
        ) -> Dict[str, Any]:
            service = {cls}Service(db)
            background_tasks.add_task(service.recalculate_totals, item_id)
            return {{"status": "accepted"}}
    '''),
    (30, ["from fastapi import BackgroundTasks", "from app.tasks import {job}"], '''
        @router.post("/{{item_id}}/sync-{k}", status_code=202)
        def sync_{noun}_{k}(
            item_id: int, background_tasks: BackgroundTasks
        ) -> Dict[str, Any]:
            background_tasks.add_task({job}, item_id)
            return {{"item": item_id, "queued": True}}
    '''),
    (10, ["from fastapi.responses import JSONResponse",
          "from starlette.background import BackgroundTask",
          "from app.tasks.emails import record_access"], '''
        @router.get("/{{item_id}}/report-{k}")
        def report_{noun}_{k}(item_id: int) -> JSONResponse:
            task = BackgroundTask(record_access, "{noun}", item_id)
            return JSONResponse({{"item": item_id}}, background=task)
    '''),
)
JOBS = ("push_record", "ping_partner", "reindex_owner")  # app/tasks/jobs_<n>.py, see FIXED


def util_pad(u: int, k: int) -> str:
    return _code(f'''
        def normalise_{u}_{k}(values: Iterable[str], width: int = 40) -> List[str]:
            """Lower-case, trim and de-duplicate (variant {k})."""
            seen: Dict[str, None] = {{}}
            for value in values:
                cleaned = re.sub(r"\\s+", " ", value).strip().lower()[:width]
                if cleaned:
                    seen.setdefault(cleaned, None)
            return list(seen)
    ''')


def job_pad(t: int, k: int) -> str:
    return _code(f'''
        def cleanup_{t}_{k}(rows: List[dict], days: int = 30) -> int:
            """Drop stale rows (job {k}); returns how many went."""
            cutoff = time.time() - days * 86400
            kept = [row for row in rows if row.get("created", 0) >= cutoff]
            logger.info("cleanup {t}/{k} removed %d rows", len(rows) - len(kept))
            return len(rows) - len(kept)
    ''')


FIXED = {
    "app/__init__.py": '"""A synthetic FastAPI application."""\n',
    "app/db.py": _code('''
        """Database engine and the request-scoped session."""
        from typing import Iterator

        from sqlalchemy import create_engine
        from sqlalchemy.orm import Session, declarative_base, sessionmaker

        engine = create_engine("sqlite:///./app.db")
        SessionLocal = sessionmaker(bind=engine)
        Base = declarative_base()


        def get_db() -> Iterator[Session]:
            db = SessionLocal()
            try:
                yield db
            finally:
                db.close()
    ''') + "\n",
    "app/tasks/__init__.py": _code('''
        """Jobs run after the response, re-exported."""
        from app.tasks.jobs_0 import ping_partner, push_record, reindex_owner

        __all__ = ["ping_partner", "push_record", "reindex_owner"]
    ''') + "\n",
    "app/tasks/emails.py": _code('''
        """E-mails and audit records sent after the response."""
        import logging

        from app.utils.mailer import send_mail

        logger = logging.getLogger(__name__)


        def send_welcome(email: str, name: str) -> None:
            send_mail(email, f"Welcome, {name}!", "welcome.html")
            logger.info("welcome mail sent to %s", email)


        def record_access(kind: str, item_id: int) -> None:
            logger.info("accessed %s %s", kind, item_id)
    ''') + "\n",
    "app/tasks/jobs_0.py": _code('''
        """Calls to a partner system."""
        import time

        import requests

        PARTNER = "https://partner.example.com/api"


        def push_record(item_id: int) -> None:
            """Retry until the partner accepts, sleeping between tries."""
            while True:
                response = requests.post(f"{PARTNER}/records/{item_id}")
                if response.ok:
                    return
                time.sleep(30)


        async def ping_partner(item_id: int) -> None:
            """Blocks the event loop: a sync client in an async job."""
            requests.post(f"{PARTNER}/ping", json={"id": item_id}, timeout=5)


        def reindex_owner(item_id: int) -> None:
            requests.put(f"{PARTNER}/index/{item_id}", timeout=5)
    ''') + "\n",
    "app/utils/mailer.py": _code('''
        """SMTP delivery."""
        import smtplib
        from email.message import EmailMessage


        def send_mail(to: str, subject: str, template: str) -> None:
            message = EmailMessage()
            message["To"], message["Subject"] = to, subject
            message.set_content(f"<p>{template}</p>", subtype="html")
            with smtplib.SMTP("localhost") as smtp:
                smtp.send_message(message)
    ''') + "\n",
    "app/utils/images.py": _code('''
        """Image processing with Pillow."""
        from typing import Tuple

        from PIL import Image


        def resize_image(path: str, size: Tuple[int, int]) -> None:
            with Image.open(path) as image:
                image.thumbnail(size)
                image.save(path.replace(".", f"-{size[0]}.", 1))
    ''') + "\n",
    **{f"app/{package}/__init__.py": "" for package in PACKAGES if package != "tasks"},
}


def generate(root: Path, modules: int, seed: int = 0, site_share: float = 0.02) -> Stats:
    """Write `modules` Python files (at least 20) under `root`, created if missing."""
    if modules < 20:
        raise ValueError("a synthetic app needs at least 20 modules")
    rng = random.Random(f"{modules}:{seed}:{site_share}")
    files = dict(FIXED)
    rest = modules - len(files)
    utils, jobs = max(1, rest // 10), max(1, rest // 25)
    domains = (rest - utils - jobs) // 4
    utils = rest - jobs - 4 * domains
    site_domains = set(rng.sample(range(domains), min(domains, round(modules * site_share))))
    stats = Stats(site_modules=len(site_domains))
    for i in range(domains):
        noun = NOUNS[i % len(NOUNS)]
        mod, cls = f"{noun}_{i}", f"{noun.capitalize()}{i}"
        schema = (["from typing import List", "from pydantic import BaseModel, Field"], [],
                  [schema_pad(cls, 0)])
        imports, preamble, blocks = route(cls, mod, noun)
        for k in range(rng.choice((1, 1, 2, 3)) if i in site_domains else 0):
            _, extra, block = rng.choices(SITES, weights=[site[0] for site in SITES])[0]
            job = rng.choice(JOBS)
            imports += [line.format(job=job) for line in extra]
            blocks.append(_code(block.format(cls=cls, noun=noun, k=k, job=job)))
            stats.sites += 1
        for path, doc, module, pad in (
                ("models", f"The {noun} tables.", model(cls, f"{mod}s"),
                 lambda k: model_pad(cls, f"{mod}s", k)),
                ("schemas", f"API models of {noun}s.", schema, lambda k: schema_pad(cls, k + 1)),
                ("services", f"Service layer for {noun}s.", service(cls, mod),
                 lambda k: service_pad(cls, k)),
                ("routes", f"HTTP endpoints for {noun}s.", (imports, preamble, blocks),
                 lambda k: route_pad(cls, noun, k))):
            files[f"app/{path}/{mod}.py"] = _render(doc, module, rng.randint(80, 150), pad)
    for u in range(utils):
        module = (["import re", "from typing import Dict, Iterable, List"], [], [util_pad(u, 0)])
        files[f"app/utils/util_{u}.py"] = _render("Text helpers.", module, rng.randint(80, 150),
                                                  lambda k: util_pad(u, k + 1))
    for t in range(1, jobs + 1):
        module = (["import logging", "import time", "from typing import List"],
                  ["logger = logging.getLogger(__name__)"], [job_pad(t, 0)])
        files[f"app/tasks/jobs_{t}.py"] = _render("Maintenance jobs.", module, rng.randint(80, 150),
                                                  lambda k: job_pad(t, k + 1))
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text('[project]\nname = "synthetic-app"\nversion = "0"\n')
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
        stats.lines += text.count("\n")
    stats.modules = len(files)
    return stats


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: python benchmarks/synth.py OUT_DIR MODULES [SEED]")
    out = generate(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) == 4 else 0)
    print(f"{out.modules} modules, {out.lines:,} lines, {out.sites} task sites in {out.site_modules} modules")
