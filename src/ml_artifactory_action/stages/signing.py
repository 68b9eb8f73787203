"""Where the stages meet model signing: upload signs, resolve verifies before handing over.

upload: the selected files are signed as one folder (their paths below the target folder) and the
signature, `model.sig`, is uploaded with them, so that build-info lists it and promotion carries
it; in Hugging Face and JFrog ML repositories the AI-BOM is one of the signed files. resolve with
`verify-signature: true` downloads into a hidden folder beside `download-dir`, verifies the whole
folder there, and only then moves the files into `download-dir`: a refused model leaves nothing
new there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePosixPath

from ml_artifactory_action.artifactory.download import download_item
from ml_artifactory_action.artifactory.models import Item, build_items
from ml_artifactory_action.artifactory.oidc import MISSING_PERMISSION_FIX, OIDCExchange
from ml_artifactory_action.errors import ConfigError, SignatureError, SigningError
from ml_artifactory_action.handover import Handover
from ml_artifactory_action.model.files import ModelFile
from ml_artifactory_action.provenance.signing import (
    SIGNATURE_NAME,
    Signed,
    SigningMethod,
    Trust,
    Verified,
    is_unsigned_companion,
    sign_files,
    unsigned_beside,
    verify_folder,
    verify_statement,
)
from ml_artifactory_action.settings import Settings, SignMode
from ml_artifactory_action.stages.context import StageContext

SIGSTORE_AUDIENCE = "sigstore"  # the audience Fulcio accepts for ID tokens
REFUSAL_FIX = (
    "Someone changed the model's files after signing, or another key signed them. Resolve a build signed with "
    "the expected key (resolve-build), re-run the pipeline that signs it, or check verify-public-key / "
    "verify-certificate-chain / verify-identity and verify-issuer."
)


# Upload ---------------------------------------------------------------------------------------
def preflight_upload(ctx: StageContext) -> None:
    """Before anything is uploaded: keyless signing needs the job's ID token."""
    settings = ctx.settings
    if settings.sign == SignMode.SIGSTORE and not settings.dry_run and not settings.github.can_request_id_token:
        raise SigningError(
            "sign is sigstore, which signs with the job's GitHub identity, but this job cannot request an ID token "
            "(ACTIONS_ID_TOKEN_REQUEST_URL is not set); nothing was uploaded.",
            fix=f"{MISSING_PERMISSION_FIX} Outside GitHub Actions use sign: key or sign: certificate.",
            title="Sigstore signing needs id-token: write",
        )


@contextlib.contextmanager
def signed_selection(
    ctx: StageContext, files: Sequence[ModelFile], single: str, *, sign_boms: bool = False
) -> Iterator[tuple[list[ModelFile], Signed | None]]:
    """The files to upload with model.sig among them (when sign is set); model.sig lives until the upload ends.

    AI-BOM files are signed only with `sign_boms` (the upload wrote the BOM into the selection); else they
    stay unsigned companions, as the one build-publish writes beside the model later.
    """
    settings, runner = ctx.settings, ctx.runner
    if settings.sign == SignMode.NONE:
        yield list(files), None
        return
    if single:
        raise ConfigError(
            "target-path",
            f"'{settings.target_path}' names one file, but sign needs a folder to put {SIGNATURE_NAME} beside the model",
            fix="End target-path with '/', e.g. {model-name}/{model-version}/.",
        )
    stale = [f for f in files if PurePosixPath(f.relative).name == SIGNATURE_NAME]
    kept = [f for f in files if f not in stale]
    if stale:
        runner.info(
            f"Replacing {', '.join(f.relative for f in stale)} from the model folder with this run's signature."
        )
    if settings.dry_run:
        runner.info(f"Dry run: would sign {len(kept)} files ({settings.sign.value}) and upload {SIGNATURE_NAME}.")
        yield kept, None
        return
    signed_files = [f for f in kept if sign_boms or not is_unsigned_companion(f.relative)]
    with tempfile.TemporaryDirectory(prefix="ml-artifactory-sign-") as workdir:
        method = signing_method(ctx)
        signed = sign_files(
            [(f.local, f.relative) for f in signed_files], settings.effective_model_name, method, Path(workdir)
        )
        runner.info(
            f"Signed {signed.files} files ({settings.sign.value}) in {signed.seconds:.1f} s; signer: {signed.signer}."
        )
        signature = ModelFile(local=signed.signature, relative=SIGNATURE_NAME, size=signed.signature.stat().st_size)
        yield [*kept, signature], signed


