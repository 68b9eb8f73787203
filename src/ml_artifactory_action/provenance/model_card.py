"""The model card: a `README.md` with the metadata block Hugging Face reads, for a model that has none.

The YAML front matter holds what the Hub shows and searches: `license`, `tags`, `datasets`,
`base_model`, and `model-index` with the gate's metrics (one result: the task, the first data set,
the metrics). The Markdown below says the same for people, with each metric's threshold. A card
the model already has (a `README.md` among its files, at the top of the folder) is never replaced.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import yaml

from ml_artifactory_action.model.files import ModelFile
from ml_artifactory_action.model.thresholds import Threshold
from ml_artifactory_action.provenance.facts import Dataset, ModelCardFacts

CARD_NAME = "README.md"
TOOL_TAG = "ml-artifactory-action"
# When no data set is named, model-index still needs one for its results (Hub: dataset.name and .type).
UNNAMED_DATASET = {"name": "evaluation data (not named)", "type": "unnamed"}
# An SPDX id as the Hub writes it in `license:` (lowercase); anything else is `other` + `license_name`.
_SIMPLE_LICENSE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*")


def has_card(files: Sequence[ModelFile]) -> bool:
    """The model brings its own card (a README.md at the top of its folder, any case)."""
    return any(f.relative.lower() == CARD_NAME.lower() for f in files)


def write_card(folder: Path, model_name: str, model_version: str, facts: ModelCardFacts) -> ModelFile:
    """Write README.md into `folder` (a scratch folder of the run) and return it as a file to upload."""
    path = folder / CARD_NAME
    path.write_text(card_text(model_name, model_version, facts), encoding="utf-8")
    return ModelFile(local=path, relative=CARD_NAME, size=path.stat().st_size)


def card_text(model_name: str, model_version: str, facts: ModelCardFacts) -> str:
    front = yaml.safe_dump(metadata(model_name, facts), sort_keys=False, allow_unicode=True)
    return f"---\n{front}---\n\n{_body(model_name, model_version, facts)}"


def metadata(model_name: str, facts: ModelCardFacts) -> dict[str, object]:
    """The front matter, in the keys of Hugging Face's model card specification."""
    data: dict[str, object] = {}
    if facts.license:
        data |= _license(facts.license)
    data["tags"] = [TOOL_TAG, *facts.frameworks]
    if facts.datasets:
        data["datasets"] = [d.name for d in facts.datasets]
    if facts.base_model:
        data["base_model"] = facts.base_model
    if facts.metrics:
        data["model-index"] = [{"name": model_name, "results": [_result(facts)]}]
    return data


def _license(text: str) -> dict[str, str]:
    if _SIMPLE_LICENSE.fullmatch(text):
        return {"license": text.lower()}
    return {"license": "other", "license_name": text}


def _result(facts: ModelCardFacts) -> dict[str, object]:
    dataset = {"name": facts.datasets[0].name, "type": facts.datasets[0].name} if facts.datasets else UNNAMED_DATASET
    return {
        "task": {"type": facts.task or "other"},
        "dataset": dataset,
        "metrics": [{"type": name, "value": value, "name": name} for name, value in sorted(facts.metrics.items())],
    }


def _body(model_name: str, model_version: str, facts: ModelCardFacts) -> str:
    lines = [f"# {model_name}", "", f"Version {model_version}." + (f" Task: {facts.task}." if facts.task else "")]
    if facts.base_model:
        lines.append(f"Fine-tuned from {facts.base_model}.")
    if facts.metrics:
        limits = {t.metric: t for t in facts.thresholds}
        lines += ["", "## Evaluation", "", "| Metric | Value | Threshold |", "| --- | ---: | --- |"]
        lines += [f"| {n} | {v:g} | {_limit(limits.get(n))} |" for n, v in sorted(facts.metrics.items())]
    if facts.datasets:
        lines += ["", "## Data", ""] + [_dataset_line(d) for d in facts.datasets]
    lines += ["", f"Written by {TOOL_TAG}: the model came without a model card of its own."]
    return "\n".join(lines) + "\n"


def _limit(threshold: Threshold | None) -> str:
    return f"{threshold.op} {threshold.value:g}" if threshold is not None else ""


def _dataset_line(dataset: Dataset) -> str:
    return f"- {dataset.name}" + (f" (digest {dataset.digest})" if dataset.digest else "")
