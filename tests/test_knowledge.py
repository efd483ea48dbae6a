"""The knowledge base: invariants of the shipped data, matching, extension, name heuristics,
error reporting on broken data, and the rendered documentation."""

from __future__ import annotations

import fnmatch
import re
import sys
from pathlib import Path
from typing import Optional

import pytest

from flake8_fastapi_bg.knowledge import (CATEGORIES, OFFLOAD_KINDS, KnowledgeBase,
                                         KnowledgeBaseError, Match, Offload, split_words)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DATA = Path(__file__).resolve().parent.parent / "flake8_fastapi_bg" / "knowledge.toml"
RAW = tomllib.loads(DATA.read_text(encoding="utf-8"))
KB = KnowledgeBase.default()

# Reasons are lower-case phrases; acronyms and proper names inside keep their case, and a phrase
# may start with an acronym ("PDF rendering", "CSV parsing").
REASON = re.compile(r"(?:[a-z0-9]|[A-Z0-9]{2,}\b)[^\n]*\Z")
DOTTED_GLOB = re.compile(r"[A-Za-z_][\w*?\[\]!-]*(?:\.[\w*?\[\]!-]+)*\Z")
# [returns] targets whose methods no table needs to know about. Empty on purpose: a new
# factory whose result nothing matches is dead data; list it here only with a reason.
INTENTIONALLY_UNCOVERED: dict = {}


def positive_patterns():
    for category in CATEGORIES:
        for pattern, reason in KB.table(category).items():
            if reason is not None:
                yield category, pattern, reason


# -- invariants of the shipped data -----------------------------------------------------------
def test_sections_are_the_known_ones():
    assert set(RAW) == set(CATEGORIES) | {"offload", "returns", "critical_names"}


@pytest.mark.parametrize("section", [*CATEGORIES, "offload", "returns"])
def test_every_table_is_sorted(section):
    keys = list(RAW[section])
    assert keys == sorted(keys)
    assert len(keys) == len(set(keys))


def test_name_lists_are_sorted_and_unique():
    for key, words in RAW["critical_names"].items():
        assert words == sorted(set(words)), key


@pytest.mark.parametrize("section", [*CATEGORIES, "offload"])
def test_every_pattern_is_a_dotted_glob_anchored_to_a_package(section):
    for pattern in RAW[section]:
        assert DOTTED_GLOB.match(pattern), pattern
        assert ".." not in pattern and not pattern.endswith("."), pattern
        assert pattern.count("[") == pattern.count("]"), pattern


def test_reasons_are_short_lowercase_phrases():
    for category, pattern, reason in positive_patterns():
        assert 0 < len(reason) <= 40, (category, pattern, reason)
        assert REASON.match(reason), (category, pattern, reason)
        assert not reason.endswith("."), (category, pattern, reason)
        assert reason == reason.strip(), (category, pattern, reason)


def test_exceptions_only_carve_out_of_existing_globs():
    # An exception (false) that no positive glob of its table overlaps is dead data.
    for category in CATEGORIES:
        table = KB.table(category)
        for pattern, reason in table.items():
            if reason is None:
                package = pattern.split(".", 1)[0]
                assert any(other.startswith(package + ".") and value is not None
                           for other, value in table.items()), (category, pattern)


def test_no_exact_entry_is_redundant_with_a_glob_of_the_same_reason():
    for category in CATEGORIES:
        table = KB.table(category)
        globs = [(p, r) for p, r in table.items() if any(c in p for c in "*?[")]
        for pattern, reason in table.items():
            if any(c in pattern for c in "*?["):
                continue
            shadowing = [g for g, r in globs if r == reason and fnmatch.fnmatchcase(pattern, g)]
            assert not shadowing, (category, pattern, shadowing)


def test_offload_entries_are_valid():
    assert KB.offloads
    for pattern, offload in KB.offloads.items():
        assert offload.pattern == pattern
        assert offload.kind in OFFLOAD_KINDS
        assert offload.callable_arg >= -1
        assert offload.callable_kw is None or offload.callable_kw.isidentifier()


def _covered(type_name: str) -> bool:
    """Some pattern (or another factory) says something about the type's methods."""
    patterns = [p for c in CATEGORIES for p, r in KB.table(c).items() if r is not None]
    patterns += list(KB.offloads)
    patterns += list(KB.return_types)
    for pattern in patterns:
        # probe with the pattern's own method name, so `langgraph.*invoke` covers a graph type
        method = re.sub(r"[*?\[\]!]", "", pattern.rsplit(".", 1)[-1]) or "x"
        if pattern.startswith(type_name + ".") or any(
                fnmatch.fnmatchcase(f"{type_name}.{probe}", pattern) for probe in ("x", method)):
            return True
    return False


