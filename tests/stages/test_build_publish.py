from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import httpx
import pytest
from tests.fakes.history import AQL, Repos, item_row, local_repository
from tests.fakes.jfrog import FakeJFrog, jfrog_error, jfrog_json, log_of, make_context

from ml_artifactory_action.errors import ConfigError, IntegrityError
from ml_artifactory_action.settings import Stage
from ml_artifactory_action.stages import build_publish
from ml_artifactory_action.stages.upload import UploadedArtifact, UploadResult

STAGE = "ml-models-staging-local"
BUILD = r"/artifactory/api/build"
BUILD_7 = r"/artifactory/api/build/fraud-model/7"
SHA_REQ = "c" * 64
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJqZmFjQDAxL3VzZXJzL2NpIn0.c2lnbmF0dXJl"
ENV = {
    "CI": "true",
    "RUNNER_OS": "Linux",
    "GITHUB_SHA": "3f786850e387550fdab836ed7e6dc881de23001b",
    "MY_API_KEY": "plain",
    "DEPLOY_NOTE": JWT,
    "CACHE_HINT": "ghp_" + "a1B2" * 9,
    "BUILD_SALT": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "SECOND_SECRET": "masked-value-1234",
}


def artifact(path: str, sha: str) -> UploadedArtifact:
    return UploadedArtifact(
        local_path=f"/w/{path}",
        repo=STAGE,
        path=path,
        size=3,
        sha1=sha[:40],
        sha256=sha,
        md5=sha[:32],
        download_uri=f"https://acme.jfrog.io/artifactory/{STAGE}/{path}",
        sent=True,
    )


def uploaded(*artifacts: UploadedArtifact) -> UploadResult:
    return UploadResult(STAGE, "fraud-model/7", "https://x", artifacts, (), "1714557600000")


def on_server(*artifacts: UploadedArtifact, sha_override: str = "") -> list[dict[str, object]]:
    rows = []
    for a in artifacts:
        row = item_row(STAGE, a.path, "fraud-model", "7")
        row["sha256"] = sha_override or a.sha256
        rows.append(row)
    return rows


BOM_PUT = r"/artifactory/[^;]+\.cdx\.json(;.*)?"


def deploy_answer(request: httpx.Request) -> httpx.Response:
    """Artifactory's answer to a deploy: what it stored, with its checksums. This server holds no
    content yet, so a checksum deploy (`X-Checksum-Deploy: true`, no body) is answered as Artifactory
    answers it "when no readable binary with that checksum exists: 404" (shared/docs/jfrog-api.md,
    from JFrog's Deploy Artifact by Checksum and jfrog-client-go)."""
    if request.headers.get("X-Checksum-Deploy") == "true":
        return httpx.Response(404, json={"errors": [{"status": 404, "message": "Checksum deploy failed"}]})
    body = request.content
    checksums = {name: hashlib.new(name, body).hexdigest() for name in ("sha1", "sha256", "md5")}
    path = request.url.path.partition(";")[0].removeprefix("/artifactory/")
    repo, _, inside = path.partition("/")
    return jfrog_json({"repo": repo, "path": "/" + inside, "size": len(body), "checksums": checksums})


def bom_entry(fake: FakeJFrog) -> dict[str, str]:
    """The build-info entry of the BOM the stage uploaded: its checksums are those of the bytes sent."""
    [sent] = [r for r in fake.sent("PUT", BOM_PUT) if r.headers.get("X-Checksum-Deploy") != "true"]
    assert ";build.name=fraud-model;build.number=7;" in sent.url.raw_path.decode()
    bom = json.loads(sent.content)
    assert (bom["bomFormat"], bom["specVersion"]) == ("CycloneDX", "1.6")
    return {
        "name": "fraud-model.cdx.json",
        "type": "json",
        "path": "fraud-model/7/fraud-model.cdx.json",
        "originalDeploymentRepo": STAGE,
        "sha1": hashlib.sha1(sent.content, usedforsecurity=False).hexdigest(),
        "sha256": hashlib.sha256(sent.content).hexdigest(),
        "md5": hashlib.md5(sent.content, usedforsecurity=False).hexdigest(),
    }


