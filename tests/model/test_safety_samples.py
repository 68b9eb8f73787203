"""Every generated malicious sample is refused naming the right global; every benign one passes."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.model.samples import BENIGN, MALICIOUS, Sample

from ml_artifactory_action.model.safety import scan_path


def test_there_are_enough_samples() -> None:
    assert len(MALICIOUS) >= 40
    assert len(BENIGN) >= 20
    assert len({s.name for s in MALICIOUS + BENIGN}) == len(MALICIOUS) + len(BENIGN)


@pytest.mark.parametrize("sample", MALICIOUS, ids=lambda s: s.name)
def test_malicious_sample_is_refused_naming_the_global(sample: Sample, tmp_path: Path) -> None:
    report = scan_path(sample.make(tmp_path))

    assert not report.safe
    assert sample.expected in [finding.global_name for finding in report.findings], report.findings


@pytest.mark.parametrize("sample", BENIGN, ids=lambda s: s.name)
def test_benign_sample_passes(sample: Sample, tmp_path: Path) -> None:
    report = scan_path(sample.make(tmp_path))

    assert report.safe, report.findings
    assert report.findings == []
    assert report.error is None