def test_every_returns_target_composes_with_some_pattern():
    uncovered = sorted({t for t in KB.return_types.values()
                        if not _covered(t) and t not in INTENTIONALLY_UNCOVERED})
    assert not uncovered


def test_returns_table_is_exact_names():
    for call, result in KB.return_types.items():
        assert not any(c in call + result for c in "*?["), call


def test_entry_counts_are_substantial():
    # The tables are meant to cover what real apps call; a large drop means data went missing.
    assert len(KB.table("cpu")) >= 120
    assert len(KB.table("blocking")) >= 150
    assert len(KB.table("long")) >= 80
    assert len(KB.table("critical")) >= 40
    assert len(KB.offloads) >= 25
    assert len(KB.return_types) >= 60


# -- matching ---------------------------------------------------------------------------------
@pytest.mark.parametrize("category, qualname, reason", [
    # CPU-heavy
    ("cpu", "PIL.Image.Image.resize", "image resampling"),
    ("cpu", "PIL.Image.Image.thumbnail", "image resampling"),
    ("cpu", "PIL.ImageOps.exif_transpose", "image processing"),
    ("cpu", "cv2.GaussianBlur", "image processing (OpenCV)"),
    ("cpu", "weasyprint.HTML.write_pdf", "PDF rendering"),
    ("cpu", "transformers.pipeline", "ML inference (transformers)"),
    ("cpu", "transformers.pipelines.Pipeline.__call__", "ML inference (transformers)"),
    ("cpu", "sentence_transformers.SentenceTransformer.encode", "embedding inference"),
    ("cpu", "whisper.model.Whisper.transcribe", "speech recognition"),
    ("cpu", "spacy.language.Language.__call__", "NLP pipeline (spaCy)"),
    ("cpu", "sklearn.ensemble.RandomForestClassifier.fit", "model training (scikit-learn)"),
    ("cpu", "numpy.linalg.svd", "linear algebra"),
    ("cpu", "numpy.ndarray.dot", "matrix product"),
    ("cpu", "pandas.read_csv", "CSV parsing"),
    ("cpu", "zlib.compress", "zlib compression"),
    ("cpu", "hashlib.pbkdf2_hmac", "password hashing (PBKDF2)"),
    ("cpu", "bcrypt.hashpw", "password hashing (bcrypt)"),
    ("cpu", "passlib.context.CryptContext.hash", "password hashing"),
    ("cpu", "passlib.context.CryptContext.verify_and_update", "password hashing"),
    ("cpu", "argon2.PasswordHasher.verify", "password hashing (Argon2)"),
    ("cpu", "cryptography.hazmat.primitives.kdf.pbkdf2.PBKDF2HMAC.derive", "key derivation"),
    ("cpu", "pydub.AudioSegment.from_file", "audio transcoding"),
    ("cpu", "numpy.array", None),
    ("cpu", "numpy.zeros", None),
    ("cpu", "PIL.Image.open", None),  # lazy: reads the header only
    ("cpu", "json.dumps", None),
    ("cpu", "sklearn.ensemble.RandomForestClassifier", None),  # constructing is cheap
    # blocking
    ("blocking", "time.sleep", "blocking sleep"),
    ("blocking", "requests.get", "sync HTTP"),
    ("blocking", "requests.Session.post", "sync HTTP"),
    ("blocking", "requests.sessions.Session.get", "sync HTTP"),
    ("blocking", "httpx.post", "sync HTTP"),
    ("blocking", "httpx.Client.get", "sync HTTP"),
    ("blocking", "httpx.AsyncClient.get", None),
    ("blocking", "httpx.AsyncClient", None),
    ("blocking", "urllib.request.urlopen", "sync HTTP"),
    ("blocking", "urllib3.PoolManager.request", "sync HTTP"),
    ("blocking", "smtplib.SMTP.send_message", "sync SMTP"),
    ("blocking", "subprocess.run", "subprocess"),
    ("blocking", "builtins.open", "file I/O"),
    ("blocking", "pathlib.Path.write_text", "file I/O"),
    ("blocking", "os.remove", None),  # metadata syscall: deliberately not flagged
    ("blocking", "pathlib.Path.exists", None),
    ("blocking", "psycopg2.connect", "sync database call"),
    ("blocking", "psycopg.AsyncConnection.execute", None),
    ("blocking", "sqlalchemy.orm.Session.commit", "sync database call"),
    ("blocking", "sqlalchemy.orm.Session.add", None),  # no I/O until flush
    ("blocking", "sqlalchemy.orm.Query.first", "sync database call"),
    ("blocking", "sqlalchemy.ext.asyncio.AsyncSession.execute", None),
    ("blocking", "sqlmodel.Session.exec", "sync database call"),
    ("blocking", "redis.Redis.get", "sync Redis call"),
    ("blocking", "redis.asyncio.Redis.get", None),
    ("blocking", "redis.asyncio.client.Redis.get", None),
    ("blocking", "pymongo.collection.Collection.insert_one", "sync database call"),
    ("blocking", "motor.motor_asyncio.AsyncIOMotorCollection.insert_one", None),
    ("blocking", "boto3.client", "sync AWS SDK call"),
    ("blocking", "botocore.client.BaseClient.put_object", "sync AWS SDK call"),
    ("blocking", "slack_sdk.WebClient.chat_postMessage", "sync Slack API call"),
    ("blocking", "slack_sdk.web.async_client.AsyncWebClient.chat_postMessage", None),
    ("blocking", "stripe.Customer.create", "sync Stripe call"),
    ("blocking", "stripe.Customer.create_async", None),
    ("blocking", "twilio.rest.Client.messages.create", "sync Twilio call"),
    ("blocking", "twilio.rest.Client.messages.create_async", None),
    ("blocking", "openai.OpenAI.chat.completions.create", "sync OpenAI call"),
    ("blocking", "openai.AsyncOpenAI.chat.completions.create", None),
    ("blocking", "aiohttp.ClientSession.get", None),
    ("blocking", "asyncio.sleep", None),
    # long-running
    ("long", "openai.OpenAI.chat.completions.create", "LLM API call"),
    ("long", "openai.AsyncOpenAI.responses.create", "LLM API call"),
    ("long", "openai.OpenAI", None),  # constructing the client is quick
    ("long", "anthropic.AsyncAnthropic.messages.create", "LLM API call"),
    ("long", "langchain_openai.ChatOpenAI.invoke", "LLM chain run (LangChain)"),
    ("long", "langchain_openai.ChatOpenAI.ainvoke", "LLM chain run (LangChain)"),
    ("long", "playwright.async_api.Page.goto", "browser automation"),
    ("long", "botocore.client.BaseClient.upload_file", "large file transfer"),
    ("long", "botocore.client.BaseClient.download_fileobj", "large file transfer"),
    ("long", "botocore.client.BaseClient.get_object", None),
    ("long", "subprocess.run", "subprocess"),
    ("long", "subprocess.Popen", None),
    ("long", "shutil.copytree", "tree copy"),
    ("long", "pandas.DataFrame.to_sql", "bulk database write"),
    ("long", "elasticsearch.helpers.bulk", "bulk index"),
    ("long", "yt_dlp.YoutubeDL.download", "video download"),
    ("long", "smtplib.SMTP.send_message", None),
    # model APIs: a generation is long alone; quick calls are carved out
    ("long", "openai.AsyncOpenAI.moderations.create", None),
    ("long", "openai.OpenAI.embeddings.create", None),
    ("long", "openai.OpenAI.models.list", None),
    ("long", "openai.AsyncOpenAI.responses.input_tokens.count", None),
    ("long", "openai.AsyncAzureOpenAI.chat.completions.create", "LLM API call"),
    ("long", "openai.OpenAI.beta.threads.messages.create", None),  # adds a message: quick
    ("long", "openai.OpenAI.beta.threads.runs.create", None),  # starts a run, does not wait
    ("long", "openai.OpenAI.beta.threads.runs.create_and_poll", "LLM API call"),
    ("long", "openai.AsyncOpenAI.batches.create", None),
    ("long", "openai.OpenAI.images.generate", "LLM API call"),
    ("long", "openai.OpenAI.audio.transcriptions.create", "LLM API call"),
    ("long", "anthropic.AsyncAnthropic.messages.count_tokens", None),
    ("long", "litellm.acompletion", "LLM API call"),
    ("long", "langchain_core.prompts.ChatPromptTemplate.invoke", None),
    ("long", "langchain_core.output_parsers.StrOutputParser.invoke", None),
    ("long", "langchain_community.document_loaders.RecursiveUrlLoader.alazy_load",
     "document loading (LangChain)"),
    ("long", "langchain_community.document_loaders.RecursiveUrlLoader", None),
    ("long", "langchain_chroma.Chroma.aadd_documents", "document indexing (LangChain)"),
    ("long", "llama_index.core.SimpleDirectoryReader.aload_data", "document loading (LlamaIndex)"),
    ("long", "llama_index.core.ingestion.IngestionPipeline.arun", "ingestion pipeline (LlamaIndex)"),
    ("long", "haystack.AsyncPipeline.run_async", "pipeline run (Haystack)"),
    ("long", "hamilton.driver.Driver.execute", "pipeline run (Hamilton)"),
    ("long", "firecrawl.FirecrawlApp.scrape_url", "web scrape"),
    ("long", "firecrawl.FirecrawlApp", None),  # constructing the client is quick
    ("long", "firecrawl.AsyncFirecrawlApp.check_crawl_status", None),
    ("long", "youtube_transcript_api.YouTubeTranscriptApi.get_transcript", "transcript download"),
    ("long", "TTS.api.TTS.tts_to_file", "speech synthesis"),
    ("long", "crawl4ai.AsyncWebCrawler.arun_many", "web crawl"),
    ("long", "crawl4ai.CrawlerRunConfig", None),  # configuration, not a crawl
    ("long", "crawl4ai.extraction_strategy.LLMExtractionStrategy", None),
    ("long", "litellm.Router.acompletion", "LLM API call"),
    ("long", "litellm.Router.get_model_list", None),
    ("repeated", "litellm.Router.aembedding", "embedding API call"),
    ("long", "pydantic_ai.Agent.run", "agent run (Pydantic AI)"),
    ("long", "pydantic_ai.agent.Agent.run_stream", "agent run (Pydantic AI)"),
    ("long", "pydantic_ai.Agent", None),
    ("long", "crewai.Crew.akickoff", "agent run (CrewAI)"),
    ("blocking", "crewai.Crew.kickoff", "sync agent run"),
    ("blocking", "crewai.Crew.akickoff", None),
    # quick alone, long when repeated in a loop
    ("repeated", "openai.AsyncOpenAI.embeddings.create", "embedding API call"),
    ("repeated", "ccxt.async_support.base.exchange.Exchange.fetch_ohlcv", "exchange API call"),
    ("repeated", "openai.AsyncOpenAI.chat.completions.create", None),
    # critical
    ("critical", "stripe.Charge.create", "payment API (Stripe charge)"),
    ("critical", "stripe.PaymentIntent.create_async", "payment API (Stripe payment)"),
    ("critical", "stripe.Refund.create", "payment API (Stripe refund)"),
    ("critical", "stripe.Payout.create", "payout API (Stripe)"),
    ("critical", "stripe.StripeClient.payment_intents.create", "payment API (Stripe payment)"),
    ("critical", "stripe.StripeClient.v1.refunds.create", "payment API (Stripe refund)"),
    ("critical", "stripe.Charge.retrieve", None),
    ("critical", "stripe.Customer.create", None),
    ("critical", "braintree.Transaction.sale", "payment API (Braintree sale)"),
    ("critical", "braintree.BraintreeGateway.transaction.refund", "payment API (Braintree refund)"),
    ("critical", "paypalrestsdk.Payment.create", "payment API (PayPal)"),
    ("critical", "Adyen.Adyen.checkout.payments_api.payments", "payment API (Adyen)"),
    ("critical", "paddle.Model", None),  # PaddlePaddle, not Paddle billing
    ("critical", "ccxt.base.exchange.Exchange.create_order", "order placement (exchange API)"),
    ("critical", "ccxt.async_support.base.exchange.Exchange.withdraw", "withdrawal (exchange API)"),
    ("critical", "ccxt.async_support.base.exchange.Exchange.fetch_balance", None),
    ("cpu", "md2pdf.core.md2pdf", "PDF rendering"),
    ("blocking", "ccxt.base.exchange.Exchange.fetch_ticker", "sync exchange API call"),
    ("blocking", "ccxt.async_support.base.exchange.Exchange.fetch_ticker", None),
    ("blocking", "firecrawl.AsyncFirecrawlApp.scrape_url", None),
])
def test_match(category: str, qualname: str, reason: Optional[str]):
    found = KB.match(category, qualname)
    assert (found.reason if found else None) == reason


