"""Signing and verifying a model folder with model_signing; what we write is checked by its own CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from tests.fakes.signing_keys import Chain, KeyPair, certificate_chain, key_pair
from tests.provenance.model_signing_cli import model_signing_verify

from ml_artifactory_action.errors import SignatureError, SigningError
from ml_artifactory_action.provenance.signing import (
    SigningMethod,
    Trust,
    public_key_fingerprint,
    sign_files,
    signed_digests,
    verify_folder,
)
from ml_artifactory_action.settings import SignMode


@pytest.fixture(scope="module")
def key() -> KeyPair:
    return key_pair()


@pytest.fixture(scope="module")
def chain() -> Chain:
    return certificate_chain()


def model_files(root: Path) -> list[tuple[Path, str]]:
    """Files from two places, laid out as one folder (as model-path lines are)."""
    (root / "weights").mkdir(parents=True)
    (root / "weights" / "model.safetensors").write_bytes(b"\x00" * 4096)
    (root / "tok").mkdir()
    (root / "tok" / "vocab.txt").write_text("a\nb\n")
    (root / ".gitattributes").write_text("*.safetensors filter=lfs\n")
    return [
        (root / "weights" / "model.safetensors", "model.safetensors"),
        (root / "tok" / "vocab.txt", "tokenizer/vocab.txt"),
        (root / ".gitattributes", ".gitattributes"),
    ]


def signed_folder(tmp_path: Path, method: SigningMethod) -> tuple[Path, str]:
    """Sign, then lay the files out as resolve would download them, model.sig beside them."""
    files = model_files(tmp_path / "src")
    work = tmp_path / "work"
    work.mkdir()
    signed = sign_files(files, "acme/fraud-model", method, work)
    folder = tmp_path / "download"
    for local, relative in files:
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, folder / relative)
    shutil.copyfile(signed.signature, folder / "model.sig")
    return folder, signed.signer


def test_key_signature_verifies_with_model_signings_own_cli(tmp_path: Path, key: KeyPair) -> None:
    folder, signer = signed_folder(tmp_path, SigningMethod(SignMode.KEY, private_key_pem=key.private_pem))
    public = tmp_path / "key.pub"
    public.write_text(key.public_pem)

    cli = model_signing_verify("key", folder, "--public_key", str(public), "--no-ignore-git-paths")

    assert cli.returncode == 0, cli.stderr
    assert "Verification succeeded" in cli.stdout
    assert signer == f"key sha256:{public_key_fingerprint(key.public_pem)}"
    assert sorted(signed_digests(folder / "model.sig")) == [
        ".gitattributes",
        "model.safetensors",
        "tokenizer/vocab.txt",
    ]
    verified = verify_folder(folder, Trust(public_key_pem=key.public_pem), tmp_path)
    assert (verified.signer, verified.files) == (signer, 3)


def test_certificate_signature_verifies_with_the_cli_against_the_root_ca(tmp_path: Path, chain: Chain) -> None:
    method = SigningMethod(
        SignMode.CERTIFICATE, private_key_pem=chain.key.private_pem, certificate_chain_pem=chain.signing_chain_pem
    )
    folder, signer = signed_folder(tmp_path, method)
    root = tmp_path / "root.pem"
    root.write_text(chain.root_pem)

    cli = model_signing_verify("certificate", folder, "--certificate_chain", str(root), "--no-ignore-git-paths")

    assert cli.returncode == 0, cli.stderr
    assert signer == "certificate CN=Model Signing Bot,O=Acme (issued by CN=Acme Signing CA,O=Acme)"
    assert verify_folder(folder, Trust(ca_chain_pem=chain.root_pem), tmp_path).signer == signer


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (
            lambda f: (f / "model.safetensors").write_bytes(b"\x00" * 4095 + b"\x01"),
            "Hash mismatch for 'model.safetensors'",
        ),
        (lambda f: (f / "tokenizer" / "vocab.txt").unlink(), "Missing files in model 'download': tokenizer/vocab.txt"),
        (lambda f: (f / "extra.py").write_text("import os"), "Extra files found in model 'download': extra.py"),
    ],
    ids=["one-byte", "lost-file", "gained-file"],
)
def test_changed_files_are_refused(tmp_path: Path, key: KeyPair, tamper, expected: str) -> None:  # type: ignore[no-untyped-def]
    folder, _ = signed_folder(tmp_path, SigningMethod(SignMode.KEY, private_key_pem=key.private_pem))
    tamper(folder)

    with pytest.raises(SignatureError) as refused:
        verify_folder(folder, Trust(public_key_pem=key.public_pem), tmp_path)

    assert refused.value.message.startswith("The files differ from what was signed: ")
    assert expected in refused.value.message


def test_other_signer_is_refused_and_a_bom_added_later_is_not_a_change(
    tmp_path: Path, key: KeyPair, chain: Chain
) -> None:
    folder, _ = signed_folder(tmp_path, SigningMethod(SignMode.KEY, private_key_pem=key.private_pem))
    (folder / "fraud-model.cdx.json").write_text("{}")

    assert verify_folder(folder, Trust(public_key_pem=key.public_pem), tmp_path).files == 3
    with pytest.raises(SignatureError) as other:
        verify_folder(folder, Trust(public_key_pem=key_pair().public_pem), tmp_path)
    with pytest.raises(SignatureError) as other_ca:
        verify_folder(folder, Trust(ca_chain_pem=chain.root_pem), tmp_path)

    assert "does not verify with the given key, chain or identity" in other.value.message
    assert "Key mismatch" in other.value.message
    assert "does not verify" in other_ca.value.message


def test_unusable_signing_key_is_a_signing_error(tmp_path: Path, chain: Chain) -> None:
    rsa_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    files = model_files(tmp_path / "src")
    (tmp_path / "w1").mkdir()
    (tmp_path / "w2").mkdir()

    with pytest.raises(SigningError) as rsa_key:
        sign_files(files, "m", SigningMethod(SignMode.KEY, private_key_pem=rsa_pem), tmp_path / "w1")
    method = SigningMethod(
        SignMode.CERTIFICATE, private_key_pem=key_pair().private_pem, certificate_chain_pem=chain.signing_chain_pem
    )
    with pytest.raises(SigningError) as wrong_cert:
        sign_files(files, "m", method, tmp_path / "w2")

    assert rsa_key.value.message == "signing-key is a RSA key; OpenSSF model signing takes elliptic-curve keys"
    assert "does not match" in wrong_cert.value.message
    assert not list((tmp_path / "w1").glob("*.pem")), "the key file is removed"


def test_a_jfrog_ml_manifest_beside_the_model_is_left_aside_unless_it_was_signed(tmp_path: Path, key: KeyPair) -> None:
    """A JFrog ML repository writes model-manifest.json beside a version after upload: not a change. A model
    whose own files include one had it signed, and then it is checked like any file."""
    folder, _ = signed_folder(tmp_path / "a", SigningMethod(SignMode.KEY, private_key_pem=key.private_pem))
    (folder / "model-manifest.json").write_text('{"files": []}')
    files = model_files(tmp_path / "b" / "src")
    (tmp_path / "b" / "src" / "model-manifest.json").write_text("{}")
    (tmp_path / "b" / "work").mkdir()
    method = SigningMethod(SignMode.KEY, private_key_pem=key.private_pem)
    signed = sign_files(
        [*files, (tmp_path / "b" / "src" / "model-manifest.json", "model-manifest.json")],
        "m",
        method,
        tmp_path / "b" / "work",
    )
    own = tmp_path / "b" / "own"
    for local, relative in files:
        (own / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, own / relative)
    shutil.copyfile(signed.signature, own / "model.sig")
    (own / "model-manifest.json").write_text('{"changed": true}')

    assert verify_folder(folder, Trust(public_key_pem=key.public_pem), tmp_path).files == 3
    with pytest.raises(SignatureError) as refused:
        verify_folder(own, Trust(public_key_pem=key.public_pem), tmp_path)
    assert "Hash mismatch for 'model-manifest.json'" in refused.value.message
