"""Runs at the same time against one registry: two pipelines of one model, two promotions of one build.

Whatever the interleaving, the registry must stay consistent: no build-info listing a file that
is missing or holds other bytes, production holding only promoted builds' files, and each run
either done or failed with one clear error (a loser), never a silent mix of the two.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from artifactory_sandbox.testing import SandboxHandle, run_sandbox
from tests.e2e.conftest import ActionHarness, ActionResult
from tests.reliability.conftest import (
    BUILD,
    FOLDER,
    lay_out,
    model_files,
    one_error,
    pipeline_inputs,
    seed_shared_content,
)
from tests.reliability.registry import (
    PROD,
    STAGING,
    Registry,
    build_artifacts,
    check_complete,
    check_consistent,
    sha256,
    split_bom,
)
from tests.reliability.test_faults import DEPLOY

RACE_HOLD_S = 12.0  # run B's whole pipeline must fit in it, on two loaded cores


def harnesses(sandbox: SandboxHandle, tmp_path: Path, seeds: tuple[int, int]) -> list[ActionHarness]:
    found = []
    for name, seed in zip("ab", seeds, strict=True):
        (tmp_path / name).mkdir()
        harness = ActionHarness(sandbox, tmp_path / name)
        lay_out(harness.workspace, model_files(seed))
        found.append(harness)
    return found


def together(runs: list[tuple[ActionHarness, Mapping[str, str], Mapping[str, str]]]) -> list[ActionResult]:
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        futures = [pool.submit(harness.run, inputs, env) for harness, inputs, env in runs]
        return [future.result() for future in futures]


@pytest.mark.slow
def test_two_runs_of_one_model_at_once_both_reach_production_consistently(
    sandbox: SandboxHandle, registry: Registry, tmp_path: Path
) -> None:
    """Two workflow runs (numbers 7 and 8) of the same model, started together."""
    first, second = harnesses(sandbox, tmp_path, (7, 8))

    results = together([(first, pipeline_inputs(), {}), (second, pipeline_inputs(), {"GITHUB_RUN_NUMBER": "8"})])

    for result in results:
        assert result.returncode == 0, result.log
    for seed, number in ((7, "7"), (8, "8")):
        check_complete(
            registry, model_files(seed), f"fraud-model/{number}", build_name=BUILD, number=number, promoted=True
        )
    check_consistent(registry, BUILD)


@pytest.mark.slow
def test_the_same_run_twice_at_once_is_idempotent(sandbox: SandboxHandle, registry: Registry, tmp_path: Path) -> None:
    """One job started twice with the same inputs and files (a re-run while the first still runs).

    Both may succeed (the build then has two runs with the same files, and two promotions), or,
    when both publish the build-info with the same start time, the second is refused: a loser
    with one clear error. Either way the model is complete and in production once."""
    first, second = harnesses(sandbox, tmp_path, (7, 7))

    results = together([(first, pipeline_inputs(), {}), (second, pipeline_inputs(), {})])

    winners = [r for r in results if r.returncode == 0]
    assert winners, [r.log for r in results]
    for loser in (r for r in results if r.returncode != 0):
        assert one_error(loser)[0] in ("Artifactory request failed", "Promotion failed"), loser.log
    check_complete(registry, model_files(7), FOLDER, build_name=BUILD, number="7", promoted=True, promotions=2)


@dataclass(frozen=True)
class Race:
    winner: ActionResult
    loser: ActionResult
    registry: Registry


@pytest.fixture(scope="module")
def race(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Race]:
    """Two different models under one build number and path (model-version and build-number set by
    hand, say from a tag, and two events). Run A's weights are held on the server while run B goes
    through the whole pipeline; then A's weights land."""
    tmp_path = tmp_path_factory.mktemp("race")
    with run_sandbox(tmp_path / "sandbox-data", xray_index_delay=0.0) as sandbox:
        registry = Registry(sandbox)
        seed_shared_content(registry)
        registry.fault(method=DEPLOY[0], path=DEPLOY[1], delay=RACE_HOLD_S)
        first, second = harnesses(sandbox, tmp_path, (1, 2))
        inputs = pipeline_inputs(**{"model-version": "1.0.0", "build-number": "1.0.0"})
        with ThreadPoolExecutor(max_workers=1) as pool:
            held = pool.submit(first.run, inputs, {})
            wait_for_hit(registry)
            refused = second.run(inputs)
            assert not held.done(), f"run B took longer than the {RACE_HOLD_S} s hold: raise RACE_HOLD_S"
            winner = held.result()
        yield Race(winner, refused, registry)