def test_match_reports_the_pattern():
    assert KB.match("blocking", "httpx.Client.get") == Match("httpx.Client.*", "sync HTTP")


def test_unknown_category_is_an_error():
    with pytest.raises(KnowledgeBaseError, match="unknown category"):
        KB.match("slow", "time.sleep")


@pytest.mark.parametrize("qualname, kind, arg, keyword", [
    ("asyncio.to_thread", "thread", 0, None),
    ("asyncio.AbstractEventLoop.run_in_executor", "thread", 1, None),
    ("anyio.to_thread.run_sync", "thread", 0, None),
    ("anyio.to_process.run_sync", "process", 0, None),
    ("starlette.concurrency.run_in_threadpool", "thread", 0, None),
    ("fastapi.concurrency.run_in_threadpool", "thread", 0, None),
    ("concurrent.futures.ProcessPoolExecutor.submit", "process", 0, None),
    ("multiprocessing.pool.Pool.apply_async", "process", 0, "func"),
    ("celery.app.task.Task.delay", "queue", -1, None),
    ("celery.app.task.Task.apply_async", "queue", -1, None),
    ("celery.Celery.send_task", "queue", -1, None),
    ("arq.connections.ArqRedis.enqueue_job", "queue", -1, None),
    ("rq.Queue.enqueue", "queue", 0, "f"),
    ("rq.Queue.enqueue_in", "queue", 1, None),
    ("dramatiq.Actor.send", "queue", -1, None),
    ("taskiq.decor.AsyncTaskiqDecoratedTask.kiq", "queue", -1, None),
    ("saq.Queue.enqueue", "queue", -1, None),
    ("apscheduler.schedulers.asyncio.AsyncIOScheduler.add_job", "schedule", 0, "func"),
    ("threading.Thread", "thread", 1, "target"),
    ("multiprocessing.Process", "process", 1, "target"),
])
def test_offload(qualname, kind, arg, keyword):
    found = KB.offload(qualname)
    assert found is not None, qualname
    assert (found.kind, found.callable_arg, found.callable_kw) == (kind, arg, keyword)


