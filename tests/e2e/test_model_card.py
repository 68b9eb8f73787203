"""The README.md model card through the real entrypoint against the sandbox (model-card: always).

A model without a card gets one written from the gate's metrics and the inputs; a model that
brings its own README.md keeps it, byte for byte. (Hugging Face repositories, model-card: auto,
are in test_demo_hf.py, where huggingface_hub's snapshot_download fetches the card.)
"""

from __future__ import annotations

from artifactory_sandbox.testing import SandboxHandle
from tests.e2e.conftest import ActionHarness
from tests.e2e.test_pipeline import workspace
from tests.fakes.sandbox_client import SandboxClient

STAGE = "ml-models-staging-local"
INPUTS = {
    "stages": "gate,upload",
    "model-path": "model",
    "metrics-file": "metrics.json",
    "thresholds": "eval.accuracy >= 0.9",
    "model-card": "always",
    "license": "MIT",
    "datasets": "creditcard-2026",
}


def test_a_model_without_a_card_gets_one_and_a_models_own_card_is_never_replaced(
    action: ActionHarness, sandbox: SandboxHandle
) -> None:
    workspace(action, {"accuracy": 0.94, "loss": 0.21})
    client = SandboxClient(sandbox)

    written = action.run(INPUTS)
    own = b"# Our fraud model\n\nHand-written card.\n"
    (action.workspace / "model" / "README.md").write_bytes(own)
    kept = action.run(INPUTS | {"model-version": "8"})

    assert written.returncode == kept.returncode == 0, written.log + kept.log
    assert "Added a README.md model card (the model had none)." in written.stdout
    card = client.download(STAGE, "fraud-model/7/README.md").decode()
    assert card.startswith(
        "---\nlicense: mit\ntags:\n- ml-artifactory-action\n- safetensors\ndatasets:\n- creditcard-2026\n"
    )
    assert "| eval.accuracy | 0.94 | >= 0.9 |" in card
    assert "The model brings its own README.md: it stays its model card." in kept.stdout
    assert client.download(STAGE, "fraud-model/8/README.md") == own
