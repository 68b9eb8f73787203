"""The action's outputs: names and descriptions (action.yml and the README are kept in step)."""

from __future__ import annotations

OUTPUTS: dict[str, str] = {
    "artifacts": "JSON list of the uploaded files: path, size, sha256, download URL (and unsafe_globals for a file uploaded with allow-unsafe-pickle).",
    "model-url": "URL of the uploaded model folder (or file, for a single file).",
    "model-sha256": "SHA-256 of the model when it is a single file.",
    "uploaded-bytes": "Bytes actually sent (deduplicated content is not sent).",
    "deduplicated-files": "Files the server already had, deployed by checksum without sending bytes.",
    "gate-passed": "true when the quality gate passed.",
    "metrics": "JSON object of the metrics the gate read.",
    "build-name": "Build name used by every stage.",
    "build-number": "Build number used by every stage.",
    "build-url": "Link to the build in the JFrog Platform.",
    "bom-url": "URL of the AI-BOM (CycloneDX 1.6 JSON: model files and hashes, model card, Python dependencies) stored with the model: build-publish uploads it beside the model, the upload puts it into a Hugging Face revision or JFrog ML version.",
    "scan-result": "pass, fail, or skipped.",
    "violations": "JSON list of Xray violations (severity, type, component, CVE, fixed versions).",
    "promoted": "true when the build was promoted (or already was).",
    "promoted-build": "Build number that is now in the target repository (differs from build-number on rollback).",
    "deployment-id": "GitHub deployment id recorded for the promotion.",
    "download-path": "Folder where resolve put the model.",
    "resolved-build": "Build number of the model resolve downloaded.",
}