@pytest.mark.parametrize("qualname", ["asyncio.create_task", "fastapi.BackgroundTasks.add_task",
                                      "threading.Lock", "celery.Celery"])
def test_not_offload(qualname):
    assert KB.offload(qualname) is None


@pytest.mark.parametrize("call, result", [
    ("PIL.Image.open", "PIL.Image.Image"),
    ("PIL.Image.Image.convert", "PIL.Image.Image"),
    ("cv2.imread", "numpy.ndarray"),
    ("requests.session", "requests.Session"),
    ("sqlalchemy.orm.sessionmaker", "sqlalchemy.orm.sessionmaker"),
    ("sqlalchemy.orm.sessionmaker.__call__", "sqlalchemy.orm.Session"),
    ("sqlalchemy.create_engine", "sqlalchemy.engine.Engine"),
    ("sqlalchemy.engine.Engine.connect", "sqlalchemy.engine.Connection"),
    ("sqlmodel.create_engine", "sqlalchemy.engine.Engine"),
    ("boto3.client", "botocore.client.BaseClient"),
    ("boto3.session.Session.client", "botocore.client.BaseClient"),
    ("redis.from_url", "redis.Redis"),
    ("whisper.load_model", "whisper.model.Whisper"),
    ("spacy.load", "spacy.language.Language"),
    ("transformers.pipeline", "transformers.pipelines.Pipeline"),
    ("asyncio.get_running_loop", "asyncio.AbstractEventLoop"),
    ("smtplib.SMTP", "smtplib.SMTP"),
    ("ccxt.binance", "ccxt.base.exchange.Exchange"),
    ("ccxt.async_support.okx", "ccxt.async_support.base.exchange.Exchange"),
    ("ccxt.pro.bybit", "ccxt.async_support.base.exchange.Exchange"),
    ("hamilton.driver.Builder.build", "hamilton.driver.Driver"),
    ("whisperx.load_model", "whisperx.asr.FasterWhisperPipeline"),
    ("requests.get", None),
    ("PIL.Image.*", None),  # exact lookup: no glob semantics
])
def test_returns(call, result):
    assert KB.returns(call) == result


