from __future__ import annotations

import httpx
import pytest

from ml_artifactory_action.artifactory.xray import Component, Waiter, parse_scan, scan_build
from ml_artifactory_action.errors import ArtifactoryError, ScanFailedError, ScanTimeoutError
from tests.fakes.jfrog import FakeJFrog, jfrog_json

TRIGGER = "/xray/api/v2/ci/build"
RESULTS = "/xray/api/v2/ci/build/scanResult"
VERSION = "/xray/api/v1/system/version"
IN_PROGRESS = {"info": "Scan of build name 'fraud', build number '7' is in progress"}
NOT_FOUND = {"info": "Build fraud number 7 wasn't found in Artifactory"}
VIOLATION = {
    "summary": "Unsafe pickle global os.system",
    "severity": "Critical",
    "type": "security",
    "issue_id": "XRAY-1",
    "fail_build": True,
    "cves": [{"cve": "CVE-2024-1"}],
    "components": {
        "generic://sha256:abc/model.pkl": {"fixed_versions": []},
        "pypi://torch:2.0.0": {"fixed_versions": ["[2.2.0]"]},
    },
    "watch_name": "models",
}
LOW = VIOLATION | {"severity": "Low", "summary": "old dep", "cves": []}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def waiter(timeout: float, clock: Clock) -> Waiter:
    return Waiter(timeout, now=lambda: clock.now, sleep=clock.sleep)


def test_trigger_waits_for_indexing_then_polls_until_the_result() -> None:
    fake = FakeJFrog()
    fake.on("GET", VERSION, jfrog_json({"xray_version": "3.107.8"}))
    fake.on("POST", TRIGGER, httpx.Response(404, json=NOT_FOUND), jfrog_json(IN_PROGRESS))
    result = {
        "status": "completed",
        "fail_build": True,
        "more_details_url": "https://x/ui",
        "violations": [LOW, VIOLATION],
        "vulnerabilities": [{}, {}],
    }
    fake.on(
        "POST",
        RESULTS,
        httpx.Response(202, json=IN_PROGRESS),
        httpx.Response(202, json=IN_PROGRESS),
        jfrog_json(result),
    )
    clock, log = Clock(), []

    scan = scan_build(fake.client(), "fraud", "7", "", waiter(60, clock), log=log.append)

    assert scan.fail_build is True
    assert [v.severity for v in scan.violations] == ["Critical", "Low"]  # most severe first
    assert scan.violations[0].components == (
        Component("generic://sha256:abc/model.pkl"),
        Component("pypi://torch:2.0.0", ("[2.2.0]",)),
    )
    assert scan.violations[0].cves == ("CVE-2024-1",)
    assert scan.vulnerabilities == 2
    assert clock.sleeps == [0.5, 0.75, 1.125]
    assert fake.json_sent("POST", TRIGGER)[0] == {"build_name": "fraud", "build_number": "7"}
    [first_poll, *_] = fake.sent("POST", RESULTS)
    assert first_poll.url.params["include_vulnerabilities"] == "true"
    assert "Xray has not indexed build fraud #7 yet: Build fraud number 7 wasn't found in Artifactory" in log


def test_older_xray_is_polled_with_get_and_the_project_key() -> None:
    fake = FakeJFrog()
    fake.on("GET", VERSION, jfrog_json({"xray_version": "3.60.0"}))
    fake.on("POST", TRIGGER, jfrog_json(IN_PROGRESS))
    fake.on("GET", r"/xray/api/v2/ci/build/fraud%20model/7", jfrog_json({"status": "completed", "fail_build": False}))

    scan = scan_build(fake.client(), "fraud model", "7", "ml", waiter(60, Clock()))

    assert scan.fail_build is False
    assert scan.violations == ()
    [poll] = fake.sent("GET", r"/xray/api/v2/ci/build/fraud%20model/7")
    assert poll.url.params["projectKey"] == "ml"
    assert fake.json_sent("POST", TRIGGER) == [{"build_name": "fraud model", "build_number": "7", "project": "ml"}]


def test_a_scan_that_never_finishes_times_out_with_the_last_answer() -> None:
    fake = FakeJFrog()
    fake.on("GET", VERSION, jfrog_json({"xray_version": "3.107.8"}))
    fake.on("POST", TRIGGER, jfrog_json(IN_PROGRESS))
    fake.on("POST", RESULTS, httpx.Response(202, json=IN_PROGRESS))
    clock = Clock()

    with pytest.raises(ScanTimeoutError) as caught:
        scan_build(fake.client(), "fraud", "7", "", waiter(10, clock))

    assert caught.value.message == (
        "Xray did not finish scanning build fraud #7 within 10 s (last answer: "
        "Scan of build name 'fraud', build number '7' is in progress)."
    )
    assert clock.now == pytest.approx(10)


def test_a_build_never_indexed_times_out_during_the_trigger() -> None:
    fake = FakeJFrog()
    fake.on("POST", TRIGGER, httpx.Response(404, json=NOT_FOUND))
    clock = Clock()

    with pytest.raises(ScanTimeoutError, match=r"wasn't found in Artifactory"):
        scan_build(fake.client(), "fraud", "7", "", waiter(3, clock))


def test_a_build_not_selected_for_indexing_says_how_to_add_it() -> None:
    fake = FakeJFrog()
    fake.on("POST", TRIGGER, jfrog_json({"info": "Build fraud is not selected for indexing"}))

    with pytest.raises(ScanFailedError) as caught:
        scan_build(fake.client(), "fraud", "7", "", waiter(3, Clock()))

    assert caught.value.title == "Build not indexed by Xray"
    assert "Indexed Resources" in caught.value.fix


def test_no_fail_build_policy_still_reads_the_result() -> None:
    fake = FakeJFrog()
    info = "No Xray “Fail build in case of a violation” policy rule has been defined on this build."
    fake.on("POST", TRIGGER, jfrog_json({"info": info}))
    fake.on("GET", VERSION, jfrog_json({"xray_version": "3.107.8"}))
    fake.on("POST", RESULTS, jfrog_json({"status": "completed", "violations": [LOW]}))

    scan = scan_build(fake.client(), "fraud", "7", "", waiter(3, Clock()))

    assert scan.has_fail_policy is False
    assert scan.fail_build is False


def test_a_failed_scan_status_is_an_error_and_a_404_without_xray_is_not_waited_on() -> None:
    fake = FakeJFrog()
    fake.on("POST", TRIGGER, jfrog_json(IN_PROGRESS))
    fake.on("GET", VERSION, jfrog_json({"xray_version": "3.107.8"}))
    fake.on("POST", RESULTS, jfrog_json({"status": "failed"}))
    with pytest.raises(ScanFailedError, match=r"status 'failed'"):
        scan_build(fake.client(), "fraud", "7", "", waiter(3, Clock()))

    missing = FakeJFrog()
    missing.on("POST", TRIGGER, httpx.Response(404, text="Not Found"))
    with pytest.raises(ArtifactoryError, match=r"answered 404: Not Found"):
        scan_build(missing.client(), "fraud", "7", "", waiter(3, Clock()))


def test_violation_output_shape() -> None:
    [violation] = parse_scan({"violations": [VIOLATION]}).violations
    assert violation.as_output() == {
        "severity": "Critical",
        "type": "security",
        "summary": "Unsafe pickle global os.system",
        "issue_id": "XRAY-1",
        "cves": ["CVE-2024-1"],
        "components": [
            {"id": "generic://sha256:abc/model.pkl", "fixed_versions": []},
            {"id": "pypi://torch:2.0.0", "fixed_versions": ["[2.2.0]"]},
        ],
        "fail_build": True,
    }
