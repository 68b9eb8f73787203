"""Xray's artifact-level API as the scan stage uses it for files uploaded without a build (fakes)."""

from __future__ import annotations

import httpx
import pytest

from ml_artifactory_action.artifactory.xray import Component
from ml_artifactory_action.artifactory.xray_artifacts import ArtifactRef, scan_artifacts
from ml_artifactory_action.errors import ScanFailedError, ScanTimeoutError
from tests.artifactory.test_xray import Clock, waiter
from tests.fakes.jfrog import FakeJFrog, jfrog_error, jfrog_json

SCAN, STATUS = "/xray/api/v1/scanArtifact", "/xray/api/v1/artifact/status"
SUMMARY, VIOLATIONS = "/xray/api/v2/summary/artifact", "/xray/api/v1/violations"
MODEL = ArtifactRef("ml-models-dev-local", "fraud/7/model.pkl", "ab" * 32)
DONE = {"overall": {"status": "DONE", "time": "2026-01-01T00:00:00Z"}, "details": {}}
PENDING = {"overall": {"status": "PENDING", "time": "2026-01-01T00:00:00Z"}, "details": {}}
VIOLATION = {"description": "Malicious model file model.pkl", "severity": "Critical", "type": "Security",
             "infected_components": [MODEL.component_id], "issue_id": "X-1", "watch_name": "w",
             "violation_details_url": "https://x/ui/violations", "impacted_artifacts": [MODEL.xray_path]}  # fmt: skip
LOW = VIOLATION | {"severity": "Low", "issue_id": "X-2", "description": "old"}


def summary(issues: int) -> httpx.Response:
    return jfrog_json({"artifacts": [{"general": {"path": MODEL.xray_path}, "issues": [{}] * issues}], "errors": []})


def test_waits_for_the_scan_then_reads_every_page_of_violations() -> None:
    fake = FakeJFrog()
    fake.on("POST", SCAN, jfrog_error(403, "Missing Manage Xray Metadata permission"))
    fake.on("POST", STATUS, jfrog_error(404, "not found"), jfrog_json(PENDING), jfrog_json(DONE))
    fake.on("POST", SUMMARY, summary(2))
    fake.on("POST", VIOLATIONS, jfrog_json({"total_violations": 2, "violations": [LOW]}),
            jfrog_json({"total_violations": 2, "violations": [VIOLATION]}))  # fmt: skip
    clock, log = Clock(), []

    scan = scan_artifacts(fake.client(), [MODEL], waiter(60, clock), log=log.append)

    assert (scan.fail_build, scan.vulnerabilities, scan.more_details_url) == (True, 2, "https://x/ui/violations")
    assert [(v.severity, v.type, v.summary) for v in scan.violations] == [
        ("Critical", "security", "Malicious model file model.pkl"), ("Low", "security", "old")]  # fmt: skip
    assert scan.violations[0].components == (Component(f"generic://sha256:{'ab' * 32}/model.pkl"),)
    assert fake.json_sent("POST", SCAN) == [{"componentID": f"generic://sha256:{'ab' * 32}/model.pkl"}]
    assert fake.json_sent("POST", STATUS)[0] == {"repo": "ml-models-dev-local", "path": "fraud/7/model.pkl"}
    assert fake.json_sent("POST", SUMMARY) == [{"paths": ["default/ml-models-dev-local/fraud/7/model.pkl"]}]
    pages = fake.json_sent("POST", VIOLATIONS)
    assert [p["pagination"]["offset"] for p in pages] == [1, 2]  # 1-based pages
    assert pages[0]["filters"] == {
        "resources": {"artifacts": [{"repo": "ml-models-dev-local", "path": "fraud/7/model.pkl"}]}
    }
    assert clock.sleeps == [0.5, 0.75]
    assert (
        log[0]
        == "Xray did not start a scan of fraud/7/model.pkl (Missing Manage Xray Metadata permission); waiting for its indexing."
    )
    assert "Waiting for Xray to scan fraud/7/model.pkl: PENDING" in log


def test_no_violation_passes() -> None:
    fake = FakeJFrog()
    fake.on("POST", SCAN, jfrog_json({"info": "Scan of artifact is in progress"}))
    fake.on("POST", STATUS, jfrog_json(DONE))
    fake.on("POST", SUMMARY, summary(0))
    fake.on("POST", VIOLATIONS, jfrog_json({"total_violations": 0, "violations": []}))

    scan = scan_artifacts(fake.client(), [MODEL], waiter(60, Clock()))

    assert (scan.fail_build, scan.violations, scan.vulnerabilities) == (False, (), 0)


def test_a_failed_scan_status_fails() -> None:
    fake = FakeJFrog()
    fake.on("POST", SCAN, jfrog_json({"info": "Scan of artifact is in progress"}))
    fake.on("POST", STATUS, jfrog_json({"overall": {"status": "FAILED"}}))

    with pytest.raises(ScanFailedError) as caught:
        scan_artifacts(fake.client(), [MODEL], waiter(60, Clock()))

    assert caught.value.message == "Xray could not scan ml-models-dev-local/fraud/7/model.pkl (status FAILED)."


def test_a_file_never_indexed_times_out() -> None:
    fake = FakeJFrog()
    fake.on("POST", SCAN, jfrog_error(404, "Component not found"))
    fake.on("POST", STATUS, jfrog_error(404, "Artifact not found"))

    with pytest.raises(ScanTimeoutError) as caught:
        scan_artifacts(fake.client(), [MODEL], waiter(5, Clock()))

    assert caught.value.message == (
        "Xray did not finish scanning ml-models-dev-local/fraud/7/model.pkl within 5 s "
        "(last answer: fraud/7/model.pkl: Artifact not found)."
    )
    assert "Indexed Resources > Repositories" in caught.value.fix


def test_a_summary_without_a_verdict_fails() -> None:
    fake = FakeJFrog()
    fake.on("POST", SCAN, jfrog_json({"info": "Scan of artifact is in progress"}))
    fake.on("POST", STATUS, jfrog_json(DONE))
    error = {"identifier": MODEL.xray_path, "error": "Artifact doesn't exist or not indexed/cached in Xray"}
    fake.on("POST", SUMMARY, jfrog_json({"artifacts": [], "errors": [error]}))

    with pytest.raises(ScanFailedError) as caught:
        scan_artifacts(fake.client(), [MODEL], waiter(60, Clock()))

    assert caught.value.message == (
        "Xray has no verdict on 1 of the uploaded files: default/ml-models-dev-local/fraud/7/model.pkl: "
        "Artifact doesn't exist or not indexed/cached in Xray"
    )