@pytest.mark.parametrize("chain", [
    # factory -> type -> method, as the engine composes them
    ("whisper.load_model", "transcribe", "cpu"),
    ("spacy.load", "__call__", "cpu"),
    ("transformers.pipeline", "__call__", "cpu"),
    ("cv2.imread", "dot", "cpu"),
    ("PIL.Image.open", "thumbnail", "cpu"),
    ("boto3.client", "upload_file", "long"),
    ("boto3.client", "put_object", "blocking"),
    ("requests.session", "get", "blocking"),
    ("sqlalchemy.create_engine", "connect", "blocking"),
    ("sqlalchemy.orm.Session.query", "first", "blocking"),
    ("psycopg2.connect", "cursor", "blocking"),
    ("asyncio.create_subprocess_exec", "communicate", "long"),
    ("smtplib.SMTP", "send_message", "blocking"),
    ("ccxt.kraken", "create_order", "critical"),
    ("ccxt.async_support.binance", "fetch_ohlcv", "repeated"),
    ("boto3.resources.base.ServiceResource.Bucket", "upload_file", "long"),
    ("github3.login", "repositories", "blocking"),
    ("whisperx.load_model", "transcribe", "long"),
    ("whisperx.load_model", "transcribe", "cpu"),
    ("pyannote.audio.Pipeline.from_pretrained", "__call__", "long"),
])
def test_returns_compose_with_category_patterns(chain):
    factory, method, category = chain
    result = KB.returns(factory)
    assert result is not None
    assert KB.match(category, f"{result}.{method}") is not None, (factory, result, method)


