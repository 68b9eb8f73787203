"""The AI-BOM: a CycloneDX 1.6 document of the model, its card and its Python dependencies.

Built with cyclonedx-python-lib (the model is a `machine-learning-model` component holding one
`file` component per stored file with its hashes; the dependencies are `library` components with
their purls and sha256). The library has no `modelCard` field yet, so the card is added to the
serialized model component; the whole document is then checked with the library's strict JSON
validator for the version emitted, and a document that fails it is never returned.

Everything in it comes from what is stored in Artifactory and from the settings, so build-publish
writes the same BOM in the upload's job or in a later one, and a re-run the same bytes (so the
build is seen as already published): the identifiers are derived (no random UUIDs) and there is
no timestamp (the build-info records when the build ran).

The BOM names no repository: promotion copies it byte for byte (build-info holds its checksums),
so a link to the staging folder would be wrong in production. It records the model's path inside
its repository (the same in every repository the build is promoted to) and links the build-info,
which says where the build's files are now.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import ExternalReference, ExternalReferenceType, HashAlgorithm, HashType, Property, XsUri
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType, Pedigree
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from ml_artifactory_action import __version__
from ml_artifactory_action.errors import IntegrityError
from ml_artifactory_action.model.dependencies import Dependency
from ml_artifactory_action.provenance.facts import Dataset, ModelCardFacts

SCHEMA_VERSION = SchemaVersion.V1_6
BOM_SUFFIX = ".cdx.json"
MEDIA_TYPE = "application/vnd.cyclonedx+json"
# Names of our CycloneDX properties (the taxonomy asks for a namespace prefix).
PROPERTY_PREFIX = "ml-artifactory-action:"
TOOL_NAME = "ml-artifactory-action"
# The model's folder inside its repository, the same in staging and in every promotion target.
PATH_PROPERTY = f"{PROPERTY_PREFIX}artifactory-path"
_SERIAL_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/ml-artifactory-action/ai-bom")


@dataclass(frozen=True)
class BomFile:
    """A stored file of the model: its path inside the model's folder and its checksums."""

    path: str
    size: int
    sha256: str
    sha1: str = ""
    md5: str = ""


@dataclass(frozen=True)
class BomInput:
    model_name: str
    model_version: str
    files: Sequence[BomFile]
    card: ModelCardFacts
    dependencies: Sequence[Dependency]
    model_path: str = ""  # the model's folder inside its repository (the same after promotion)
    build_url: str = ""
    run_url: str = ""
    vcs_url: str = ""


def bom_file_name(model_name: str) -> str:
    """`<name>.cdx.json`, named for the last part of the model's name (`org/name` -> `name`)."""
    return PurePosixPath(model_name.rpartition("/")[2] or "model").name + BOM_SUFFIX


def build_bom(data: BomInput) -> str:
    """The AI-BOM as JSON text, valid against the strict CycloneDX 1.6 schema (else IntegrityError)."""
    bom = Bom(serial_number=_serial(data))
    bom.metadata.timestamp = None  # type: ignore[assignment]  # no timestamp: see the module's docstring
    bom.metadata.tools.components.add(Component(type=ComponentType.APPLICATION, name=TOOL_NAME, version=__version__))
    model = _model_component(data)
    bom.metadata.component = model
    libraries = [_library(d) for d in data.dependencies]
    for library in libraries:
        bom.components.add(library)
    bom.register_dependency(model, libraries)
    document = json.loads(JsonV1Dot6(bom).output_as_string())
    document["metadata"]["component"]["modelCard"] = model_card(data.card)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    check_bom(text)
    return text


def check_bom(text: str) -> None:
    """IntegrityError unless `text` is valid against the strict JSON schema of SCHEMA_VERSION."""
    error = JsonStrictValidator(SCHEMA_VERSION).validate_str(text)
    if error is not None:
        raise IntegrityError(
            f"The AI-BOM is not valid CycloneDX {SCHEMA_VERSION.to_version()}, so it was not uploaded: {error}",
            fix="This is a bug in ml-artifactory-action: report it with the inputs you gave.",
            title="AI-BOM not valid",
        )


