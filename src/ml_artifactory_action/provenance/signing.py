"""Signing and verifying a model folder with OpenSSF model signing (the `model_signing` library).

The signature is the OMS file `model.sig`: a Sigstore bundle over a DSSE envelope whose in-toto
statement lists every file of the folder with its sha256 (`files` serialization). `model_signing`
hashes the files itself, streaming in 1 MiB blocks. What the folder may hold besides the signed
files: `model.sig` itself, and AI-BOM files (`*.cdx.json`, written after signing, checked against
build-info like every file) unless the signature lists them. Anything else that is not in the
signed statement is refused, and so is a signed file that is missing or differs by one byte.

Key material given as PEM text (inputs) is written to a private temporary folder for the library,
which reads paths, and removed right after. Errors of the library are turned into `SignatureError`
(or `SigningError`) naming what failed.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import hashlib
import json
import os
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml_artifactory_action.artifactory.ml_repo import MANIFEST_NAME as ML_MANIFEST_NAME
from ml_artifactory_action.errors import SignatureError, SigningError
from ml_artifactory_action.settings import SignMode

SIGNATURE_NAME = "model.sig"
BOM_SUFFIX = ".cdx.json"
HASH_TYPE = "sha256"
# The X.509 extension Fulcio puts the OIDC issuer in (v2, then the deprecated v1).
FULCIO_ISSUER_OIDS = ("1.3.6.1.4.1.57264.1.8", "1.3.6.1.4.1.57264.1.1")


@dataclass(frozen=True)
class SigningMethod:
    """How to sign: the mode and its material (PEM text; the key and token are secrets)."""

    mode: SignMode
    private_key_pem: str = field(default="", repr=False)
    certificate_chain_pem: str = ""
    identity_token: str = field(default="", repr=False)
    trust_config: Path | None = None  # Sigstore: a ClientTrustConfig file instead of the public instance


@dataclass(frozen=True)
class Trust:
    """What a signature must verify with: one of a public key, a CA chain, a Sigstore identity."""

    public_key_pem: str = ""
    ca_chain_pem: str = ""
    identity: str = ""
    issuer: str = ""
    trust_config: Path | None = None

    @property
    def mode(self) -> SignMode:
        if self.public_key_pem:
            return SignMode.KEY
        if self.ca_chain_pem:
            return SignMode.CERTIFICATE
        return SignMode.SIGSTORE


@dataclass(frozen=True)
class Signed:
    signature: Path
    signer: str  # who signed, as a person reads it
    files: int
    seconds: float


@dataclass(frozen=True)
class Verified:
    signer: str
    files: int
    seconds: float


def is_unsigned_companion(relative: str) -> bool:
    """model.sig and AI-BOM files sit in the folder without being covered by the signature."""
    name = relative.rpartition("/")[2]
    return name == SIGNATURE_NAME or name.endswith(BOM_SUFFIX)


def unsigned_beside(relative: str, signed: Collection[str]) -> bool:
    """What a verified folder may hold unsigned: the companions, and the manifest a JFrog ML repository
    writes beside a model version after upload, each unless the signature lists a file of that name (an
    AI-BOM the upload wrote into a Hugging Face revision or JFrog ML version is signed with the model)."""
    unsigned = is_unsigned_companion(relative) or relative == ML_MANIFEST_NAME
    return unsigned and relative not in signed


# Signing --------------------------------------------------------------------------------------
def sign_files(files: Sequence[tuple[Path, str]], model_name: str, method: SigningMethod, workdir: Path) -> Signed:
    """Sign `files` (local path, path in the model folder) as one folder; model.sig goes in `workdir`."""
    import model_signing  # noqa: PLC0415  loads sigstore and grpc types: only when signing

    folder = workdir / (model_name.rpartition("/")[2] or "model")
    _link_folder(files, folder)
    signature = workdir / SIGNATURE_NAME
    hashing_config = (
        model_signing.hashing.Config()  # type: ignore[no-untyped-call]  # model_signing's __init__ lacks '-> None'
        .set_ignored_paths(paths=[], ignore_git_paths=False)
        .set_allow_symlinks(True)  # the folder is links to the selected files, wherever they are
    )
    started = time.monotonic()
    with _material(workdir, method) as config:
        try:
            config.set_hashing_config(hashing_config).sign(folder, signature)
        except Exception as exc:  # the library raises ValueError, OSError, sigstore and HTTP errors
            raise SigningError(_signing_failure(method, exc), fix=_signing_fix(method)) from None
    return Signed(signature, signer_of(signature), len(files), time.monotonic() - started)


def _link_folder(files: Sequence[tuple[Path, str]], folder: Path) -> None:
    for local, relative in files:
        link = folder / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(local.resolve())


@contextlib.contextmanager
def _material(workdir: Path, method: SigningMethod) -> Iterator[Any]:
    import model_signing  # noqa: PLC0415

    config = model_signing.signing.Config()  # type: ignore[no-untyped-call]  # no '-> None' upstream
    if method.mode == SignMode.SIGSTORE:
        try:
            config.use_sigstore_signer(
                identity_token=method.identity_token, use_ambient_credentials=False, trust_config=method.trust_config
            )
        except Exception as exc:  # the trust root comes from Sigstore's TUF repository
            raise SigningError(_signing_failure(method, exc), fix=_signing_fix(method)) from None
        yield config
        return
    _check_ec_key(method)
    with _secret_file(workdir, "signing-key.pem", method.private_key_pem) as key:
        try:
            if method.mode == SignMode.KEY:
                config.use_elliptic_key_signer(private_key=key)
            else:
                leaf, rest = _split_chain(method.certificate_chain_pem, workdir)
                config.use_certificate_signer(private_key=key, signing_certificate=leaf, certificate_chain=rest)
        except (ValueError, TypeError) as exc:
            raise SigningError(_material_problem(method, exc), fix=_signing_fix(method)) from None
        yield config


def _check_ec_key(method: SigningMethod) -> None:
    """model_signing signs with elliptic-curve keys only; say so instead of its AttributeError."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

    try:
        key = serialization.load_pem_private_key(method.private_key_pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise SigningError(
            f"signing-key is not an unencrypted PEM private key ({exc})", fix=_signing_fix(method)
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SigningError(
            f"signing-key is a {type(key).__name__.removesuffix('PrivateKey').removeprefix('_')} key; "
            "OpenSSF model signing takes elliptic-curve keys",
            fix=_signing_fix(method),
        )


@contextlib.contextmanager
def _secret_file(workdir: Path, name: str, text: str) -> Iterator[Path]:
    path = workdir / name
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _split_chain(pem: str, workdir: Path) -> tuple[Path, list[Path]]:
    """The first certificate signs; the others are its intermediates."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives.serialization import Encoding  # noqa: PLC0415

    try:
        certificates = x509.load_pem_x509_certificates(pem.encode())
    except ValueError as exc:
        raise SigningError(
            f"signing-certificate-chain holds no readable PEM certificate ({exc})",
            fix="Give the PEM signing certificate first, then its intermediates (-----BEGIN CERTIFICATE----- blocks).",
        ) from None
    leaf = workdir / "signing-certificate.pem"
    leaf.write_bytes(certificates[0].public_bytes(Encoding.PEM))
    rest = workdir / "signing-intermediates.pem"
    rest.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in certificates[1:]))
    return leaf, [rest] if len(certificates) > 1 else []


def _material_problem(method: SigningMethod, exc: Exception) -> str:
    return f"The {method.mode.value} signing material cannot be used: {exc}"


def _described(exc: BaseException) -> str:
    """The error and what caused it (sigstore's NetworkError says nothing itself), one line."""
    parts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(parts) < 3:
        parts.append(f"{type(seen).__name__}: {seen}".strip().rstrip(":"))
        seen = seen.__cause__ or seen.__context__
    return " <- ".join(parts).replace("\n", " ")


def _signing_failure(method: SigningMethod, exc: Exception) -> str:
    what = _described(exc)
    if method.mode == SignMode.SIGSTORE:
        return (
            "Sigstore keyless signing failed before anything was uploaded: the job's ID token was obtained, but "
            f"Sigstore (its trust root, OIDC discovery, Fulcio or Rekor) did not answer as expected ({what})"
        )
    return f"Signing the model failed, so nothing was uploaded: {what}"


def _signing_fix(method: SigningMethod) -> str:
    if method.mode == SignMode.SIGSTORE:
        return (
            "Retry the job; the runner must reach tuf-repo-cdn.sigstore.dev, oauth2.sigstore.dev, fulcio.sigstore.dev "
            "and rekor.sigstore.dev (or those of sigstore-trust-config), or use sign: key."
        )
    return (
        "signing-key must be an unencrypted PEM elliptic-curve private key (P-256, P-384 or P-521), e.g. "
        "`openssl ecparam -name prime256v1 -genkey -noout`"
        + (
            "; the first certificate of signing-certificate-chain must hold its public key."
            if method.mode == SignMode.CERTIFICATE
            else "."
        )
    )


# Verifying ------------------------------------------------------------------------------------
def verify_folder(folder: Path, trust: Trust, workdir: Path) -> Verified:
    """Check the folder against its model.sig: signer, and every file exactly as signed; else raise."""
    import model_signing  # noqa: PLC0415

    signature = folder / SIGNATURE_NAME
    if not signature.is_file():
        raise SignatureError(
            f"The model has no {SIGNATURE_NAME}, so its signature cannot be checked; nothing was handed over."
        )
    listed = set(signed_digests(signature))  # read only to know what to leave aside; verified below
    companions = [
        p.relative_to(folder)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and unsigned_beside(p.relative_to(folder).as_posix(), listed)
    ]
    hashing_config = model_signing.hashing.Config().set_ignored_paths(  # type: ignore[no-untyped-call]  # as above
        paths=companions, ignore_git_paths=False
    )
    started = time.monotonic()
    with _verifier(trust, workdir) as config:
        try:
            config.set_hashing_config(hashing_config).verify(folder, signature)
        except Exception as exc:  # ValueError (mismatch), OpenSSL/cryptography and sigstore errors
            raise SignatureError(_verification_failure(exc)) from None
    signed = signed_digests(signature)
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    unsigned = sorted(p for p in present - set(signed) if not unsigned_beside(p, signed))
    if unsigned:  # the statement's own ignore list let them through the library's comparison
        raise SignatureError(f"Files not covered by the signature: {', '.join(unsigned)}.")
    return Verified(signer_of(signature), len(signed), time.monotonic() - started)


@contextlib.contextmanager
def _verifier(trust: Trust, workdir: Path) -> Iterator[Any]:
    import model_signing  # noqa: PLC0415

    config = model_signing.verifying.Config()  # type: ignore[no-untyped-call]  # no '-> None' upstream
    try:
        if trust.mode == SignMode.SIGSTORE:
            yield config.use_sigstore_verifier(
                identity=trust.identity, oidc_issuer=trust.issuer, trust_config=trust.trust_config
            )
            return
        name, text = (
            ("verify-public-key.pem", trust.public_key_pem)
            if trust.mode == SignMode.KEY
            else ("verify-ca.pem", trust.ca_chain_pem)
        )
        path = workdir / name
        path.write_text(text, encoding="utf-8")
        if trust.mode == SignMode.KEY:
            config.use_elliptic_key_verifier(public_key=path)
        else:
            config.use_certificate_verifier(certificate_chain=[path])
    except SignatureError:
        raise
    except Exception as exc:  # unreadable PEM, unsupported curve, Sigstore trust root not reachable
        raise SignatureError(
            f"The verification material cannot be used: {type(exc).__name__}: {exc}",
            title="Signature cannot be checked",
        ) from None
    yield config


def _verification_failure(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if text.startswith("Signature mismatch: "):
        return f"The files differ from what was signed: {'; '.join(_differences(text.removeprefix('Signature mismatch: ')))}."
    return f"The signature does not verify with the given key, chain or identity ({type(exc).__name__}: {text})"


def verify_statement(signature: Path, trust: Trust, workdir: Path) -> tuple[dict[str, str], str]:
    """Check model.sig alone (no files): ({path in the folder: sha256} it signs, signer); else raise.

    model_signing's public API always hashes a folder; this uses its Verifier seam (`Config._verifier`,
    whose `verify(signature)` checks the signature and returns the signed manifest), which the pin
    `model-signing<1.2` keeps stable.
    """
    from model_signing._signing import sign_sigstore, sign_sigstore_pb  # noqa: PLC0415

    reader = sign_sigstore.Signature if trust.mode == SignMode.SIGSTORE else sign_sigstore_pb.Signature
    with _verifier(trust, workdir) as config:
        try:
            manifest = config._verifier.verify(reader.read(signature))
        except Exception as exc:  # ValueError, OpenSSL/cryptography and sigstore errors
            raise SignatureError(_verification_failure(exc)) from None
    digests = {}
    for descriptor in manifest.resource_descriptors():
        if descriptor.digest.algorithm != HASH_TYPE:
            raise SignatureError(
                f"{SIGNATURE_NAME} hashes {descriptor.identifier} with {descriptor.digest.algorithm}, not {HASH_TYPE}."
            )
        digests[descriptor.identifier] = descriptor.digest.digest_hex
    return digests, signer_of(signature)


def _differences(listed: str) -> list[str]:
    """model_signing lists differences as a Python list; keep each entry, without the raw digests."""
    try:
        entries = ast.literal_eval(listed)
    except (ValueError, SyntaxError):
        return [listed]
    if not isinstance(entries, list):
        return [listed]
    return [str(entry).split("': Expected ", 1)[0] + ("'" if "': Expected " in str(entry) else "") for entry in entries]


# Reading model.sig ----------------------------------------------------------------------------
def read_bundle(signature: Path) -> dict[str, Any]:
    try:
        bundle = json.loads(signature.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SignatureError(f"{SIGNATURE_NAME} is not a readable signature bundle ({exc}).") from None
    if not isinstance(bundle, dict):
        raise SignatureError(f"{SIGNATURE_NAME} is not a signature bundle (not a JSON object).")
    return bundle


def statement_of(bundle: Mapping[str, Any]) -> dict[str, Any]:
    """The in-toto statement of the bundle's DSSE envelope (read, not verified: verify first)."""
    try:
        payload = bundle["dsseEnvelope"]["payload"]
        statement = json.loads(base64.b64decode(payload))
    except (KeyError, TypeError, ValueError) as exc:
        raise SignatureError(f"{SIGNATURE_NAME} holds no in-toto statement ({type(exc).__name__}: {exc}).") from None
    if not isinstance(statement, dict):
        raise SignatureError(f"{SIGNATURE_NAME} holds no in-toto statement.")
    return statement


def signed_digests(signature: Path) -> dict[str, str]:
    """{path in the folder: sha256} as the signed statement lists them."""
    predicate = statement_of(read_bundle(signature)).get("predicate") or {}
    digests: dict[str, str] = {}
    for resource in predicate.get("resources") or []:
        if resource.get("algorithm") != HASH_TYPE:
            raise SignatureError(
                f"{SIGNATURE_NAME} hashes {resource.get('name')} with {resource.get('algorithm')}, not {HASH_TYPE}."
            )
        digests[str(resource["name"])] = str(resource["digest"])
    return digests


def signer_of(signature: Path) -> str:
    """Who signed, as shown to people: the certificate's subject or identity, or the key's fingerprint."""
    material = read_bundle(signature).get("verificationMaterial") or {}
    chain = (material.get("x509CertificateChain") or {}).get("certificates") or []
    if chain:
        return _certificate_signer(chain[0]["rawBytes"], sigstore=False)
    if material.get("certificate"):
        return _certificate_signer(material["certificate"]["rawBytes"], sigstore=True)
    hint = (material.get("publicKey") or {}).get("hint", "")
    return f"key sha256:{hint}" if hint else "an unnamed key"


def public_key_fingerprint(pem: str) -> str:
    """The fingerprint model_signing records for a key: sha256 of its SubjectPublicKeyInfo PEM."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    key = serialization.load_pem_public_key(pem.encode())
    raw = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(raw).hexdigest()


def _certificate_signer(raw: str, *, sigstore: bool) -> str:
    from cryptography import x509  # noqa: PLC0415

    certificate = x509.load_der_x509_certificate(base64.b64decode(raw))
    if not sigstore:
        return f"certificate {certificate.subject.rfc4514_string()} (issued by {certificate.issuer.rfc4514_string()})"
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        identity = ", ".join(
            str(v)
            for v in names.get_values_for_type(x509.UniformResourceIdentifier)
            + names.get_values_for_type(x509.RFC822Name)
        )
    except x509.ExtensionNotFound:
        identity = certificate.subject.rfc4514_string()
    issuer = ""
    for oid in FULCIO_ISSUER_OIDS:
        with contextlib.suppress(x509.ExtensionNotFound):
            value = certificate.extensions.get_extension_for_oid(x509.ObjectIdentifier(oid)).value
            issuer = getattr(value, "value", b"").decode(errors="replace").lstrip("\x0c\x16").strip()
            break
    return f"{identity} (Sigstore, issuer {issuer})" if issuer else f"{identity} (Sigstore)"
