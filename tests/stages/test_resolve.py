from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
from tests.fakes.history import AQL, Repos, item_row, serve_builds, status
from tests.fakes.jfrog import FakeJFrog, log_of, make_context

from ml_artifactory_action.errors import ResolveError
from ml_artifactory_action.stages import resolve

PROD = "ml-models-prod-local"
FILES = {"model.safetensors": b"weights" * 1000, "conf/config.json": b'{"layers": 2}'}


def stored(number: str, files: dict[str, bytes], **props: str) -> list[dict[str, object]]:
    rows = []
    for name, content in files.items():
        row = item_row(PROD, f"fraud-model/{number}/{name}", "fraud-model", number, **props)
        row["sha256"] = hashlib.sha256(content).hexdigest()
        row["size"] = len(content)
        rows.append(row)
    return rows


def recorded(number: str, files: dict[str, bytes], **info: object) -> dict[str, object]:
    """The build-info of build `number` listing `files` as build-publish records them."""
    artifacts = [
        {
            "name": name.rpartition("/")[2],
            "path": f"fraud-model/{number}/{name}",
            "sha256": hashlib.sha256(c).hexdigest(),
        }
        for name, c in files.items()
    ]
    return {"modules": [{"id": "fraud-model", "artifacts": artifacts}], **info}


def server(
    rows: list[dict[str, object]], contents: dict[str, bytes], builds: dict[str, dict[str, object]]
) -> FakeJFrog:
    fake = FakeJFrog()
    fake.on("POST", AQL, Repos(rows).answer)
    serve_builds(fake, "fraud-model", builds)
    for path, content in contents.items():
        fake.on("GET", f"/artifactory/{PROD}/{path}", httpx.Response(200, content=content))
    return fake


def contents(number: str, files: dict[str, bytes]) -> dict[str, bytes]:
    return {f"fraud-model/{number}/{name}": content for name, content in files.items()}


def test_the_production_build_is_downloaded_keeping_its_layout(tmp_path: Path) -> None:
    older = {"model.safetensors": b"old"}
    rows = stored("5", older) + stored("6", FILES)
    fake = server(
        rows,
        contents("6", FILES) | contents("5", older),
        {"5": recorded("5", older, statuses=[status(1)]), "6": recorded("6", FILES, statuses=[status(2)])},
    )
    ctx = make_context(tmp_path, {"stages": "resolve", "download-dir": "prod-model"}, fake=fake)

    result = resolve.run(ctx)

    folder = tmp_path / "workspace" / "prod-model"
    assert (folder / "model.safetensors").read_bytes() == FILES["model.safetensors"]
    assert (folder / "conf" / "config.json").read_bytes() == FILES["conf/config.json"]
    assert sorted(p.name for p in folder.rglob("*")) == ["conf", "config.json", "model.safetensors"]
    assert ctx.runner.outputs == {"download-path": "prod-model", "resolved-build": "6"}
    assert result.selected_by == "build fraud-model #6"
    assert "Downloaded 2 of 2 files (6.8 KiB) of build fraud-model #6 to prod-model." in log_of(ctx)


def test_a_second_resolve_downloads_nothing_and_a_changed_file_is_replaced(tmp_path: Path) -> None:
    fake = server(stored("6", FILES), contents("6", FILES), {"6": recorded("6", FILES, statuses=[status(2)])})
    resolve.run(make_context(tmp_path, {"stages": "resolve"}, fake=fake))
    (tmp_path / "workspace" / "model" / "conf" / "config.json").write_text("tampered")
    fake.requests.clear()

    result = resolve.run(
        make_context(
            tmp_path / "again", {"stages": "resolve", "download-dir": str(tmp_path / "workspace" / "model")}, fake=fake
        )
    )

    downloads = [r.url.path for r in fake.requests if r.method == "GET" and "/api/" not in r.url.path]
    assert downloads == [f"/artifactory/{PROD}/fraud-model/6/conf/config.json"]
    assert [(f.relative, f.downloaded) for f in result.files] == [
        ("conf/config.json", True),
        ("model.safetensors", False),
    ]
    assert (tmp_path / "workspace" / "model" / "conf" / "config.json").read_bytes() == FILES["conf/config.json"]


def test_a_given_build_or_properties_select_other_files(tmp_path: Path) -> None:
    older = {"model.safetensors": b"old"}
    rows = stored("5", older, stage="canary") + stored("6", FILES)
    fake = server(rows, contents("5", older) | contents("6", FILES), {"5": recorded("5", older)})

    by_build = resolve.run(make_context(tmp_path / "a", {"stages": "resolve", "resolve-build": "5"}, fake=fake))
    by_props = resolve.run(
        make_context(tmp_path / "b", {"stages": "resolve", "resolve-properties": "stage=canary"}, fake=fake)
    )

    assert [f.relative for f in by_build.files] == ["model.safetensors"]
    assert by_build.build_number == by_props.build_number == "5"
    assert by_props.selected_by == "files with stage=canary"
    assert (tmp_path / "b" / "workspace" / "model" / "model.safetensors").read_bytes() == b"old"


