"""The AI-BOM builder: content, determinism, and the library's strict CycloneDX 1.6 validator."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from ml_artifactory_action.errors import IntegrityError
from ml_artifactory_action.model.dependencies import Dependency
from ml_artifactory_action.model.thresholds import Threshold
from ml_artifactory_action.provenance.bom import BomFile, BomInput, bom_file_name, build_bom, check_bom
from ml_artifactory_action.provenance.facts import Dataset, ModelCardFacts

SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
SHA1 = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"
MD5 = "098f6bcd4621d373cade4e832627b4f6"


def bom_input(**changes: object) -> BomInput:
    data = BomInput(
        model_name="fraud-model",
        model_version="7",
        files=[BomFile("model.pkl", 4, SHA256, SHA1, MD5), BomFile("config/params.yaml", 2, "1" * 64)],
        card=ModelCardFacts(
            task="tabular-classification",
            frameworks=("scikit-learn",),
            metrics={"accuracy": 0.93, "eval.loss": 0.21},
            thresholds=(Threshold("accuracy", ">=", 0.9),),
            datasets=(Dataset("creditcard", "https://data.example/cc.csv", "4f3a2b"), Dataset("holdout")),
            license="Apache-2.0",
            base_model="acme/base-fraud",
        ),
        dependencies=[Dependency("numpy", "1.26.4", "2" * 64), Dependency("scikit-learn", "1.5.0")],
        model_path="fraud-model/7",
        build_url="http://127.0.0.1:1/ui/builds/fraud/7",
        run_url="https://github.com/acme/fraud/actions/runs/1",
        vcs_url="https://github.com/acme/fraud",
    )
    return replace(data, **changes)  # type: ignore[arg-type]


def test_the_bom_is_valid_cyclonedx_1_6_by_the_libraries_strict_validator() -> None:
    text = build_bom(bom_input())
    document = json.loads(text)
    assert document["specVersion"] == "1.6"
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None


def test_the_model_is_a_machine_learning_model_with_every_files_hashes() -> None:
    model = json.loads(build_bom(bom_input()))["metadata"]["component"]
    assert (model["type"], model["name"], model["version"]) == ("machine-learning-model", "fraud-model", "7")
    files = {f["name"]: {h["alg"]: h["content"] for h in f["hashes"]} for f in model["components"]}
    assert files == {
        "model.pkl": {"SHA-256": SHA256, "SHA-1": SHA1, "MD5": MD5},
        "config/params.yaml": {"SHA-256": "1" * 64},
    }
    assert model["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    assert model["pedigree"]["ancestors"][0]["name"] == "acme/base-fraud"
    links = {r["type"]: r["url"] for r in model["externalReferences"]}
    assert links["build-meta"] == "http://127.0.0.1:1/ui/builds/fraud/7"
    assert links["vcs"] == "https://github.com/acme/fraud"
    assert "distribution" not in links, "a repository URL would be wrong once promotion copies the BOM"
    assert model["properties"] == [{"name": "ml-artifactory-action:artifactory-path", "value": "fraud-model/7"}]


def test_the_model_card_holds_task_metrics_thresholds_framework_and_datasets() -> None:
    card = json.loads(build_bom(bom_input()))["metadata"]["component"]["modelCard"]
    assert card["modelParameters"]["task"] == "tabular-classification"
    assert card["quantitativeAnalysis"]["performanceMetrics"] == [
        {"type": "accuracy", "value": "0.93"},
        {"type": "eval.loss", "value": "0.21"},
    ]
    props = [(p["name"], p["value"]) for p in card["properties"]]
    assert ("ml-artifactory-action:threshold", "accuracy >= 0.9") in props
    assert ("ml-artifactory-action:framework", "scikit-learn") in props
    datasets = card["modelParameters"]["datasets"]
    assert datasets[0] == {
        "type": "dataset",
        "name": "creditcard",
        "contents": {"url": "https://data.example/cc.csv"},
        "description": "source: https://data.example/cc.csv; digest: 4f3a2b",
    }
    assert datasets[1] == {"type": "dataset", "name": "holdout"}


def test_dependencies_are_pypi_libraries_the_model_depends_on() -> None:
    document = json.loads(build_bom(bom_input()))
    libraries = {c["purl"]: c.get("hashes", []) for c in document["components"]}
    assert libraries == {
        "pkg:pypi/numpy@1.26.4": [{"alg": "SHA-256", "content": "2" * 64}],
        "pkg:pypi/scikit-learn@1.5.0": [],
    }
    model_deps = next(d for d in document["dependencies"] if d["ref"] == "model:fraud-model@7")
    assert sorted(model_deps["dependsOn"]) == sorted(libraries)


def test_a_bare_model_gives_a_valid_bom_without_empty_sections() -> None:
    text = build_bom(
        bom_input(card=ModelCardFacts(), dependencies=[], model_path="", build_url="", run_url="", vcs_url="")
    )
    model = json.loads(text)["metadata"]["component"]
    assert model["modelCard"] == {"bom-ref": "model-card"}
    assert not {"licenses", "pedigree", "externalReferences", "properties"} & model.keys()


def test_the_same_model_gives_the_same_bytes_and_another_model_another_serial() -> None:
    first, again = build_bom(bom_input()), build_bom(bom_input())
    assert first == again
    assert "timestamp" not in json.loads(first)["metadata"]  # a re-run of the build must give the same bytes
    other = build_bom(bom_input(files=[BomFile("model.pkl", 4, "3" * 64)]))
    assert json.loads(other)["serialNumber"] != json.loads(first)["serialNumber"]


def test_a_license_expression_is_kept_as_an_expression() -> None:
    model = json.loads(build_bom(bom_input(card=ModelCardFacts(license="MIT OR Apache-2.0"))))["metadata"]["component"]
    assert model["licenses"] == [{"expression": "MIT OR Apache-2.0"}]


def test_a_document_the_schema_refuses_is_an_error_naming_the_problem() -> None:
    document = json.loads(build_bom(bom_input()))
    document["metadata"]["component"]["modelCard"]["modelParameters"]["approach"] = {"type": "guessing"}
    with pytest.raises(IntegrityError, match=r"not valid CycloneDX 1\.6") as error:
        check_bom(json.dumps(document))
    assert "guessing" in error.value.message


@pytest.mark.parametrize(
    ("name", "expected"), [("fraud-model", "fraud-model.cdx.json"), ("acme/bert-tiny", "bert-tiny.cdx.json")]
)
def test_the_bom_is_named_for_the_model(name: str, expected: str) -> None:
    assert bom_file_name(name) == expected