def signing_method(ctx: StageContext) -> SigningMethod:
    settings = ctx.settings
    key = settings.signing_key.get_secret_value() if settings.signing_key is not None else ""
    if settings.sign == SignMode.SIGSTORE:
        return SigningMethod(
            SignMode.SIGSTORE, identity_token=_sigstore_token(ctx), trust_config=settings.sigstore_trust_config
        )
    return SigningMethod(settings.sign, private_key_pem=key, certificate_chain_pem=settings.signing_certificate_chain)


def _sigstore_token(ctx: StageContext) -> str:
    """The job's GitHub ID token for the `sigstore` audience (masked as it arrives)."""
    settings: Settings = ctx.settings.model_copy(update={"oidc_audience": SIGSTORE_AUDIENCE})
    return OIDCExchange(settings, ctx.runner, ctx.transport).request_id_token()


# Resolve --------------------------------------------------------------------------------------
def trust(settings: Settings) -> Trust:
    return Trust(
        public_key_pem=settings.verify_public_key.strip(),
        ca_chain_pem=settings.verify_certificate_chain.strip(),
        identity=settings.verify_identity.strip(),
        issuer=settings.verify_issuer.strip(),
        trust_config=settings.sigstore_trust_config,
    )


def signature_folder(relatives: Sequence[str]) -> str:
    """The folder (relative, '' for the top) whose model.sig signs the model; exactly one must exist."""
    found = [r for r in relatives if PurePosixPath(r).name == SIGNATURE_NAME]
    if len(found) != 1:
        what = "no" if not found else f"{len(found)} ({', '.join(found)})"
        raise SignatureError(
            f"The model has {what} {SIGNATURE_NAME}, so its signature cannot be checked; nothing was handed over.",
            fix="Upload with sign: key, certificate or sigstore, then publish and promote that build; or set verify-signature: false.",
        )
    parent = str(PurePosixPath(found[0]).parent)
    return "" if parent == "." else parent


def outside_signature(relatives: Sequence[str], folder: str) -> list[str]:
    """Files beside the signed folder that the signature does not cover (AI-BOM files may be anywhere)."""
    inside = (lambda r: True) if not folder else (lambda r: r.startswith(folder + "/"))
    return sorted(r for r in relatives if not inside(r) and not is_unsigned_companion(r))


Fetch = Callable[[Item, Path], tuple[str, bool]]  # (item, folder) -> (path below the folder, downloaded)