def publish_context(tmp_path: Path, fake: FakeJFrog, **inputs: str):  # type: ignore[no-untyped-def]
    fake.on("PUT", BOM_PUT, deploy_answer)
    fake.on("GET", "/artifactory/api/repositories/[^/]+", local_repository)
    (tmp_path / "workspace").mkdir(parents=True, exist_ok=True)
    (tmp_path / "workspace" / "requirements.txt").write_text(f"numpy==1.26.4 --hash=sha256:{SHA_REQ}\nsix==1.16.0\n")
    defaults = {"stages": "upload,build-publish", "model-path": "model.pkl", "dependencies-file": "requirements.txt"}
    ctx = make_context(tmp_path, defaults | inputs, fake=fake, env=ENV)
    ctx.state.started = dt.datetime(2024, 5, 1, 10, 0, 0, 250_000, tzinfo=dt.UTC)
    ctx.runner.mask("masked-value-1234")
    return ctx


def test_the_build_info_links_files_commit_run_dependencies_and_filtered_env(tmp_path: Path) -> None:
    files = (artifact("fraud-model/7/model.pkl", "a" * 64), artifact("fraud-model/7/conf/cfg.json", "b" * 64))
    wheel = {"repo": "pypi-remote-cache", "path": "numpy/1.26.4", "name": "numpy-1.26.4-cp311.whl",
             "sha256": SHA_REQ, "actual_sha1": "d" * 40, "actual_md5": "d" * 32, "properties": []}  # fmt: skip
    fake = FakeJFrog()
    fake.on("POST", AQL, Repos([*on_server(*files), wheel]).answer)
    fake.on("GET", BUILD_7, jfrog_error(404, "No build was found"))
    fake.on("PUT", BUILD, httpx.Response(204))
    ctx = publish_context(tmp_path, fake)
    ctx.state.results[Stage.UPLOAD] = uploaded(*files)

    result = build_publish.run(ctx)

    [document] = fake.json_sent("PUT", BUILD)
    assert document["name"] == "fraud-model"
    assert document["number"] == "7"
    assert document["started"] == "2024-05-01T10:00:00.250+0000"
    assert document["url"] == "https://github.com/acme/fraud-model/actions/runs/90001"
    assert document["vcs"] == [
        {
            "url": "https://github.com/acme/fraud-model.git",
            "revision": "3f786850e387550fdab836ed7e6dc881de23001b",
            "branch": "main",
        }
    ]
    assert document["agent"]["name"] == "ml-artifactory-action"
    assert document["durationMillis"] > 0
    [module] = document["modules"]
    assert module["id"] == "fraud-model:7"
    assert module["artifacts"] == [
        {
            "name": "model.pkl",
            "type": "pkl",
            "path": "fraud-model/7/model.pkl",
            "originalDeploymentRepo": STAGE,
            "sha1": "a" * 40,
            "sha256": "a" * 64,
            "md5": "a" * 32,
        },
        {
            "name": "cfg.json",
            "type": "json",
            "path": "fraud-model/7/conf/cfg.json",
            "originalDeploymentRepo": STAGE,
            "sha1": "b" * 40,
            "sha256": "b" * 64,
            "md5": "b" * 32,
        },
        bom_entry(fake),
    ]
    assert module["dependencies"] == [
        # Artifactory links dependencies by sha1: taken from the file it holds with that sha256
        {"id": "numpy:1.26.4", "type": "pypi", "scopes": ["runtime"], "sha1": "d" * 40, "sha256": SHA_REQ,
         "md5": "d" * 32},
        {"id": "six:1.16.0", "type": "pypi", "scopes": ["runtime"]},
    ]  # fmt: skip
    assert "1 of 2 dependencies are not files in Artifactory" in log_of(ctx)
    env = document["properties"]
    assert env["buildInfo.env.RUNNER_OS"] == "Linux"
    assert env["buildInfo.env.GITHUB_SHA"] == "3f786850e387550fdab836ed7e6dc881de23001b"
    assert env["buildInfo.env.INPUT_STAGES"] == "upload,build-publish"
    for name in ("MY_API_KEY", "DEPLOY_NOTE", "CACHE_HINT", "BUILD_SALT", "SECOND_SECRET", "JF_ACCESS_TOKEN", "JF_URL"):
        assert f"buildInfo.env.{name}" not in env
    assert (
        result.url
        == "https://acme.jfrog.io/ui/builds/fraud-model/7/1714557600250/published?buildRepo=artifactory-build-info"
    )
    bom_url = f"https://acme.jfrog.io/artifactory/{STAGE}/fraud-model/7/fraud-model.cdx.json"
    assert ctx.runner.outputs == {
        "build-name": "fraud-model",
        "build-number": "7",
        "build-url": result.url,
        "bom-url": bom_url,
    }
    assert result.bom_url == bom_url
    # the BOM is on the server before the build-info that lists it
    # (offered by checksum first, then sent)
    assert [r.headers.get("X-Checksum-Deploy") for r in fake.sent("PUT", BOM_PUT)] == ["true", None]
    assert len([r for r in fake.requests if r.method == "PUT"]) == 3
    assert fake.requests.index(fake.sent("PUT", BOM_PUT)[-1]) < fake.requests.index(fake.sent("PUT", BUILD)[0])
    assert result.published


