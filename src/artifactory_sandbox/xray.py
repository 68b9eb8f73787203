"""Xray endpoints: ping, version, the v2 CI build scan, legacy v1 scanBuild, status and summary.

A build is indexed `xray_index_delay` seconds after it was published. Before that, the v2 trigger
answers 404 `{"info": "Build <name> number <number> wasn't found in Artifactory"}` (the JFrog
client retries on that text) and result polls answer 202; afterwards results are 200. Xray's
error body is `{"error": "..."}`.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import build_store
from .app import iso_time
from .build_store import BuildRun
from .builds import name_and_number
from .http import Request, Response, Route, json_response
from .xray_advisories import AdvisoryFileError
from .xray_artifacts import ROUTES as ARTIFACT_ROUTES
from .xray_models import ModelScanError
from .xray_report import ScanContext, build_summary, v1_result, v2_result
from .xray_scan import CACHE_STATE_KEY, scan_run

if TYPE_CHECKING:
    from .app import Sandbox

XRAY_VERSION = "3.107.8"
XRAY_REVISION = "5735964"
LEGACY_WAIT_STEP_S = 0.1


def ping(req: Request, ctx: Sandbox) -> Response:
    return json_response({"status": "pong"})


def version(req: Request, ctx: Sandbox) -> Response:
    return json_response({"xray_version": XRAY_VERSION, "xray_revision": XRAY_REVISION})


def xray_error(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def not_found(name: str, number: str) -> Response:
    return json_response({"info": f"Build {name} number {number} wasn't found in Artifactory"}, 404)


def _find(ctx: Sandbox, name: str, number: str, project: str) -> BuildRun | None:
    with ctx.db.read() as conn:
        return build_store.find_run(conn, name, number, project)


def indexed_at(ctx: Sandbox, run: BuildRun) -> datetime:
    return datetime.fromisoformat(run.created) + timedelta(seconds=ctx.config.xray_index_delay)


def is_indexed(ctx: Sandbox, run: BuildRun) -> bool:
    return ctx.now() >= indexed_at(ctx, run)


def _body(req: Request) -> dict[str, Any]:
    body = req.read_json()
    return body if isinstance(body, dict) else {}


def _v2_params(req: Request, body: dict[str, Any]) -> tuple[str, str, str]:
    project = str(body.get("project") or req.arg("projectKey") or "")
    return str(body.get("build_name") or ""), str(body.get("build_number") or ""), project


def trigger(req: Request, ctx: Sandbox) -> Response:
    body = _body(req)
    name, number, project = _v2_params(req, body)
    if not name or not number:
        return xray_error(400, "build_name and build_number are mandatory")
    run = _find(ctx, name, number, project)
    if run is None or not is_indexed(ctx, run):
        return not_found(name, number)
    if body.get("rescan") is True:
        with ctx.lock:
            ctx.state.get(CACHE_STATE_KEY, {}).pop(run.id, None)
    return json_response({"info": f"Scan of build name '{name}', build number '{number}' is in progress"})


def results_get(req: Request, ctx: Sandbox) -> Response:
    name, number = name_and_number(req, "/api/v2/ci/build/")
    return _results(req, ctx, name, number or "", req.arg("projectKey") or "")


def results_post(req: Request, ctx: Sandbox) -> Response:
    name, number, project = _v2_params(req, _body(req))
    return _results(req, ctx, name, number, project)


def _results(req: Request, ctx: Sandbox, name: str, number: str, project: str) -> Response:
    run = _find(ctx, name, number, project)
    if run is None:
        return not_found(name, number)
    if not is_indexed(ctx, run):
        return json_response({"info": "Build scan is in progress"}, 202)
    try:
        scan = _scan(req, ctx, run)
    except (ModelScanError, AdvisoryFileError) as err:
        return json_response({"build_name": name, "build_number": number, "status": "failed",
                              "info": f"Xray build scan failed: {err}"})  # fmt: skip
    return json_response(v2_result(scan, req.flag("include_vulnerabilities")))


def _scan(req: Request, ctx: Sandbox, run: BuildRun) -> ScanContext:
    return ScanContext(run, scan_run(ctx, run), ctx.config.fail_severity, req.base_url)


def legacy_scan(req: Request, ctx: Sandbox) -> Response:
    """`scanBuild` v1 blocks until the build is scanned (Xray streams keep-alives meanwhile)."""
    body = _body(req)
    name, number = str(body.get("buildName") or ""), str(body.get("buildNumber") or "")
    if not name or not number:
        return xray_error(400, "buildName and buildNumber are mandatory")
    run = _find(ctx, name, number, str(body.get("project") or ""))
    if run is None:
        return xray_error(404, f"Build {name} number {number} wasn't found in Artifactory")
    while not is_indexed(ctx, run):
        time.sleep(LEGACY_WAIT_STEP_S)
    try:
        scan = _scan(req, ctx, run)
    except (ModelScanError, AdvisoryFileError) as err:
        return xray_error(500, f"Failed to scan build: {err}")
    return json_response(v1_result(scan, iso_time(ctx.now())))


def build_status(req: Request, ctx: Sandbox) -> Response:
    body = _body(req)
    run = _find(ctx, str(body.get("name") or ""), str(body.get("number") or ""), str(body.get("project") or ""))
    if run is None:
        return xray_error(404, "Build not found")
    done = is_indexed(ctx, run)
    state = {"status": "DONE" if done else "IN_PROGRESS", "time": iso_time(indexed_at(ctx, run))}
    return json_response({"overall": state, "details": {"sca": state, "violations": state}})


def scan_status(req: Request, ctx: Sandbox) -> Response:
    body = _body(req)
    run = _find(ctx, str(body.get("name") or ""), str(body.get("version") or ""), str(body.get("project") or ""))
    if run is None:
        return json_response({"status": "not scanned"})
    return json_response({"status": "scanned" if is_indexed(ctx, run) else "in progress"})


def summary(req: Request, ctx: Sandbox) -> Response:
    name, number = req.arg("build_name") or "", req.arg("build_number") or ""
    run = _find(ctx, name, number, req.arg("project") or "")
    if run is None or not is_indexed(ctx, run):
        return xray_error(404, f"Build {name} number {number} was not found")
    try:
        scan = _scan(req, ctx, run)
    except (ModelScanError, AdvisoryFileError) as err:
        return xray_error(500, f"Failed to scan build: {err}")
    return json_response(build_summary(scan, iso_time(ctx.now())))


ROUTES = [
    Route("GET", r"/xray/api/v1/system/ping", ping, auth="none"),
    Route("GET", r"/xray/api/v1/system/version", version),
    Route("POST", r"/xray/api/v2/ci/build/?", trigger, auth="write"),
    Route("POST", r"/xray/api/v2/ci/build/scanResult", results_post),
    Route("GET", r"/xray/api/v2/ci/build/.+", results_get),
    Route("POST", r"/xray/api/v1/scanBuild", legacy_scan, auth="write"),
    Route("POST", r"/artifactory/api/xray/scanBuild", legacy_scan, auth="write"),
    Route("POST", r"/xray/api/v1/build/status", build_status),
    Route("POST", r"/xray/api/v1/scan/status/build", scan_status),
    Route("GET", r"/xray/api/v1/summary/build", summary),
    *ARTIFACT_ROUTES,
]