def fetch_verified(
    ctx: StageContext, items: Sequence[Item], relatives: Sequence[str], destination: Path, fetch: Fetch
) -> Verified:
    """Download into a hidden folder beside `destination`, verify the whole folder there, then move it in."""
    folder = signature_folder(relatives)
    outside = outside_signature(relatives, folder)
    if outside:
        raise SignatureError(
            f"Files outside the signed folder '{folder or '.'}' are not covered by {SIGNATURE_NAME}: {', '.join(outside)}; nothing was handed over."
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    hidden = Path(tempfile.mkdtemp(prefix=f".{destination.name}.verify-", dir=destination.parent))
    staging = hidden / destination.name  # the library names the model by its folder in its messages
    try:
        for relative in relatives:
            _link_in_place(destination / relative, staging / relative)
        for item in items:
            fetch(item, staging)
        with tempfile.TemporaryDirectory(prefix="ml-artifactory-verify-") as workdir:
            try:
                verified = verify_folder(staging / folder, trust(ctx.settings), Path(workdir))
            except SignatureError as exc:
                raise SignatureError(
                    f"{exc.message} Nothing was handed over.", fix=REFUSAL_FIX, title=exc.title
                ) from None
        _move_in(staging, destination, relatives, Handover.for_workspace(ctx.settings.github.workspace))
    finally:
        shutil.rmtree(hidden, ignore_errors=True)
    _warn_about_leftovers(ctx, destination, relatives)
    return verified


def _warn_about_leftovers(ctx: StageContext, destination: Path, relatives: Sequence[str]) -> None:
    """Files download-dir held before (an older model's) are not the verified model: say so, leave them."""
    model = set(relatives)
    others = sorted(
        p.relative_to(destination).as_posix()
        for p in destination.rglob("*")
        if p.is_file() and p.relative_to(destination).as_posix() not in model
    )
    if others:
        shown = ", ".join(others[:10]) + (f" and {len(others) - 10} more" if len(others) > 10 else "")
        ctx.runner.warning(
            "download-dir holds files the signature does not cover",
            f"{shown} were already in {ctx.settings.download_dir} and are not part of the verified model; they "
            "were left as they are. Load only the model's files, or resolve into an empty download-dir.",
        )


def _link_in_place(current: Path, staged: Path) -> None:
    """A file already in download-dir joins the check without being downloaded again (resolve compares its sha256)."""
    if not current.is_file():
        return
    staged.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(current, staged)
    except OSError:
        shutil.copy2(current, staged)


def _move_in(staging: Path, destination: Path, relatives: Sequence[str], handover: Handover) -> None:
    for relative in relatives:
        target = destination / relative
        handover.make_folders(target.parent)
        os.replace(staging / relative, target)


# Promote --------------------------------------------------------------------------------------
def check_before_promotion(ctx: StageContext, repo: str, build: tuple[str, str]) -> str:
    """verify-signature on promote: the build's model.sig, checked, must sign exactly the sha256s Artifactory
    holds for the build's files in `repo`. Only model.sig is downloaded; returns the signer."""
    name, number = build
    items = build_items(ctx.client, repo, name, number)
    relatives = [item.repo_path for item in items]
    folder = signature_folder(relatives)
    signature_item = next(i for i in items if PurePosixPath(i.repo_path).name == SIGNATURE_NAME)
    with tempfile.TemporaryDirectory(prefix="ml-artifactory-verify-") as workdir:
        local = Path(workdir) / SIGNATURE_NAME
        download_item(ctx.client, signature_item, local)
        signed, signer = verify_statement(local, trust(ctx.settings), Path(workdir))
    inside = [i for i in items if not folder or i.repo_path.startswith(folder + "/")]
    below = {str(PurePosixPath(i.repo_path).relative_to(folder)) if folder else i.repo_path: i.sha256 for i in inside}
    held = {path: sha256 for path, sha256 in below.items() if not unsigned_beside(path, signed)}
    problems = _differences_with_server(signed, held, outside_signature(relatives, folder))
    if problems:
        raise SignatureError(
            f"Build {name} #{number} in {repo} is not what {SIGNATURE_NAME} signs, so it was not promoted: "
            + "; ".join(problems)
            + ".",
            fix=REFUSAL_FIX,
        )
    ctx.runner.info(
        f"Signature checked: the {len(signed)} files of build {name} #{number} in {repo} are as signed by {signer}."
    )
    return signer


def _differences_with_server(signed: dict[str, str], held: dict[str, str], outside: list[str]) -> list[str]:
    problems = [f"{path} is missing" for path in sorted(set(signed) - set(held))]
    problems += [f"{path} is not signed" for path in sorted(set(held) - set(signed))]
    problems += [f"{path} is outside the signed folder" for path in outside]
    problems += [
        f"{path} holds sha256 {held[path]}, the signature says {digest}"
        for path, digest in sorted(signed.items())
        if path in held and held[path] != digest
    ]
    return problems