def test_get_event_loop_composes_with_run_in_executor():
    loop = KB.returns("asyncio.get_event_loop")
    assert KB.offload(f"{loop}.run_in_executor") == Offload(
        "asyncio.AbstractEventLoop.run_in_executor", "thread", 1)


# -- specificity and extension ----------------------------------------------------------------
SMALL = """
[cpu]
"lib.*" = "anything in lib"
"lib.fast.*" = false
"lib.heavy.*" = "heavy glob"
"lib.heavy.exact" = "heavy exact"
"lib.heavy.x*" = "heavy x glob"
"""


@pytest.mark.parametrize("qualname, reason", [
    ("lib.other", "anything in lib"),
    ("lib.heavy.exact", "heavy exact"),  # exact beats any glob
    ("lib.heavy.xyz", "heavy x glob"),  # longer literal prefix wins
    ("lib.heavy.abc", "heavy glob"),
    ("lib.fast.thing", None),  # an exception carves calls out of the table
    ("other.heavy.exact", None),
    ("lib", None),
])
def test_most_specific_pattern_wins(qualname, reason):
    kb = KnowledgeBase.from_toml_text(SMALL)
    found = kb.match("cpu", qualname)
    assert (found.reason if found else None) == reason


def test_extended_adds_user_patterns_that_win():
    kb = KnowledgeBase.from_toml_text(SMALL)
    user = kb.extended("cpu", ["lib.*", "app.images.*", " ", "lib.fast.*"],
                       "matches fastapi-bg-cpu-heavy")
    assert user is not kb
    assert user.match("cpu", "app.images.resize") == Match("app.images.*",
                                                           "matches fastapi-bg-cpu-heavy")
    # a user glob beats a more specific built-in one, and overrides a built-in exception
    assert user.match("cpu", "lib.heavy.exact").pattern == "lib.*"
    assert user.match("cpu", "lib.fast.thing").pattern == "lib.fast.*"
    # the original is untouched
    assert kb.match("cpu", "app.images.resize") is None
    assert kb.match("cpu", "lib.heavy.exact").reason == "heavy exact"
    assert kb.table("cpu")["lib.fast.*"] is None
    assert user.table("cpu")["lib.fast.*"] == "matches fastapi-bg-cpu-heavy"


def test_extended_on_the_default_base():
    kb = KB.extended("critical", ["app.billing.*"], "matches fastapi-bg-critical")
    assert kb.match("critical", "app.billing.settle").reason == "matches fastapi-bg-critical"
    assert kb.match("critical", "stripe.Refund.create").reason == "payment API (Stripe refund)"
    assert kb.match("cpu", "app.billing.settle") is None
    assert KB.match("critical", "app.billing.settle") is None


def test_extended_user_patterns_may_start_with_a_wildcard():
    kb = KB.extended("long", ["*.reports.build_*"], "matches fastapi-bg-long-running")
    assert kb.match("long", "app.reports.build_monthly") is not None


@pytest.mark.parametrize("category, patterns, reason, message", [
    ("slow", ["a.*"], "r", "unknown category"),
    ("cpu", ["a.*"], " ", "reason"),
    ("cpu", ["a b"], "r", "not a qualified-name glob"),
])
def test_extended_rejects_bad_input(category, patterns, reason, message):
    with pytest.raises(KnowledgeBaseError, match=message):
        KB.extended(category, patterns, reason)


def test_default_is_loaded_once_and_matches_are_cached():
    assert KnowledgeBase.default() is KB
    first = KB.match("cpu", "cv2.resize")
    assert KB.match("cpu", "cv2.resize") is first


