"""System endpoints: ping, version, readiness, service id, multipart-upload config, Access ping."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .http import Request, Response, Route, json_response, text_response

if TYPE_CHECKING:
    from .app import Sandbox

VERSION = "7.104.5"
REVISION = "70405900"
SERVICE_ID = "jfrt@01sandbox0000000000000000"


def ping(req: Request, ctx: Sandbox) -> Response:
    return text_response("OK")


def version(req: Request, ctx: Sandbox) -> Response:
    return json_response(
        {"version": VERSION, "revision": REVISION, "addons": ["build", "rest", "aql", "xray"], "license": "sandbox"}
    )


def readiness(req: Request, ctx: Sandbox) -> Response:
    return json_response({"code": "OK"})


def service_id(req: Request, ctx: Sandbox) -> Response:
    return text_response(SERVICE_ID)


def uploads_config(req: Request, ctx: Sandbox) -> Response:
    """Multipart upload needs cloud storage; the sandbox stores on local disk (jfrog-api.md 4.1)."""
    return json_response({"supported": False})


def access_ping(req: Request, ctx: Sandbox) -> Response:
    return text_response("OK")


ROUTES = [
    Route("GET", r"/artifactory/api/system/ping", ping, auth="none"),
    Route("GET", r"/artifactory/api/system/version", version),
    Route("GET", r"/artifactory/api/v1/system/readiness", readiness, auth="none"),
    Route("GET", r"/artifactory/api/system/service_id", service_id),
    Route("GET", r"/artifactory/api/v1/uploads/config", uploads_config),
    Route("GET", r"/access/api/v1/system/ping", access_ping, auth="none"),
]
