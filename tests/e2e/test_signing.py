"""Signing end to end through the entrypoint against the sandbox: sign, upload, publish, promote,
resolve verified; then each way a model can differ from what was signed is refused, nothing handed over."""

from __future__ import annotations

import hashlib

from artifactory_sandbox.testing import SandboxHandle
from ml_artifactory_action.provenance.signing import public_key_fingerprint
from ml_artifactory_action.stages.signing import REFUSAL_FIX
from tests.e2e.conftest import ActionHarness
from tests.fakes.sandbox_client import SandboxClient
from tests.fakes.signing_keys import certificate_chain, key_pair
from tests.provenance.model_signing_cli import model_signing_verify

PROD = "ml-models-prod-local"
FOLDER = "fraud-model/7"
FILES = {
    "model.safetensors": b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + b"\x07" * 64,
    "tokenizer/vocab.txt": b"a\nb\n",
}
STAGE = "ml-models-staging-local"
PIPELINE = {"stages": "upload,build-publish,promote", "model-path": "model", "github-token": ""}


def write_model(action: ActionHarness) -> None:
    for name, content in FILES.items():
        path = action.workspace / "model" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def resolve(action: ActionHarness, folder: str, **trust: str):  # type: ignore[no-untyped-def]
    return action.run({"stages": "resolve", "download-dir": folder, "verify-signature": "true", **trust})


def test_key_signed_model_travels_to_production_and_resolve_refuses_every_change(
    action: ActionHarness, sandbox: SandboxHandle
) -> None:
    key = key_pair()
    write_model(action)
    published = action.run({**PIPELINE, "sign": "key", "signing-key": key.private_pem}, env={"GITHUB_TOKEN": None})
    assert published.returncode == 0, published.log
    signer = f"key sha256:{public_key_fingerprint(key.public_pem)}"
    assert "Signed 2 files (key) in" in published.stdout
    assert f"Signed (OpenSSF model signing, `model.sig`) by {signer}." in published.summary
    shown = [line for line in (published.log + published.summary).splitlines() if not line.startswith("::add-mask::")]
    assert key.private_pem.splitlines()[1] not in "\n".join(shown), "the key is masked, never printed"
    assert "::add-mask::" + key.private_pem.splitlines()[1] in published.stdout

    good = resolve(action, "serving", **{"verify-public-key": key.public_pem})

    assert good.returncode == 0, good.log
    assert f"Signature verified: 2 files of build fraud-model #7 signed by {signer}." in good.stdout
    assert f"Signature verified (`model.sig`): signed by {signer}." in good.summary
    served = action.workspace / "serving"
    assert sorted(p.relative_to(served).as_posix() for p in served.rglob("*") if p.is_file()) == [
        "fraud-model.cdx.json",  # the AI-BOM build-publish adds: beside the signature, not covered by it
        "model.safetensors",
        "model.sig",
        "tokenizer/vocab.txt",
    ]
    public = action.root / "key.pub"
    public.write_text(key.public_pem)
    bom = str(served / "fraud-model.cdx.json")
    cli = model_signing_verify("key", served, "--ignore-paths", bom, "--public_key", str(public))
    assert (cli.returncode, cli.stdout.strip()) == (0, "Verification succeeded"), cli.stderr

    other = resolve(action, "other", **{"verify-public-key": key_pair().public_pem})
    assert other.returncode == 1
    assert other.errors[0][0] == "Model signature refused"
    assert "Key mismatch" in other.errors[0][1]
    assert "Nothing was handed over." in other.errors[0][1]
    assert not (action.workspace / "other").exists()
    assert not list(action.workspace.glob(".other.verify-*")), "the staging folder is removed"


