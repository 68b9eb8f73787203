from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.fakes.jfrog import FakeJFrog, jfrog_json, log_of, make_context

from ml_artifactory_action.errors import ScanFailedError
from ml_artifactory_action.settings import Stage
from ml_artifactory_action.stages import scan

VIOLATION = {
    "summary": "Model file runs code on load: os.system",
    "severity": "Critical",
    "type": "security",
    "issue_id": "SANDBOX-PICKLE-1",
    "fail_build": True,
    "components": {"generic://sha256:abc/model.pkl": {"fixed_versions": []}},
}
CVE = {
    "summary": "Arbitrary code execution in torch.load",
    "severity": "High",
    "type": "security",
    "issue_id": "XRAY-9",
    "cves": [{"cve": "CVE-2025-32434"}],
    "fail_build": True,
    "components": {"pypi://torch:2.5.1": {"fixed_versions": ["[2.6.0]"]}},
}


def xray(result: dict[str, object]) -> FakeJFrog:
    fake = FakeJFrog()
    fake.on(
        "POST",
        "/xray/api/v2/ci/build",
        jfrog_json({"info": "Scan of build name 'fraud-model', build number '7' is in progress"}),
    )
    fake.on("GET", "/xray/api/v1/system/version", jfrog_json({"xray_version": "3.107.8"}))
    fake.on("POST", "/xray/api/v2/ci/build/scanResult", jfrog_json({"status": "completed", **result}))
    return fake


def test_a_clean_scan_passes_and_sets_the_outputs(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, {"stages": "scan"}, fake=xray({"fail_build": False, "violations": []}))

    result = scan.run(ctx)

    assert result.outcome == "pass"
    assert ctx.runner.outputs == {"scan-result": "pass", "violations": "[]"}
    assert "Xray: passes; 0 violations, 0 vulnerabilities." in log_of(ctx)


def test_a_failing_policy_stops_the_run_listing_the_violations(tmp_path: Path) -> None:
    result = {"fail_build": True, "violations": [CVE, VIOLATION], "more_details_url": "https://acme.jfrog.io/ui/scans"}
    ctx = make_context(tmp_path, {"stages": "scan"}, fake=xray(result))

    with pytest.raises(ScanFailedError) as caught:
        scan.run(ctx)

    assert caught.value.message == (
        "Xray's policy fails build fraud-model #7 with 2 violations:\n"
        "- Critical security: Model file runs code on load: os.system [SANDBOX-PICKLE-1] in generic://sha256:abc/model.pkl\n"
        "- High security: Arbitrary code execution in torch.load [CVE-2025-32434] in pypi://torch:2.5.1 (fixed in [2.6.0])\n"
        " Details: https://acme.jfrog.io/ui/scans"
    )
    assert "nothing was promoted" in caught.value.fix
    assert ctx.state.get(Stage.SCAN).outcome == "fail"
    assert ctx.runner.outputs["scan-result"] == "fail"
    assert [v["issue_id"] for v in json.loads(ctx.runner.outputs["violations"])] == ["SANDBOX-PICKLE-1", "XRAY-9"]


def test_fail_on_violations_false_reports_without_failing(tmp_path: Path) -> None:
    fake = xray({"fail_build": True, "violations": [CVE]})
    ctx = make_context(tmp_path, {"stages": "scan", "fail-on-violations": "false"}, fake=fake)

    result = scan.run(ctx)

    assert result.outcome == "fail"
    assert ctx.runner.annotations == [
        (
            "warning",
            "Xray policy violations",
            "Xray's policy fails build fraud-model #7 (1 violations); continuing because fail-on-violations is false.",
        )
    ]


def test_a_dry_run_asks_xray_nothing(tmp_path: Path) -> None:
    fake = FakeJFrog()
    ctx = make_context(tmp_path, {"stages": "scan", "dry-run": "true"}, fake=fake)

    result = scan.run(ctx)

    assert result.outcome == "skipped"
    assert fake.requests == []
    assert ctx.runner.outputs == {"scan-result": "skipped", "violations": "[]"}