def test_nothing_is_published_when_an_uploaded_file_is_missing_or_different(tmp_path: Path) -> None:
    files = (artifact("fraud-model/7/model.pkl", "a" * 64), artifact("fraud-model/7/extra.bin", "b" * 64))
    fake = FakeJFrog()
    fake.on("POST", AQL, Repos(on_server(files[0], sha_override="d" * 64)).answer)
    ctx = publish_context(tmp_path, fake)
    ctx.state.results[Stage.UPLOAD] = uploaded(*files)

    with pytest.raises(IntegrityError) as caught:
        build_publish.run(ctx)

    assert caught.value.title == "Build files missing on the server"
    assert caught.value.message == (
        "2 of 2 uploaded files are not on the server as uploaded, so no build-info was published:\n"
        f"- {STAGE}/fraud-model/7/model.pkl holds sha256 {'d' * 64}, not {'a' * 64}\n"
        f"- {STAGE}/fraud-model/7/extra.bin is missing"
    )
    assert fake.sent("PUT", BUILD) == []


def test_without_an_upload_in_this_run_the_files_are_found_by_their_build_properties(tmp_path: Path) -> None:
    row = item_row(STAGE, "fraud-model/7/model.pkl", "fraud-model", "7", **{"build.timestamp": "1714557600000"})
    fake = FakeJFrog()
    fake.on("POST", AQL, Repos([row]).answer)
    fake.on("GET", BUILD_7, jfrog_error(404, "No build was found"))
    fake.on("PUT", BUILD, httpx.Response(204))
    ctx = publish_context(tmp_path, fake, stages="build-publish", **{"dependencies-file": ""})

    build_publish.run(ctx)

    [document] = fake.json_sent("PUT", BUILD)
    assert document["started"] == "2024-05-01T10:00:00.000+0000"
    paths = [a["path"] for a in document["modules"][0]["artifacts"]]
    assert paths == ["fraud-model/7/model.pkl", "fraud-model/7/fraud-model.cdx.json"]
    assert "dependencies" not in document["modules"][0]


def test_a_build_without_files_is_refused_naming_the_build_inputs(tmp_path: Path) -> None:
    fake = FakeJFrog()
    fake.on("POST", AQL, Repos().answer)
    ctx = publish_context(tmp_path, fake, stages="build-publish", **{"build-number": "70"})

    with pytest.raises(ConfigError) as caught:
        build_publish.run(ctx)

    assert caught.value.message == (
        f"Input 'build-name': no file in {STAGE} carries build.name=fraud-model and build.number=70, "
        "so build fraud-model #70 would be empty"
    )


