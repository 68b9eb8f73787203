"""Build info REST API: publish, list, runs, one run, delete (`/artifactory/api/build...`).

Names and numbers are taken from the raw path and percent-decoded per segment, so `%2F` keeps a
slash inside a name; as in Artifactory's `{name: .+}/{number: .+}` route, the last raw segment is
the number and everything before it the name.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from . import build_store, items
from .build_store import BuildRun
from .http import HttpError, Request, Response, Route, json_response, text_response

if TYPE_CHECKING:
    from .app import Sandbox

BUILD_PREFIX = "/artifactory/api/build/"
REQUIRED_FIELDS = (("name", "Build name"), ("number", "Build number"), ("started", "Build started"))
BUILD_INFO_TYPE = "application/vnd.org.jfrog.build.BuildInfo+json"


def project_of(req: Request) -> str:
    return (req.arg("project") or "").strip()


def publish(req: Request, ctx: Sandbox) -> Response:
    info = without_nulls(req.read_json())
    validate(info)
    info["artifactoryPrincipal"] = req.user  # Artifactory records who published
    build_store.save_run(ctx, info, project_of(req), req.user)
    return Response(204)


def without_nulls(value: Any) -> Any:
    """The document as Artifactory keeps it: a member sent as `null` is left out, at every depth.

    Artifactory reads build-info into its typed `Build` bean and writes it back without null
    members, so `"agent": null` reads back as no `agent` at all (build-info-go, the JFrog CLI's
    model, marks every member `omitempty` and never sends one).
    """
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value if item is not None]
    return value


def validate(info: Any) -> None:
    """Refuse a body Artifactory could not store (name, number and started are required)."""
    if not isinstance(info, dict):
        raise HttpError(400, "Build info must be a JSON object")
    for field, label in REQUIRED_FIELDS:
        value = info.get(field)
        if not isinstance(value, str) or not value.strip():
            raise HttpError(400, f"{label} is missing or empty")
    build_store.started_millis(info["started"])
    modules = info.get("modules")
    if modules is None:
        return
    if not _list_of_objects(modules):
        raise HttpError(400, "Build info 'modules' must be a list of objects")
    for module in modules:
        for key in ("artifacts", "dependencies"):
            if module.get(key) is not None and not _list_of_objects(module[key]):
                raise HttpError(400, f"Build info module '{key}' must be a list of objects")


def _list_of_objects(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def name_and_number(req: Request, marker: str = "/api/build/") -> tuple[str, str | None]:
    """(name, number) from the raw path after `marker` (number None for one segment)."""
    raw = req.raw_path.split("?", 1)[0]
    tail = raw[raw.index(marker) + len(marker) :].rstrip("/")
    head, sep, last = tail.rpartition("/")
    if not sep:
        return unquote(tail), None
    return unquote(head), unquote(last)


def build_uri(base_url: str, name: str, number: str | None = None) -> str:
    uri = f"{base_url}/artifactory/api/build/{quote(name, safe='')}"
    return f"{uri}/{quote(number, safe='')}" if number is not None else uri


def get_builds(req: Request, ctx: Sandbox) -> Response:
    with ctx.db.read() as conn:
        runs = build_store.latest_runs(conn, project_of(req))
    if not runs:
        raise HttpError(404, "No builds were found")
    builds = [{"uri": "/" + quote(run.name, safe=""), "lastStarted": run.started} for run in runs]
    return json_response({"uri": f"{req.base_url}/artifactory/api/build", "builds": builds})


def get_build(req: Request, ctx: Sandbox) -> Response:
    name, number = name_and_number(req)
    if number is None:
        return _runs(req, ctx, name)
    with ctx.db.read() as conn:
        run = build_store.find_run(conn, name, number, project_of(req))
        if run is None or not _started_matches(run, req.arg("started")):
            raise HttpError(404, _not_found(name, number, req.arg("started")))
        info = {**run.info, "statuses": build_store.statuses(conn, run.id)}
    if not info["statuses"]:
        del info["statuses"]
    body = {"uri": build_uri(req.base_url, name, number), "buildInfo": info}
    return json_response(body, content_type=BUILD_INFO_TYPE)


def _started_matches(run: BuildRun, started: str | None) -> bool:
    return not started or run.started == started


def _not_found(name: str, number: str, started: str | None) -> str:
    extra = f", build started: {started}" if started else ""
    return f"No build was found for build name: {name}, build number: {number} {extra}"


def _runs(req: Request, ctx: Sandbox, name: str) -> Response:
    with ctx.db.read() as conn:
        runs = build_store.runs_of(conn, name, project_of(req))
    if not runs:
        raise HttpError(404, f"No build was found for build name: {name}")
    numbers = [{"uri": "/" + quote(run.number, safe=""), "started": run.started} for run in runs]
    return json_response({"uri": build_uri(req.base_url, name), "buildsNumbers": numbers})


def delete_builds(req: Request, ctx: Sandbox) -> Response:
    name, number = name_and_number(req)
    if number is not None:  # DELETE takes only the name; a slash belongs to it
        name = f"{name}/{number}"
    numbers = [n for value in req.query.get("buildNumbers", []) for n in value.split(",") if n]
    return _delete(ctx, name, numbers, project_of(req),
                   artifacts=req.flag("artifacts"), everything=req.flag("deleteAll"))  # fmt: skip


def bulk_delete(req: Request, ctx: Sandbox) -> Response:
    body = req.read_json()
    if not isinstance(body, dict) or not body.get("buildName"):
        raise HttpError(400, "Missing build name")
    numbers = [str(n) for n in body.get("buildNumbers") or []]
    if not numbers and body.get("deleteAll") is not True:
        raise HttpError(400, "Missing build numbers")
    return _delete(ctx, str(body["buildName"]), numbers, str(body.get("project") or ""),
                   artifacts=body.get("deleteArtifacts") is True,
                   everything=body.get("deleteAll") is True)  # fmt: skip


def _delete(
    ctx: Sandbox, name: str, numbers: list[str], project: str, *, artifacts: bool, everything: bool
) -> Response:
    with ctx.db.tx() as conn:
        runs = build_store.runs_of(conn, name, project)
        chosen = runs if everything else [run for run in runs if run.number in numbers]
        if not chosen:
            raise HttpError(404, f"No build was found for build name: {name}")
        for run in chosen:
            if artifacts:
                _delete_artifacts(conn, run)
            build_store.delete_run(conn, run)
    if everything:
        return text_response(f"All '{name}' builds have been deleted successfully.")
    done = ", ".join(f"'{name}#{run.number}'" for run in chosen)
    return text_response(f"The following builds has been deleted successfully: {done}.")


def _delete_artifacts(conn: sqlite3.Connection, run: BuildRun) -> None:
    """Artifacts go only if they carry this run's build.name and build.number properties."""
    rows = conn.execute(
        "SELECT i.repo, i.path, i.name FROM items i JOIN build_artifacts a ON a.sha1 = i.sha1"
        " WHERE a.build_id = ? AND EXISTS (SELECT 1 FROM properties p WHERE p.item_id = i.id"
        " AND p.key = 'build.name' AND p.value = ?) AND EXISTS (SELECT 1 FROM properties p"
        " WHERE p.item_id = i.id AND p.key = 'build.number' AND p.value = ?)",
        (run.id, run.name, run.number),
    ).fetchall()
    for row in rows:
        items.delete_tree(conn, row["repo"], items.full_path(row))


ROUTES = [
    Route("PUT", r"/artifactory/api/build/?", publish, auth="write"),
    Route("GET", r"/artifactory/api/build/?", get_builds),
    Route("POST", r"/artifactory/api/build/delete", bulk_delete, auth="write"),
    Route("GET", r"/artifactory/api/build/.+", get_build),
    Route("DELETE", r"/artifactory/api/build/.+", delete_builds, auth="write"),
]