def test_a_dry_run_downloads_nothing(tmp_path: Path) -> None:
    fake = server(stored("6", FILES), contents("6", FILES), {"6": recorded("6", FILES, statuses=[status(2)])})
    ctx = make_context(tmp_path, {"stages": "resolve", "dry-run": "true"}, fake=fake)

    result = resolve.run(ctx)

    assert not (tmp_path / "workspace" / "model").exists()
    assert all(f.downloaded for f in result.files)
    assert "Would download 2 of 2 files" in log_of(ctx)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({}, "No build of fraud-model has been promoted to ml-models-prod-local with status Production."),
        ({"resolve-build": "9"}, "Build fraud-model #9 has no files in ml-models-prod-local."),
        ({"resolve-properties": "stage=gold"}, "No file in ml-models-prod-local carries the properties stage=gold."),
    ],
)
def test_nothing_to_resolve_is_a_clear_error(tmp_path: Path, inputs: dict[str, str], message: str) -> None:
    fake = server([], {}, {})

    with pytest.raises(ResolveError) as caught:
        resolve.run(make_context(tmp_path, {"stages": "resolve", **inputs}, fake=fake))

    assert caught.value.message == message


def refused(tmp_path: Path, fake: FakeJFrog, **inputs: str) -> ResolveError:
    with pytest.raises(ResolveError) as caught:
        resolve.run(make_context(tmp_path, {"stages": "resolve", **inputs}, fake=fake))
    downloads = [r.url.path for r in fake.requests if r.method == "GET" and "/api/" not in r.url.path]
    assert downloads == []
    assert not (tmp_path / "workspace" / "model").exists()
    return caught.value


def test_a_production_file_overwritten_after_promotion_stops_resolve(tmp_path: Path) -> None:
    """The overwrite dropped its build properties: only config.json is found by them."""
    config, weights = stored("6", FILES)[1], stored("6", {"model.safetensors": b"other weights"})[0]
    weights["properties"] = []
    fake = server([config, weights], contents("6", FILES), {"6": recorded("6", FILES, statuses=[status(2)])})

    error = refused(tmp_path, fake)

    assert error.title == "Production model differs from its build"
    assert error.message == (
        "ml-models-prod-local does not hold build fraud-model #6 as it was recorded, so nothing was downloaded: "
        f"fraud-model/6/model.safetensors holds sha256 {hashlib.sha256(b'other weights').hexdigest()}, the build "
        f"recorded sha256 {hashlib.sha256(FILES['model.safetensors']).hexdigest()}"
    )


def test_a_deleted_file_a_changed_one_and_one_the_build_never_listed_are_each_named(tmp_path: Path) -> None:
    changed = stored("6", {"conf/config.json": b"changed"})
    foreign = stored("6", {"extra.bin": b"x"})
    fake = server(changed + foreign, {}, {"6": recorded("6", FILES, statuses=[status(2)])})

    message = refused(tmp_path, fake).message

    assert message.split(": ", 1)[1].split("; ") == [
        "fraud-model/6/model.safetensors is missing",
        f"fraud-model/6/conf/config.json holds sha256 {hashlib.sha256(b'changed').hexdigest()}, the build recorded "
        f"sha256 {hashlib.sha256(FILES['conf/config.json']).hexdigest()}",
        "fraud-model/6/extra.bin carries the build's properties but the build does not list it",
    ]


def test_a_build_info_with_sha1_only_is_checked_by_sha1_and_one_without_is_refused(tmp_path: Path) -> None:
    rows = stored("6", FILES)
    sha1s = {f"{r['path']}/{r['name']}": str(r["actual_sha1"]) for r in rows}
    by_sha1 = [{"path": p, "name": p.rpartition("/")[2], "sha1": sha} for p, sha in sha1s.items()]
    fake = server(rows, contents("6", FILES), {"6": {"modules": [{"artifacts": by_sha1}], "statuses": [status(2)]}})

    assert len(resolve.run(make_context(tmp_path / "a", {"stages": "resolve"}, fake=fake)).files) == 2

    missing = server(rows, contents("6", FILES), {"6": {"statuses": [status(2)]}})
    assert refused(tmp_path / "b", missing).message == (
        "The build-info of fraud-model #6 lists no files; nothing was downloaded."
    )
    unpublished = server(stored("6", FILES, stage="canary"), {}, {})
    assert refused(tmp_path / "c", unpublished, **{"resolve-properties": "stage=canary"}).message == (
        "Build fraud-model #6 has no build-info on the server, so its files cannot be checked against what the "
        "build recorded; nothing was downloaded."
    )
