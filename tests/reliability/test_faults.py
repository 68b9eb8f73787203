"""Faults injected into the sandbox, on the upload stage alone and on the whole pipeline.

Each run must end complete (every file stored with its checksum, the build-info listing exactly
them, production holding them) or failed cleanly (one error naming what failed, no file of the
model half-uploaded, no build-info pointing at a missing file, nothing promoted); after a failure,
a re-run with the server healthy again finishes the job without sending again the bytes that the
server kept.

Transient faults are injected on every endpoint of a scope at once, as a flaky network would hit
them; `registry.faults()` then proves each one was really met. A server that stays down is
injected on one endpoint at a time, since the first failure ends the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from ml_artifactory_action.artifactory.retry import RetryPolicy
from tests.e2e.conftest import ActionHarness
from tests.reliability.conftest import BUILD, FOLDER, NUMBER, PIPELINE, one_error, pipeline_inputs
from tests.reliability.registry import STAGING, Registry, check_complete, check_consistent, split_bom

UPLOAD = "upload"
MIB = 1 << 20
# Endpoints, as (method, regex on the decoded path).
DEPLOY = ("PUT", rf"^/artifactory/{STAGING}/.*/model\.safetensors$")  # streamed while hashed
SMALL_DEPLOY = ("PUT", rf"^/artifactory/{STAGING}/.*/config\.json$")  # sent with its checksum
CHECKSUM_DEPLOY = ("PUT", rf"^/artifactory/{STAGING}/.*/vocab\.txt$")  # content known: no bytes
AQL = ("POST", r"^/artifactory/api/search/aql$")
PUBLISH = ("PUT", r"^/artifactory/api/build/?$")
PROMOTE = ("POST", r"^/artifactory/api/build/promote/")
XRAY_TRIGGER = ("POST", r"^/xray/api/v2/ci/build$")
XRAY_RESULT = ("POST", r"^/xray/api/v2/ci/build/scanResult$")
XRAY_VERSION = ("GET", r"^/xray/api/v1/system/version$")
UPLOAD_ENDPOINTS = (DEPLOY, SMALL_DEPLOY, CHECKSUM_DEPLOY, AQL)
PIPELINE_ENDPOINTS = (*UPLOAD_ENDPOINTS, PUBLISH, PROMOTE, XRAY_TRIGGER, XRAY_RESULT, XRAY_VERSION)
# Bytes after which a request is cut (a bit into each body; 0 for bodiless requests).
RESET_AFTER = {DEPLOY: MIB, SMALL_DEPLOY: 10, CHECKSUM_DEPLOY: 0, AQL: 20, PUBLISH: 300, PROMOTE: 40}

BURST_503 = {"status": 503, "retry_after": 0}
BACKOFF_503 = {"status": 503}  # no Retry-After: the client's own exponential backoff
RATE_LIMITED = {"status": 429, "retry_after": 0}
RATE_LIMITED_1S = {"status": 429, "retry_after": 1}  # the retry must wait a second
SLOW_START = {"delay": 2}  # the first byte of the answer after 2 s
SLOW_BODY = {"body_delay": 2}  # headers at once, the body 2 s later
DOWN = {"status": 503, "count": 1000, "retry_after": 0}


@dataclass(frozen=True)
class Transient:
    """Faults a run must survive: it ends complete."""

    id: str
    stages: str
    faults: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Outage:
    """One endpoint stays down: the run fails cleanly, then a re-run finishes the job."""

    id: str
    stages: str
    endpoint: tuple[str, str]
    stage: str  # the stage the report names as failed
    names: tuple[str, ...]  # what the error message must name (file, what was being done)
    uploaded: bool  # whether the model stays in staging after the failure
    published: bool = False


def on(endpoints: tuple[tuple[str, str], ...], spec: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    return tuple({"method": method, "path": path, **spec} for method, path in endpoints)


def resets(endpoints: tuple[tuple[str, str], ...]) -> tuple[dict[str, Any], ...]:
    return tuple(
        {"method": m, "path": p, "reset_after_bytes": RESET_AFTER[(m, p)]}
        for m, p in endpoints
        if (m, p) in RESET_AFTER
    )


def flaky(
    endpoints: tuple[tuple[str, str], ...],
    *,
    waits: tuple[str, str],
    backs_off: tuple[str, str],
    slow_start: tuple[str, str],
    slow_body: tuple[str, str],
) -> tuple[dict[str, Any], ...]:
    """Every endpoint, in turn: the connection reset half-way through the body, a 503, a 429 (the
    `waits` one asks for a 1 s wait, which is checked; the `backs_off` one's 503 has no Retry-After,
    so the client's own backoff runs). Then `slow_start` answers 2 s late, `slow_body` sends the
    body 2 s after the headers (both then succeed, within the client's timeouts)."""
    faults = list(resets(endpoints))
    faults += on(tuple(e for e in endpoints if e != backs_off), BURST_503) + on((backs_off,), BACKOFF_503)
    faults += on(tuple(e for e in endpoints if e != waits), RATE_LIMITED) + on((waits,), RATE_LIMITED_1S)
    return (*faults, *on((slow_start,), SLOW_START), *on((slow_body,), SLOW_BODY))


TRANSIENT = [
    Transient(
        "upload",
        UPLOAD,
        flaky(UPLOAD_ENDPOINTS, waits=DEPLOY, backs_off=CHECKSUM_DEPLOY, slow_start=DEPLOY, slow_body=AQL),
    ),
    Transient(
        "pipeline",
        PIPELINE,
        flaky(PIPELINE_ENDPOINTS, waits=PUBLISH, backs_off=XRAY_TRIGGER, slow_start=DEPLOY, slow_body=PUBLISH),
    ),
]

OUTAGES = [
    Outage(
        "upload-checksum-deploy-down",
        UPLOAD,
        CHECKSUM_DEPLOY,
        "upload",
        ("model/vocab.txt: deploying it by checksum",),
        False,
    ),
    Outage("pipeline-deploy-down", PIPELINE, DEPLOY, "upload", ("model/model.safetensors: uploading it",), False),
    Outage(
        "pipeline-publish-down", PIPELINE, PUBLISH, "build-publish", ("Publishing build-info fraud-model #7",), True
    ),
    Outage(
        "pipeline-xray-down", PIPELINE, XRAY_TRIGGER, "scan", ("Starting the Xray scan of fraud-model #7",), True, True
    ),
    Outage("pipeline-promote-down", PIPELINE, PROMOTE, "promote", ("promotion of build fraud-model #7",), True, True),
]


def expect_complete(registry: Registry, model: dict[str, bytes], stages: str) -> None:
    published = "build-publish" in stages
    check_complete(
        registry, model, FOLDER, build_name=BUILD if published else "", number=NUMBER, promoted="promote" in stages
    )


@pytest.mark.parametrize("case", TRANSIENT, ids=lambda c: c.id)
def test_transient_faults_are_retried_and_the_run_completes(
    case: Transient, action: ActionHarness, registry: Registry, model: dict[str, bytes]
) -> None:
    for spec in case.faults:
        registry.fault(**spec)

    result = action.run(pipeline_inputs(case.stages))

    assert result.returncode == 0, result.log
    assert result.errors == []
    faults = registry.faults()
    assert [f for f in faults if f["remaining"]] == [], "faults the run never met"
    retried = sum(f["hits"] for f in faults if "status" in f or "reset_after_bytes" in f)
    assert result.stdout.count("Retrying ") == retried
    for fault in faults:
        if fault.get("retry_after"):
            assert waited_after(registry, fault) >= fault["retry_after"] - 0.05
    expect_complete(registry, model, case.stages)
    assert sorted(a["path"] for a in result.json_output("artifacts")) == sorted(f"{FOLDER}/{n}" for n in model)


def waited_after(registry: Registry, fault: dict[str, Any]) -> float:
    """Seconds between the end of the last faulted answer and the start of the retry."""
    log = registry.requests()
    hit = max(i for i, entry in enumerate(log) if entry["fault"] == fault["id"])
    retry = next(e for e in log[hit + 1 :] if e["method"] == fault["method"] and e["path"] == log[hit]["path"])
    return float(retry["at"] - retry["duration"] - log[hit]["at"])


@pytest.mark.parametrize("case", OUTAGES, ids=lambda c: c.id)
def test_an_outage_fails_cleanly_and_a_rerun_finishes_without_resending(
    case: Outage, action: ActionHarness, registry: Registry, model: dict[str, bytes]
) -> None:
    method, path = case.endpoint
    registry.fault(method=method, path=path, **DOWN)

    failed = action.run(pipeline_inputs(case.stages))

    title, message = one_error(failed)
    assert title == "Artifactory request failed"
    assert f"**Failed stage:** `{case.stage}`" in failed.summary
    for name in case.names:
        assert name in message
    assert "answered 503: Injected fault 1" in message
    assert failed.stdout.count("Retrying ") == RetryPolicy().attempts - 1  # then it gave up, and said so
    assert failed.stderr == ""
    kept, bom = split_bom(registry.files(STAGING, FOLDER))
    assert sorted(kept) == (sorted(model) if case.uploaded else []), "the model wholly in staging, or not at all"
    assert not bom or case.uploaded, "an AI-BOM only beside a whole model"
    check_consistent(registry, BUILD)
    assert bool(registry.runs(BUILD)) == case.published
    assert registry.files("ml-models-prod-local") == {}

    registry.clear()
    rerun = action.run(pipeline_inputs(case.stages))

    assert rerun.returncode == 0, rerun.log
    expect_complete(registry, model, case.stages)
    sent = registry.bodies_sent_to(STAGING)
    if case.uploaded:
        assert sent == {}, "bytes the server already held were sent again"
    else:  # the failed upload removed what it had sent: each new file goes once, vocab.txt by checksum
        sent, bom = split_bom(sent)
        assert sent == {f"{FOLDER}/{n}": len(model[n]) for n in ("model.safetensors", "config.json")}
        published = "build-publish" in case.stages.split(",")
        assert len(bom) == published, "the AI-BOM, written for the first time by a re-run that publishes"