def model_card(card: ModelCardFacts) -> dict[str, Any]:
    """The CycloneDX `modelCard` object (1.6 schema, `definitions.modelCard`)."""
    parameters: dict[str, Any] = {}
    if card.task:
        parameters["task"] = card.task
    if card.datasets:
        parameters["datasets"] = [_dataset(d) for d in card.datasets]
    result: dict[str, Any] = {"bom-ref": "model-card"}
    if parameters:
        result["modelParameters"] = parameters
    if card.metrics:
        result["quantitativeAnalysis"] = {
            "performanceMetrics": [{"type": name, "value": repr(value)} for name, value in sorted(card.metrics.items())]
        }
    properties = [{"name": f"{PROPERTY_PREFIX}framework", "value": f} for f in card.frameworks]
    properties += [{"name": f"{PROPERTY_PREFIX}threshold", "value": str(t)} for t in card.thresholds]
    if properties:
        result["properties"] = properties
    return result


def _dataset(dataset: Dataset) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "dataset", "name": dataset.name}
    if dataset.source.startswith(("http://", "https://", "s3://", "gs://", "hf://")):
        entry["contents"] = {"url": dataset.source}
    details = [
        f"source: {dataset.source}" if dataset.source else "",
        f"digest: {dataset.digest}" if dataset.digest else "",
    ]
    if description := "; ".join(d for d in details if d):
        entry["description"] = description
    return entry


def _model_component(data: BomInput) -> Component:
    name = data.model_name
    model = Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        name=name,
        version=data.model_version,
        bom_ref=f"model:{name}@{data.model_version}",
        components=[_file(f) for f in data.files],
        external_references=_references(data),
        properties=[Property(name=PATH_PROPERTY, value=data.model_path)] if data.model_path else [],
    )
    if data.card.license:
        model.licenses.add(LicenseFactory().make_from_string(data.card.license))
    if data.card.base_model:
        base = Component(
            type=ComponentType.MACHINE_LEARNING_MODEL,
            name=data.card.base_model,
            bom_ref=f"base-model:{data.card.base_model}",
        )
        model.pedigree = Pedigree(ancestors=[base])
    return model


def _file(file: BomFile) -> Component:
    hashes = [HashType(alg=HashAlgorithm.SHA_256, content=file.sha256)]
    if file.sha1:
        hashes.append(HashType(alg=HashAlgorithm.SHA_1, content=file.sha1))
    if file.md5:
        hashes.append(HashType(alg=HashAlgorithm.MD5, content=file.md5))
    return Component(type=ComponentType.FILE, name=file.path, bom_ref=f"file:{file.path}", hashes=hashes)


def _library(dependency: Dependency) -> Component:
    purl = PackageURL(type="pypi", name=dependency.name, version=dependency.version or None)
    hashes = [HashType(alg=HashAlgorithm.SHA_256, content=dependency.sha256)] if dependency.sha256 else []
    return Component(
        type=ComponentType.LIBRARY,
        name=dependency.name,
        version=dependency.version or None,
        purl=purl,
        bom_ref=purl.to_string(),
        hashes=hashes,
    )


def _references(data: BomInput) -> list[ExternalReference]:
    links = (
        (ExternalReferenceType.BUILD_META, data.build_url, "JFrog build-info: where the build's files are"),
        (ExternalReferenceType.BUILD_SYSTEM, data.run_url, "the workflow run that built it"),
        (ExternalReferenceType.VCS, data.vcs_url, "source repository"),
    )
    return [ExternalReference(type=kind, url=XsUri(url), comment=comment) for kind, url, comment in links if url]


def _serial(data: BomInput) -> uuid.UUID:
    """The same model files, versions and card give the same serial number (re-runs change nothing)."""
    files = ",".join(sorted(f"{f.path}={f.sha256}" for f in data.files))
    deps = ",".join(f"{d.id}={d.sha256}" for d in data.dependencies)
    key = f"{data.model_name}@{data.model_version}|{files}|{deps}|{data.card!r}"
    return uuid.uuid5(_SERIAL_NAMESPACE, key)