def wait_for_hit(registry: Registry) -> None:
    deadline = time.monotonic() + RACE_HOLD_S
    while not any(f["hits"] for f in registry.faults()):
        assert time.monotonic() < deadline, "run A's weights never reached the server"
        time.sleep(0.05)


@pytest.mark.slow
def test_two_models_racing_for_one_build_number_give_a_clear_loser_and_a_consistent_production(race: Race) -> None:
    """A wrote first (its config.json landed, its weights are held): B finds the path taken and sends
    nothing, instead of overwriting A's files under A's feet."""
    assert race.winner.returncode == 0, race.winner.log
    title, message = one_error(race.loser)
    assert title == "Target path holds other content"
    assert message.startswith(
        "1 of 3 target paths already hold other content, so nothing was uploaded: fraud-model/1.0.0/config.json. "
    )
    winner = {name: sha256(content) for name, content in model_files(1).items()}
    assert split_bom(race.registry.files(PROD, "fraud-model/1.0.0"))[0] == winner
    assert split_bom(registry_build_files(race.registry))[0] == winner


@pytest.mark.slow
def test_two_models_racing_for_one_build_number_leave_the_winners_files_in_staging(race: Race) -> None:
    check_consistent(race.registry, BUILD)


def registry_build_files(registry: Registry) -> dict[str, str]:
    """{file name: sha256} of the newest run of build 1.0.0."""
    info = registry.build(BUILD, "1.0.0")
    assert info is not None
    return {where.rpartition("/")[2]: sha for where, sha in build_artifacts(info).items()}


def test_a_build_number_reused_for_other_weights_puts_the_new_weights_in_production(
    sandbox: SandboxHandle, registry: Registry, tmp_path: Path
) -> None:
    """The same build number published again with other files (asked for with overwrite, warned) and
    promoted: production must hold what the build now lists, not the first run's files under the same paths."""
    first, second = harnesses(sandbox, tmp_path, (1, 2))
    inputs = pipeline_inputs(**{"model-version": "1.0.0", "build-number": "1.0.0"})

    assert first.run(inputs).returncode == 0
    refused = second.run(pipeline_inputs("upload", **{"model-version": "1.0.0"}))
    assert one_error(refused)[0] == "Target path holds other content"  # a model version is written once...
    again = second.run(inputs | {"overwrite": "true"})  # ...unless the user asks

    assert again.returncode == 0, again.log
    assert ("warning", "Build number reused") in [(level, title) for level, title, _ in again.annotations]
    expected = {name: sha256(content) for name, content in model_files(2).items()}
    assert split_bom(registry.files(STAGING, "fraud-model/1.0.0"))[0] == expected
    assert split_bom(registry.files(PROD, "fraud-model/1.0.0"))[0] == expected


@pytest.mark.slow
@pytest.mark.parametrize("copy", ["true", "false"], ids=["copy", "move"])
def test_two_promotions_of_one_build_at_once(
    copy: str, sandbox: SandboxHandle, registry: Registry, tmp_path: Path
) -> None:
    """The build is published once; two promote jobs start together (say a manual dispatch and a
    scheduled one). Both succeed: the one that finds the build promoted (a move leaves nothing to
    promote again) says another run promoted it. Production holds the build once."""
    first, second = harnesses(sandbox, tmp_path, (7, 7))
    assert first.run(pipeline_inputs("upload,build-publish")).returncode == 0
    promote = pipeline_inputs("promote", copy=copy)

    results = together([(first, promote, {}), (second, promote, {})])

    for result in results:
        assert result.returncode == 0, result.log
        assert (result.outputs["promoted"], result.outputs["promoted-build"]) == ("true", "7")
    moved = copy == "false"
    check_complete(
        registry, model_files(7), FOLDER, build_name=BUILD, number="7", promoted=True, moved=moved, promotions=2
    )