def test_an_identical_build_is_not_published_again_and_a_dry_run_publishes_nothing(tmp_path: Path) -> None:
    files = (artifact("fraud-model/7/model.pkl", "a" * 64),)
    first = FakeJFrog()
    first.on("POST", AQL, Repos(on_server(*files)).answer)
    first.on("GET", BUILD_7, jfrog_error(404, "No build was found"))
    first.on("PUT", BUILD, httpx.Response(204))
    ctx = publish_context(tmp_path / "a", first)
    ctx.state.results[Stage.UPLOAD] = uploaded(*files)
    build_publish.run(ctx)
    [existing] = first.json_sent("PUT", BUILD)
    existing["started"] = "2024-05-01T10:00:00.000+0000"

    fake = FakeJFrog()
    fake.on("POST", AQL, Repos(on_server(*files)).answer)
    fake.on("GET", BUILD_7, jfrog_json({"buildInfo": existing}))
    ctx = publish_context(tmp_path / "a", fake)
    ctx.state.results[Stage.UPLOAD] = uploaded(*files)

    result = build_publish.run(ctx)

    assert (result.published, result.already_published) == (False, True)
    assert result.url.endswith("/fraud-model/7/1714557600000/published?buildRepo=artifactory-build-info")
    assert "already published with these files; nothing to do" in log_of(ctx)

    dry = FakeJFrog()
    dry.on("GET", BUILD_7, jfrog_error(404, "No build was found"))
    ctx = publish_context(tmp_path / "b", dry, **{"dry-run": "true"})
    ctx.state.results[Stage.UPLOAD] = uploaded(*files)

    result = build_publish.run(ctx)

    assert not result.published
    assert [r.method for r in dry.requests] == ["GET", "GET"]  # the repository's kind, the build
    assert "Dry run: would upload the AI-BOM (CycloneDX 1.6, valid) to " in log_of(ctx)
    assert "Dry run: would publish build fraud-model #7: 2 files, 2 dependencies" in log_of(ctx)
    assert "bom-url" not in ctx.runner.outputs


@pytest.mark.parametrize("kind", ["huggingfaceml", "machinelearning"])
def test_in_hugging_face_and_ml_repositories_the_bom_the_upload_stored_is_listed_not_written(
    tmp_path: Path, kind: str
) -> None:
    model = artifact("models/acme/fraud/7/model.safetensors", "a" * 64)
    bom = artifact("models/acme/fraud/7/fraud-model.cdx.json", "b" * 64)
    fake = FakeJFrog()
    fake.on("GET", f"/artifactory/api/repositories/{STAGE}", jfrog_json({"rclass": "local", "packageType": kind}))
    fake.on("POST", AQL, Repos(on_server(model, bom)).answer)
    fake.on("GET", BUILD_7, jfrog_error(404, "No build was found"))
    fake.on("PUT", BUILD, httpx.Response(204))
    ctx = publish_context(tmp_path, fake)
    ctx.state.results[Stage.UPLOAD] = uploaded(bom, model)

    result = build_publish.run(ctx)

    [document] = fake.json_sent("PUT", BUILD)
    listed = {a["path"]: a["sha256"] for a in document["modules"][0]["artifacts"]}
    assert listed == {model.path: model.sha256, bom.path: bom.sha256}, "the BOM as the upload stored it"
    assert fake.sent("PUT", BOM_PUT) == [], "no second BOM"
    url = f"https://acme.jfrog.io/artifactory/{STAGE}/{bom.path}"
    assert (result.bom_url, ctx.runner.outputs["bom-url"]) == (url, url)
    assert f"The AI-BOM the upload stored at {STAGE}/{bom.path} is listed in the build" in log_of(ctx)


def test_a_hugging_face_revision_without_a_bom_is_published_without_one_and_says_so(tmp_path: Path) -> None:
    files = (artifact("models/acme/fraud/7/model.safetensors", "a" * 64),)
    fake = FakeJFrog()
    fake.on(
        "GET", f"/artifactory/api/repositories/{STAGE}", jfrog_json({"rclass": "local", "packageType": "huggingfaceml"})
    )
    fake.on("POST", AQL, Repos(on_server(*files)).answer)
    fake.on("GET", BUILD_7, jfrog_error(404, "No build was found"))
    fake.on("PUT", BUILD, httpx.Response(204))
    ctx = publish_context(tmp_path, fake)
    ctx.state.results[Stage.UPLOAD] = uploaded(*files)

    result = build_publish.run(ctx)

    [document] = fake.json_sent("PUT", BUILD)
    assert [a["path"] for a in document["modules"][0]["artifacts"]] == ["models/acme/fraud/7/model.safetensors"]
    assert fake.sent("PUT", BOM_PUT) == []
    assert (result.bom_url, "bom-url" in ctx.runner.outputs) == ("", False)
    assert (
        f"No AI-BOM listed: {STAGE} is a Hugging Face repository, whose revisions hold only what the upload "
        "committed, and the upload stored no fraud-model.cdx.json in it." in log_of(ctx)
    )
