"""settings.py: derived values every stage shares, and what the runner's context says."""

from __future__ import annotations

from ml_artifactory_action.settings import INPUT_NAMES, GitHubContext, Settings, Stage

GITHUB = GitHubContext(repository="acme/fraud-model", run_number="7", run_id="90001")


def test_build_and_model_default_to_the_repository_and_the_run_number() -> None:
    s = Settings(github=GITHUB)
    assert (s.effective_build_name, s.effective_build_number) == ("fraud-model", "7")
    assert (s.effective_model_name, s.effective_model_version) == ("fraud-model", "7")
    given = Settings.model_validate(
        {"build-name": "fraud", "build-number": "42", "model-name": "m", "model-version": "1.0", "github": GITHUB}
    )
    assert (given.effective_build_name, given.effective_build_number) == ("fraud", "42")
    assert (given.effective_model_name, given.effective_model_version) == ("m", "1.0")


def test_the_source_repo_defaults_to_the_upload_repo() -> None:
    assert Settings.model_validate({"repo": "dev-local"}).effective_source_repo == "dev-local"
    assert Settings.model_validate({"repo": "dev-local", "source-repo": "qa"}).effective_source_repo == "qa"


def test_the_platform_url_is_normalised() -> None:
    s = Settings.model_validate({"url": " https://acme.jfrog.io/artifactory/ "})
    assert s.url == "https://acme.jfrog.io"
    assert s.artifactory_url == "https://acme.jfrog.io/artifactory"


def test_run_and_repository_urls_and_event_facts() -> None:
    assert GITHUB.run_url == "https://github.com/acme/fraud-model/actions/runs/90001"
    assert GITHUB.repository_url == "https://github.com/acme/fraud-model"
    assert GitHubContext().run_url == ""
    ghes = GitHubContext(repository="a/b", run_id="1", server_url="https://ghe.acme.dev")
    assert ghes.run_url == "https://ghe.acme.dev/a/b/actions/runs/1"
    pr = GitHubContext(event={"pull_request": {"number": 12}, "head_commit": {"message": "m"}})
    assert (pr.pull_request_number, pr.commit_message) == (12, "m")
    assert GitHubContext(event={"pull_request": {"number": True}}).pull_request_number is None


def test_every_input_has_a_hyphenated_name_and_a_description() -> None:
    assert INPUT_NAMES["model_path"] == "model-path"
    assert INPUT_NAMES["copy_artifacts"] == "copy"
    for name, alias in INPUT_NAMES.items():
        assert alias == alias.lower()
        assert "_" not in alias
        assert Settings.model_fields[name].description, name


def test_defaults_are_the_actions_defaults() -> None:
    s = Settings()
    assert s.stages == (Stage.UPLOAD,)
    assert (s.repo, s.target_repo, s.status) == ("ml-models-staging-local", "ml-models-prod-local", "Production")
    assert (s.copy_artifacts, s.fail_on_violations, s.pr_comment, s.dry_run, s.rollback) == (
        True,
        True,
        True,
        False,
        False,
    )
    assert s.scan_timeout == 600