# -- name heuristics --------------------------------------------------------------------------
@pytest.mark.parametrize("name", [
    "charge_card", "process_payment", "refund_order", "create_payout",
    "send_password_reset_email", "send_verification_email", "fulfill_order",
    "write_ledger_entry", "capture_payment", "chargeCustomer",
    "reset_password", "verify_email", "cancel_subscription", "place_order", "issue_refund",
    "transfer_funds", "delete_account", "processPayments", "charged_customer", "send_otp",
    "send2FACode", "PaymentService.capture_payment", "update_wallet_balance",
    "send_payment_confirmation", "email_payment_receipt", "charge_from_wallet",
    "deduct_credits_from_balance", "verify_email_from_token", "add_payment",
    "payment_refunded", "update_order_completed", "send_forgot_password", "send_password_recovery_email",
])
def test_critical_names(name):
    reason = KB.critical_name(name)
    assert reason and reason.startswith("name says '"), name


@pytest.mark.parametrize("name", [
    "log_payment_view", "track_order_click", "send_welcome", "notify_slack",
    "increment_metric", "warm_cache", "send_order_confirmation", "render_invoice_preview",
    "count_orders", "cache_account", "resize_image", "send_email", "get_payment",
    "check_payment_status", "export_orders_csv", "notify_order_shipped", "log_password_reset",
    "sync_orders", "<lambda>", "", "__call__",
    "_credit_card_credential_from_bitwarden_item", "card_credential_from_item", "post_denial_cards",
    "update_card",
    "user_subscription_revoked", "order_completed", "subscription_canceled",
])
def test_not_critical_names(name):
    assert KB.critical_name(name) is None, name


@pytest.mark.parametrize("name, reason", [
    ("charge_card", "name says 'charge'"),
    ("chargeCustomer", "name says 'charge'"),
    ("send_password_reset_email", "name says 'password reset'"),
    ("processing_refunds", "name says 'process' + 'refund'"),
])
def test_critical_name_reasons(name, reason):
    assert KB.critical_name(name) == reason


@pytest.mark.parametrize("name, read", [
    ("fetch_credential_item_background", True),
    ("get_invoice_total", True),
    ("credit_card_credential_from_item", True),  # a conversion
    ("fetch_and_process_payments", False),
    ("get_and_charge_customer", False),
    ("process_payment", False),
    ("send_email", False),
])
def test_read_names(name, read):
    assert KB.read_name(name) is read


@pytest.mark.parametrize("name, reason", [
    ("forgot_password", "name says 'forgot password'"),
    ("reset_password_request", "name says 'reset password'"),
    ("payment_webhook", "name says 'payment'"),
    ("request_verify_token", "name says 'verify'"),
    ("send_otp_code", "name says 'otp'"),
    ("refunds", "name says 'refund'"),
    ("register_user_send_confirmation", "name says 'send confirmation'"),
    ("update_me_email_confirmation", None),  # the change is confirmed: a notice follows
    ("recover_password", "name says 'recover password'"),
    ("generate_reset_password_email", "name says 'reset password'"),
    ("generate_password_changed_notify_email", None),
    ("send_verification_end_email", None),  # the notice after the verification
    ("get_payment", None),  # a read
    ("check_payment_status", None),  # an observer
    ("create_order", None),  # orders are critical by their own code or name, not by context
    ("signup", None),
])
def test_critical_context(name, reason):
    assert KB.critical_context(name) == reason


@pytest.mark.parametrize("text, reason", [
    ("Reset your password", "text says 'reset your password'"),
    ("Verify your email address", "text says 'verify your email'"),
    ("Your payment of $5 was received", "text says 'your payment'"),
    ("Your OTP is {code}", "text says 'otp is'"),
    ("otp_enabled", None),  # a settings key, not a code being sent
    ("reset_token", "text says 'reset token'"),
    ("payment_id", None),  # an id is not a text about the payment
    ("password_reset.html", "text says 'password reset'"),
    ("Activate your device", "text says 'activate your'"),
    ("Welcome aboard", None),
    ("payment_method", None),
    ("Thanks for your order", None),
])
def test_critical_text(text, reason):
    assert KB.critical_text(text) == reason


def test_observer_names():
    assert KB.observer_name("log_payment_view")
    assert not KB.observer_name("send_email")


@pytest.mark.parametrize("name, words", [
    ("chargeCustomer", ("charge", "customer")),
    ("send_2fa_code", ("send", "2fa", "code")),
    ("send2FACode", ("send", "2fa", "code")),
    ("HTTPRequestHandler", ("http", "request", "handler")),
    ("EmailService.send", ("email", "service", "send")),
    ("__init__", ("init",)),
])
def test_split_words(name, words):
    assert split_words(name) == words


