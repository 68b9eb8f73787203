"""The AI-BOM through the real entrypoint against the sandbox, with build-publish in its own job.

Job 1 gates and uploads; job 2 publishes the build (nothing of job 1 in memory: the BOM comes from
what is stored and the inputs); job 3 promotes. The BOM is beside the model in both repositories,
listed in build-info with the checksums of its bytes, and valid by cyclonedx-python-lib's strict
CycloneDX 1.6 validator.
"""

from __future__ import annotations

import hashlib
import json

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from artifactory_sandbox.testing import SandboxHandle
from tests.e2e.conftest import ActionHarness
from tests.e2e.test_pipeline import MODEL, REQ_HASH, workspace
from tests.fakes.sandbox_client import SandboxClient

STAGE, PROD = "ml-models-staging-local", "ml-models-prod-local"
BOM = "fraud-model/7/fraud-model.cdx.json"
CARD_INPUTS = {
    "license": "Apache-2.0",
    "task": "tabular-classification",
    "base-model": "acme/fraud-base",
    "datasets": "creditcard-2026-11\ns3://acme-data/fraud/holdout.parquet",
    "dependencies-file": "requirements.txt",
    "thresholds": "eval.accuracy >= 0.9",
}


def test_build_publish_in_its_own_job_puts_a_valid_bom_beside_the_model_and_promotion_carries_it(
    action: ActionHarness, sandbox: SandboxHandle
) -> None:
    workspace(action, {"accuracy": 0.94, "loss": 0.21})
    client = SandboxClient(sandbox)
    gate = {"metrics-file": "metrics.json", "thresholds": "eval.accuracy >= 0.9"}
    uploaded = action.run({"stages": "gate,upload", "model-path": "model", **gate})
    assert uploaded.returncode == 0, uploaded.log

    published = action.run({"stages": "build-publish", **CARD_INPUTS})
    again = action.run({"stages": "build-publish", **CARD_INPUTS})
    promoted = action.run({"stages": "promote", "create-deployment": "false"})

    assert published.returncode == again.returncode == promoted.returncode == 0, published.log + again.log
    url = f"{sandbox.url}/artifactory/{STAGE}/{BOM}"
    assert published.outputs["bom-url"] == url
    assert f"AI-BOM (CycloneDX 1.6): [fraud-model.cdx.json]({url})" in published.summary
    assert "Build fraud-model #7 is already published with these files; nothing to do." in again.stdout
    text = client.download(STAGE, BOM)
    assert client.download(PROD, BOM) == text, "promotion copies the BOM with the build"
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text.decode()) is None

    info = client.build("fraud-model", "7")
    assert info is not None
    listed = {a["path"]: a for a in info["modules"][0]["artifacts"]}
    assert listed[BOM]["sha256"] == hashlib.sha256(text).hexdigest()
    assert listed[BOM]["sha1"] == hashlib.sha1(text, usedforsecurity=False).hexdigest()

    bom = json.loads(text)
    model = bom["metadata"]["component"]
    assert STAGE.encode() not in text, "the BOM promoted to production names no staging repository"
    assert {"name": "ml-artifactory-action:artifactory-path", "value": "fraud-model/7"} in model["properties"]
    links = {r["type"]: r["url"] for r in model["externalReferences"]}
    assert links["build-meta"].startswith(f"{sandbox.url}/ui/builds/fraud-model/7/")
    assert (model["type"], model["name"], model["version"]) == ("machine-learning-model", "fraud-model", "7")
    hashes = {f["name"]: {h["alg"]: h["content"] for h in f["hashes"]} for f in model["components"]}
    assert hashes == {
        name: {
            "SHA-256": listed[f"fraud-model/7/{name}"]["sha256"],
            "SHA-1": listed[f"fraud-model/7/{name}"]["sha1"],
            "MD5": listed[f"fraud-model/7/{name}"]["md5"],
        }
        for name in MODEL
    }
    assert all(hashes[name]["SHA-256"] == hashlib.sha256(content).hexdigest() for name, content in MODEL.items())
    card = model["modelCard"]
    assert card["modelParameters"]["task"] == "tabular-classification"
    assert [d["name"] for d in card["modelParameters"]["datasets"]] == [
        "creditcard-2026-11",
        "s3://acme-data/fraud/holdout.parquet",
    ]
    metrics = {m["type"]: m["value"] for m in card["quantitativeAnalysis"]["performanceMetrics"]}
    assert metrics == {"eval.accuracy": "0.94", "eval.loss": "0.21"}  # read back from the files' properties
    properties = {(p["name"], p["value"]) for p in card["properties"]}
    assert ("ml-artifactory-action:threshold", "eval.accuracy >= 0.9") in properties
    assert ("ml-artifactory-action:framework", "safetensors") in properties
    assert model["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    assert model["pedigree"]["ancestors"][0]["name"] == "acme/fraud-base"
    [numpy] = bom["components"]
    assert (numpy["purl"], numpy["hashes"]) == ("pkg:pypi/numpy@2.1.0", [{"alg": "SHA-256", "content": REQ_HASH}])
