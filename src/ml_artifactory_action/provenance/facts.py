"""What the AI-BOM and the model card say about the model, gathered once (no heavy imports here)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ml_artifactory_action.model.thresholds import Threshold


@dataclass(frozen=True)
class Dataset:
    """A data set the model was trained or evaluated on: by name, with where it is and its digest if known."""

    name: str
    source: str = ""
    digest: str = ""


@dataclass(frozen=True)
class ModelCardFacts:
    """What the card says: from the gate (metrics, thresholds), the upload (framework) and the inputs."""

    task: str = ""
    frameworks: tuple[str, ...] = ()
    metrics: dict[str, float] = field(default_factory=dict)
    thresholds: tuple[Threshold, ...] = ()
    datasets: tuple[Dataset, ...] = ()
    license: str = ""
    base_model: str = ""
