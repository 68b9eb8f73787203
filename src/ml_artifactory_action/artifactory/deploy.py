"""Deploying files: each by checksum (no bytes sent) or as a streaming PUT, checked on arrival;
several at once with bounded workers, every failure naming its file.

A streaming PUT sends `Content-Length` and the file in 1 MiB blocks (no chunked encoding, which
costs the client more CPU). When the SHA-256 is known beforehand it goes in `X-Checksum-Sha256`
and the server refuses a body that does not match; when it is not, the file is hashed while it is
sent and the server's answer is checked afterwards: on a mismatch the stored item is deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ml_artifactory_action.artifactory.client import ArtifactoryClient
from ml_artifactory_action.artifactory.properties import Properties, matrix_params
from ml_artifactory_action.artifactory.storage import delete_item, item_path
from ml_artifactory_action.errors import ActionError, ArtifactoryError, IntegrityError, ModelFilesError
from ml_artifactory_action.model.checksums import HashingReader


@dataclass(frozen=True)
class Deployed:
    """What the server says it stored (its deploy answer)."""

    repo: str
    path: str
    size: int
    sha1: str
    sha256: str
    md5: str
    download_uri: str

    @classmethod
    def from_answer(cls, body: Any, repo: str, path: str, fallback_uri: str) -> Deployed:
        body = body if isinstance(body, dict) else {}
        checksums = body.get("checksums") if isinstance(body.get("checksums"), dict) else {}
        return cls(
            repo=str(body.get("repo") or repo),
            path=str(body.get("path") or path).lstrip("/"),
            size=int(body.get("size") or 0),
            sha1=str(checksums.get("sha1", "")),
            sha256=str(checksums.get("sha256", "")),
            md5=str(checksums.get("md5", "")),
            download_uri=str(body.get("downloadUri") or fallback_uri),
        )


def stored_sha256(client: ArtifactoryClient, repo: str, path: str) -> str | None:
    """The sha256 of the file at repo/path now, or None when there is none (storage API)."""
    response = client.request(
        "GET", f"api/storage/{item_path(repo, path)}", expect=(404,), action=f"checking what {repo}/{path} holds"
    )
    if response.status_code == 404:
        return None
    checksums = response.json().get("checksums") or {}
    return str(checksums.get("sha256") or "") if isinstance(checksums, dict) else ""


def deploy_by_checksum(
    client: ArtifactoryClient, repo: str, path: str, *, sha256: str, size: int, props: Properties
) -> Deployed | None:
    """Deploy content the server already holds, sending no bytes; None when it does not hold it.

    The server answers 404 when it has no binary with that checksum ("content upload expected");
    the repository itself was checked before, so a 404 here means: send the bytes.
    """
    response = client.request(
        "PUT",
        item_path(repo, path) + matrix_params(props),
        headers={"X-Checksum-Deploy": "true", "X-Checksum-Sha256": sha256, "Content-Length": "0"},
        action="deploying it by checksum",
        expect=(404,),
    )
    if response.status_code == 404:
        return None
    return _verified(client, repo, path, _answer(client, response, repo, path), sha256=sha256, size=size)


def deploy_file(
    client: ArtifactoryClient,
    repo: str,
    path: str,
    *,
    local: Path,
    size: int,
    props: Properties,
    sha256: str | None = None,
    on_block: Callable[[int], None] | None = None,
    on_attempt: Callable[[], None] | None = None,
) -> tuple[Deployed, str]:
    """Stream the file to repo/path; return the server's answer and the file's SHA-256.

    With `sha256` given, the server checks it; without, it is computed while sending. Either way
    the answer's SHA-256 and size must match ours, or the item is deleted and IntegrityError raised.
    """
    reader = HashingReader(local, size, on_block)
    headers = {"Content-Length": str(size)}
    if sha256:
        headers["X-Checksum-Sha256"] = sha256

    def body() -> Iterator[bytes]:
        if on_attempt is not None:
            on_attempt()
        return iter(reader)

    response = client.request(
        "PUT", item_path(repo, path) + matrix_params(props), body=body, headers=headers, action="uploading it"
    )
    ours = sha256 or reader.sha256
    answer = _answer(client, response, repo, path)
    return _verified(client, repo, path, answer, sha256=ours, size=size), ours


def _answer(client: ArtifactoryClient, response: Any, repo: str, path: str) -> Deployed:
    try:
        body = response.json()
    except ValueError:
        body = {}
    return Deployed.from_answer(body, repo, path, client.url("artifactory", item_path(repo, path)))


def _verified(client: ArtifactoryClient, repo: str, path: str, answer: Deployed, *, sha256: str, size: int) -> Deployed:
    """The answer, if the server stored what we meant; otherwise delete the item and fail."""
    problems = []
    if answer.sha256 != sha256:
        problems.append(f"SHA-256 {answer.sha256 or '(none)'} instead of {sha256}")
    if answer.size != size:
        problems.append(f"{answer.size} bytes instead of {size}")
    if not problems:
        return answer
    try:
        delete_item(client, repo, path)
        removed = "The stored item was deleted."
    except ArtifactoryError as exc:
        removed = f"Deleting the stored item failed too ({exc.message}); delete {repo}/{path} by hand."
    raise IntegrityError(
        f"{repo}/{path} was stored with {' and '.join(problems)}. {removed}",
        fix="Retry the run; if it happens again, a proxy or the server is altering uploads.",
    )


# Several files ----------------------------------------------------------------------------------
Item = TypeVar("Item")
Done = TypeVar("Done")


def deploy_each(
    work: Callable[[Item], Done], items: Sequence[Item], *, workers: int, done: list[Done], name: Callable[[Item], str]
) -> None:
    """Run `work` on every item with at most `workers` threads (none for one item); stop at the
    first failure, whose message starts with the item's `name`.

    `done` gathers each success as it happens, so that whatever stops the run (a failure, Ctrl-C)
    leaves the caller a complete list of what to remove.
    """
    if workers == 1 or len(items) <= 1:
        for item in items:
            done.append(_named(work, item, name))
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="upload") as pool:
        futures = [pool.submit(_named, work, item, name) for item in items]
        for future in futures:
            future.add_done_callback(lambda f: done.append(f.result()) if _succeeded(f) else None)
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
        finally:
            for future in futures:
                future.cancel()
            wait(futures)
    failures = [e for f in futures if not f.cancelled() and (e := f.exception()) is not None]
    if failures:
        raise _combined(failures)


def _succeeded(future: Future[Any]) -> bool:
    return not future.cancelled() and future.exception() is None


def _named(work: Callable[[Item], Done], item: Item, name: Callable[[Item], str]) -> Done:
    """Run one item's work; every failure names the file."""
    try:
        return work(item)
    except ActionError as error:
        reword(error, f"{name(item)}: {error.message}")
        raise
    except OSError as exc:
        raise ModelFilesError(
            f"{name(item)}: cannot be read: {exc.strerror or exc}",
            fix="Do not change or remove model files while the action uploads them.",
        ) from None


def _combined(failures: list[BaseException]) -> BaseException:
    first = failures[0]
    if len(failures) == 1 or not isinstance(first, ActionError):
        return first
    others = "; ".join(e.message if isinstance(e, ActionError) else repr(e) for e in failures[1:])
    reword(first, f"{first.message.rstrip('.')}. Also failed: {others}")
    return first


def reword(error: ActionError, message: str) -> None:
    """Say more in an error on its way up (which file, what was cleaned up)."""
    error.message = message
    error.args = (message,)