def test_certificate_signed_model_verifies_and_files_changed_before_publishing_are_refused(
    action: ActionHarness, sandbox: SandboxHandle
) -> None:
    """Someone with deploy rights on staging changes the model between upload and publish: build-info then
    records the changed files, so only the signature tells. One byte, one lost file, one added file."""
    chain = certificate_chain()
    signing = {
        "sign": "certificate",
        "signing-key": chain.key.private_pem,
        "signing-certificate-chain": chain.signing_chain_pem,
    }
    write_model(action)
    for number in ("7", "8"):
        uploaded = action.run(
            {"stages": "upload", "model-path": "model", "build-number": number, "model-version": number, **signing}
        )
        assert uploaded.returncode == 0, uploaded.log
    client = SandboxClient(sandbox)
    build8 = {"build.name": "fraud-model", "build.number": "8"}
    client.deploy(STAGE, "fraud-model/8/model.safetensors", FILES["model.safetensors"][:-1] + b"\x08", **build8)
    client.delete(STAGE, "fraud-model/8/tokenizer/vocab.txt")
    client.deploy(STAGE, "fraud-model/8/extra.py", b"import os\n", **build8)
    checked = {"verify-signature": "true", "verify-certificate-chain": chain.root_pem}
    publish = {**PIPELINE, "stages": "build-publish,promote"}
    promoted = action.run({**publish, "build-number": "7", **checked}, env={"GITHUB_TOKEN": None})
    refused = action.run({**publish, "build-number": "8", **checked}, env={"GITHUB_TOKEN": None})
    unchecked = action.run({**publish, "build-number": "8", "stages": "promote"}, env={"GITHUB_TOKEN": None})
    assert promoted.returncode == unchecked.returncode == 0, promoted.log + unchecked.log
    assert (
        "Signature checked: the 2 files of build fraud-model #7 in ml-models-staging-local are as signed by"
        in promoted.stdout
    )
    assert "Signature checked: the files are as signed by certificate CN=Model Signing Bot,O=Acme" in promoted.summary
    assert refused.returncode == 1
    changed = hashlib.sha256(FILES["model.safetensors"][:-1] + b"\x08").hexdigest()
    assert refused.errors[0] == (
        "Model signature refused",
        "Build fraud-model #8 in ml-models-staging-local is not what model.sig signs, so it was not promoted: "
        "tokenizer/vocab.txt is missing; extra.py is not signed; model.safetensors holds sha256 "
        f"{changed}, the signature says {hashlib.sha256(FILES['model.safetensors']).hexdigest()}. {REFUSAL_FIX}",
    )
    assert "Promoted build fraud-model #8" not in refused.stdout
    trust = {"verify-certificate-chain": chain.root_pem, "resolve-build": "7"}
    signer = "certificate CN=Model Signing Bot,O=Acme (issued by CN=Acme Signing CA,O=Acme)"

    good = resolve(action, "serving", **trust)
    tampered = resolve(action, "serving", **{**trust, "resolve-build": "8"})

    assert good.returncode == 0, good.log
    assert f"signed by {signer}." in good.stdout
    root = action.root / "root.pem"
    root.write_text(chain.root_pem)
    served = action.workspace / "serving"
    bom = str(served / "fraud-model.cdx.json")
    cli = model_signing_verify("certificate", served, "--ignore-paths", bom, "--certificate_chain", str(root))
    assert (cli.returncode, cli.stdout.strip()) == (0, "Verification succeeded"), cli.stderr
    assert tampered.returncode == 1
    title, message = tampered.errors[0]
    assert title == "Model signature refused"
    assert message.startswith(
        "The files differ from what was signed: Extra files found in model 'serving': extra.py; "
        "Missing files in model 'serving': tokenizer/vocab.txt; Hash mismatch for 'model.safetensors'. "
        "Nothing was handed over. Someone changed the model's files after signing"
    )
    assert (served / "model.safetensors").read_bytes() == FILES["model.safetensors"], "build 7 stays as it was"
    assert not (served / "extra.py").exists()
    (served / "old-weights.bin").write_bytes(b"from an older model")
    again = resolve(action, "serving", **trust)
    assert again.returncode == 0, again.log
    assert "Downloaded 0 of 4 files" in again.stdout, "the model, model.sig and the AI-BOM, unsigned beside them"
    assert [p.name for p in served.glob("*.cdx.json")] == ["fraud-model.cdx.json"]
    assert ("warning", "download-dir holds files the signature does not cover") in [a[:2] for a in again.annotations]


def test_sigstore_without_id_token_permission_stops_before_upload(
    action: ActionHarness, sandbox: SandboxHandle
) -> None:
    write_model(action)

    result = action.run(
        {"stages": "upload", "model-path": "model", "sign": "sigstore"},
        env={"ACTIONS_ID_TOKEN_REQUEST_URL": None, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": None},
    )

    assert result.returncode == 1
    assert result.errors == [
        (
            "Sigstore signing needs id-token: write",
            "sign is sigstore, which signs with the job's GitHub identity, but this job cannot request an ID token "
            "(ACTIONS_ID_TOKEN_REQUEST_URL is not set); nothing was uploaded. Add `permissions: id-token: write` to "
            "the job (or the workflow) that runs this action. Workflows triggered from forks never get an ID token: "
            "use access-token there, or skip the upload. Outside GitHub Actions use sign: key or sign: certificate.",
        )
    ]
    assert SandboxClient(sandbox).files(STAGE) == []