# -- broken data is reported at load ----------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ('[cpu]\n"b.x" = "r"\n"a.x" = "r"\n',
     r"\[cpu\]: keys must be sorted and unique: 'a.x' comes after 'b.x'"),
    ('[cpu]\n"a.x" = ""\n', r"'a.x' needs a reason"),
    ('[cpu]\n"a.x" = " padded"\n', r"'a.x' needs a reason"),
    ('[cpu]\n"a.x" = true\n', r"'a.x' needs a reason"),
    ('[slow]\n"a.x" = "r"\n', r"unknown section \[slow\]"),
    ('cpu = 1\n', r"\[cpu\] must be a table"),
    ('[cpu]\n"*.delay" = "r"\n', r"not a dotted qualified-name glob"),
    ('[cpu]\n"a..b" = "r"\n', r"not a dotted qualified-name glob"),
    ('[cpu]\n"a b" = "r"\n', r"not a dotted qualified-name glob"),
    ('[offload]\n"a.x" = { kind = "fiber", callable_arg = 0 }\n', r"kind 'fiber'"),
    ('[offload]\n"a.x" = { kind = "thread" }\n', r"needs callable_arg"),
    ('[offload]\n"a.x" = { kind = "thread", callable_arg = -2 }\n', r"needs callable_arg"),
    ('[offload]\n"a.x" = { kind = "thread", callable_arg = 0, arg = 1 }\n', r"unknown keys"),
    ('[offload]\n"a.x" = { kind = "thread", callable_arg = 0, callable_kw = "1x" }\n',
     r"callable_kw"),
    ('[offload]\n"a.x" = "thread"\n', r"inline table"),
    ('[returns]\n"a.*" = "a.T"\n', r"exact dotted name"),
    ('[returns]\n"a.f" = "a T"\n', r"dotted type name"),
    ('[critical_names]\nnouns = ["x"]\n', r"unknown keys \['nouns'\]"),
    ('[critical_names]\nverbs = ["pay", "charge"]\n', r"verbs: words must be sorted"),
    ('[critical_names]\nverbs = ["Pay"]\n', r"list of lower-case words"),
    ('[critical_names]\nverbs = ["pay"]\nobservers = ["pay"]\n', r"observers also listed"),
    ('[critical_names]\ncontext = ["payment"]\nobservers = ["payment"]\n', r"observers also listed"),
    ('[critical_names]\ntexts = ["Reset your"]\n', r"list of lower-case snake_case words"),
    ('[cpu\n', r"invalid TOML"),
])
def test_broken_data_raises_a_clear_error(text, message):
    with pytest.raises(KnowledgeBaseError, match=message):
        KnowledgeBase.from_toml_text(text, source="broken.toml")


def test_error_names_the_source():
    with pytest.raises(KnowledgeBaseError, match=r"^broken\.toml: "):
        KnowledgeBase.from_toml_text('[nope]\n', source="broken.toml")


def test_missing_sections_are_empty():
    kb = KnowledgeBase.from_toml_text("")
    assert kb.match("cpu", "cv2.resize") is None
    assert kb.offload("asyncio.to_thread") is None
    assert kb.critical_name("charge_card") is None


# -- documentation ----------------------------------------------------------------------------
def test_render_markdown_is_deterministic_and_complete():
    text = KB.render_markdown()
    again = KnowledgeBase.from_toml_text(DATA.read_text(encoding="utf-8")).render_markdown()
    assert text == again
    assert text.startswith("# Knowledge base\n")
    assert text.endswith("\n") and not text.endswith("\n\n")
    for category in CATEGORIES:
        for pattern in KB.table(category):
            assert f"| `{pattern}` |" in text, pattern
    for pattern in KB.offloads:
        assert f"| `{pattern}` |" in text, pattern
    for call, result in KB.return_types.items():
        assert f"| `{call}` | `{result}` |" in text, call
    for words in KB.name_words.values():
        for word in words:
            assert f"`{word}`" in text, word
    for code in ("FBG101", "FBG102", "FBG103", "FBG104"):
        assert code in text


def test_render_markdown_includes_user_patterns():
    text = KB.extended("cpu", ["app.images.*"], "matches fastapi-bg-cpu-heavy").render_markdown()
    assert "| `app.images.*` | matches fastapi-bg-cpu-heavy |" in text
