"""The README.md model card: its text, and its metadata as huggingface_hub's own ModelCard parser reads it.

The parser runs in the third-party clients' virtualenv named by `HUGGINGFACE_HUB_VENV` (`make test`
builds it); without it those tests are skipped, as the other huggingface_hub tests are.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ml_artifactory_action.model.files import ModelFile
from ml_artifactory_action.model.thresholds import Threshold
from ml_artifactory_action.provenance.facts import Dataset, ModelCardFacts
from ml_artifactory_action.provenance.model_card import card_text, has_card, write_card

VENV_VARIABLE = "HUGGINGFACE_HUB_VENV"
FACTS = ModelCardFacts(
    task="tabular-classification",
    frameworks=("safetensors",),
    metrics={"accuracy": 0.94, "eval.loss": 0.21},
    thresholds=(Threshold("accuracy", ">=", 0.9),),
    datasets=(Dataset("creditcard-2026", digest="4f3a"), Dataset("holdout")),
    license="Apache-2.0",
    base_model="acme/fraud-base",
)
# Reads the card with huggingface_hub's ModelCard (metadata errors raise) and prints what it understood.
PARSE = r"""
import json, sys
from huggingface_hub import ModelCard
card = ModelCard.load(sys.argv[1])
results = [
    {"task": r.task_type, "dataset": r.dataset_name, "metric": r.metric_type, "value": r.metric_value}
    for r in card.data.eval_results or []
]
print(json.dumps({"data": card.data.to_dict(), "results": results, "text": card.text}))
"""


def parsed_by_huggingface_hub(path: Path) -> dict[str, object]:
    venv = os.environ.get(VENV_VARIABLE)
    if not venv:
        pytest.skip(f"{VENV_VARIABLE} is not set (make test sets it)")
    proc = subprocess.run(
        [f"{venv}/bin/python", "-c", PARSE, str(path)], capture_output=True, text=True, check=False, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    parsed: dict[str, object] = json.loads(proc.stdout)
    return parsed


def test_huggingface_hubs_parser_reads_license_tags_datasets_base_model_and_the_gates_metrics(tmp_path: Path) -> None:
    card = write_card(tmp_path, "acme/fraud", "7", FACTS)

    parsed = parsed_by_huggingface_hub(card.local)

    assert parsed["data"] == {
        "license": "apache-2.0",
        "tags": ["ml-artifactory-action", "safetensors"],
        "datasets": ["creditcard-2026", "holdout"],
        "base_model": "acme/fraud-base",
        "model-index": [
            {
                "name": "acme/fraud",
                "results": [
                    {
                        "task": {"type": "tabular-classification"},
                        "dataset": {"name": "creditcard-2026", "type": "creditcard-2026"},
                        "metrics": [
                            {"type": "accuracy", "value": 0.94, "name": "accuracy"},
                            {"type": "eval.loss", "value": 0.21, "name": "eval.loss"},
                        ],
                    }
                ],
            }
        ],
    }
    assert parsed["results"] == [
        {"task": "tabular-classification", "dataset": "creditcard-2026", "metric": "accuracy", "value": 0.94},
        {"task": "tabular-classification", "dataset": "creditcard-2026", "metric": "eval.loss", "value": 0.21},
    ]
    assert "| accuracy | 0.94 | >= 0.9 |" in str(parsed["text"])
    assert (card.relative, card.size) == ("README.md", card.local.stat().st_size)


def test_a_card_without_metrics_or_datasets_still_parses_and_an_expression_license_is_other(tmp_path: Path) -> None:
    facts = ModelCardFacts(metrics={"f1": 0.8}, license="MIT OR Apache-2.0")
    card = write_card(tmp_path, "fraud-model", "1", facts)

    parsed = parsed_by_huggingface_hub(card.local)

    data = parsed["data"]
    assert isinstance(data, dict)
    assert (data["license"], data["license_name"]) == ("other", "MIT OR Apache-2.0")
    assert parsed["results"] == [
        {"task": "other", "dataset": "evaluation data (not named)", "metric": "f1", "value": 0.8}
    ]


def test_the_text_starts_with_the_front_matter_and_names_thresholds_for_people() -> None:
    text = card_text("acme/fraud", "7", FACTS)
    assert text.startswith("---\nlicense: apache-2.0\n")
    assert "\n---\n\n# acme/fraud\n\nVersion 7. Task: tabular-classification.\nFine-tuned from acme/fraud-base." in text
    assert "| eval.loss | 0.21 |  |" in text
    assert "- creditcard-2026 (digest 4f3a)" in text


@pytest.mark.parametrize(("relative", "found"), [("README.md", True), ("readme.md", True), ("docs/README.md", False)])
def test_only_a_readme_at_the_top_of_the_folder_is_the_models_own_card(relative: str, found: bool) -> None:
    assert has_card([ModelFile(Path("/w/x"), relative, 1)]) is found
