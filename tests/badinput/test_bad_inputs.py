"""A table of bad inputs across every stage, each run through the real entrypoint.

Every case must give exactly one `::error title=...::` annotation whose title or message names
the input to change and says how, a failure section in the step summary, exit code 1, no
traceback, and an untouched registry (every item, property and build run compared before and
after, on a registry that already holds a promoted build).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.badinput.conftest import Setting
from tests.fakes.signing_keys import key_pair
from tests.reliability.conftest import one_error

NUMBER = "7"  # the build the shared registry holds, published and promoted
NEW = "8"  # a build number nobody published


def inputs(stages: str, **given: str) -> dict[str, str]:
    """Good inputs for `stages` (so that only the case's own input is wrong), then the case's."""
    base = {
        "stages": stages,
        "model-path": "model",
        "metrics-file": "metrics.json",
        "thresholds": "eval.accuracy >= 0.9",
        "github-token": "",
        "scan-timeout": "30",
    }
    return base | {key.replace("_", "-"): value for key, value in given.items()}


@dataclass(frozen=True)
class Bad:
    id: str
    inputs: dict[str, str]
    title: str
    says: tuple[str, ...]  # in the title or message: the input's name first, then the fix
    env: dict[str, str | None] = field(default_factory=dict)


def invalid(name: str) -> str:
    return f"Invalid input '{name}'"


FILES, METRICS = "Model files not usable", "Metrics not readable"
RSA_KEY = (
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
    .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    .decode()
)
EC_PUBLIC_KEY = key_pair().public_pem
CASES = [
    # Paths and globs ---------------------------------------------------------------------------
    Bad(
        "path-missing",
        inputs("upload", model_path="no-such.onnx"),
        FILES,
        ("model-path 'no-such.onnx'", "no such file"),
    ),
    Bad(
        "glob-matches-nothing",
        inputs("upload", model_path="model/*.gguf"),
        FILES,
        ("model-path 'model/*.gguf'", "matched no file"),
    ),
    Bad(
        "empty-folder",
        inputs("upload", model_path="empty-folder"),
        FILES,
        ("model-path 'empty-folder'", "empty folder"),
    ),
    Bad(
        "symlink-out-of-workspace",
        inputs("upload", model_path="outside.bin"),
        FILES,
        ("outside.bin", "leads outside the workspace", "Copy the file into the workspace"),
    ),
    Bad(
        "broken-symlink",
        inputs("upload", model_path="broken.bin"),
        FILES,
        ("broken.bin", "broken symlink", "model-path"),
    ),
    Bad("a-pipe", inputs("upload", model_path="model.fifo"), FILES, ("model.fifo", "not a regular file", "model-path")),
    Bad(
        "two-files-one-target",
        inputs("upload", model_path="dup/a/model.onnx\ndup/b/model.onnx"),
        FILES,
        ("would both be uploaded as 'model.onnx'", "Select only one of them"),
    ),
    Bad(
        "path-empty",
        inputs("upload", model_path=" "),
        invalid("model-path"),
        ("is empty: nothing to upload", "Set `model-path`"),
    ),
    Bad(
        "target-climbs-out",
        inputs("upload", target_path="../{model-name}/"),
        invalid("target-path"),
        ("climbs out of the repository", "Give a path inside the repository"),
    ),
    Bad(
        "version-climbs-out",
        inputs("upload", model_version="../../etc"),
        invalid("target-path"),
        ("climbs out", "model-version"),
    ),
    Bad(
        "unsafe-pickle",
        inputs("upload", model_path="unsafe"),
        "Unsafe model file refused",
        ("model.pkl", "os.system (dangerous)", "passed only by allow-unsafe-pickle"),
    ),
    Bad(
        "allowed-globals-a-module",
        inputs("upload", allowed_globals="sklearn"),
        invalid("allowed-globals"),
        ("'sklearn' names a module, not a global", "write 'sklearn.*'"),
    ),
    Bad(
        "allowed-globals-runs-code",
        inputs("upload", allowed_globals="mypkg.Net\nos.system"),
        invalid("allowed-globals"),
        ("'os.system' can run code", "only allow-unsafe-pickle: true uploads"),
    ),
    # Properties --------------------------------------------------------------------------------
    Bad(
        "property-without-equals",
        inputs("upload", properties="team"),
        invalid("properties"),
        ("cannot read property 'team'", "key=value"),
    ),
    Bad(
        "property-key-starts-with-a-digit",
        inputs("upload", properties="1st=ml"),
        invalid("properties"),
        ("property key '1st'", "must start with a letter"),
    ),
    Bad(
        "property-key-with-space",
        inputs("upload", properties="my team=ml"),
        invalid("properties"),
        ("property key 'my team'", "letters, digits"),
    ),
    Bad(
        "property-empty-value",
        inputs("upload", properties="team="),
        invalid("properties"),
        ("cannot read property 'team='",),
    ),
    Bad(
        "property-empty-list-item",
        inputs("upload", properties="tags=a,,b"),
        invalid("properties"),
        ("has an empty value",),
    ),
    Bad(
        "property-holds-the-token",
        inputs("upload", properties="note=${token}"),
        invalid("properties"),
        ("contains a secret", "never put tokens in them"),
    ),
    Bad(
        "resolve-properties-syntax",
        inputs("resolve", resolve_properties="env"),
        invalid("resolve-properties"),
        ("cannot read property 'env'",),
    ),
    # Thresholds --------------------------------------------------------------------------------
    Bad(
        "threshold-not-a-number",
        inputs("gate", thresholds="eval.accuracy >= ninety"),
        invalid("thresholds"),
        ("'ninety' is not a number",),
    ),
    Bad(
        "threshold-bad-operator",
        inputs("gate", thresholds="eval.accuracy => 0.9"),
        invalid("thresholds"),
        ("cannot read threshold", "'<metric> <op> <number>'"),
    ),
    Bad(
        "threshold-infinite",
        inputs("gate", thresholds="eval.loss <= inf"),
        invalid("thresholds"),
        ("must be a finite number",),
    ),
    Bad(
        "threshold-no-metric",
        inputs("gate", thresholds=">= 0.9"),
        invalid("thresholds"),
        ("cannot read threshold '>= 0.9'",),
    ),
    Bad(
        "thresholds-missing",
        inputs("gate", thresholds=""),
        invalid("thresholds"),
        ("the gate has nothing to check", "compare-to-production"),
    ),
    Bad(
        "threshold-unknown-metric",
        inputs("gate,upload", thresholds="eval.f1 >= 0.8"),
        METRICS,
        ("Metric 'eval.f1' is not in", "thresholds"),
    ),
    # Metrics files -----------------------------------------------------------------------------
    Bad(
        "metrics-file-missing",
        inputs("gate", metrics_file="nope.json"),
        METRICS,
        ("metrics-file", "does not exist", "Write the metrics file"),
    ),
    Bad(
        "metrics-not-json",
        inputs("gate", metrics_file="metrics-notjson.json"),
        METRICS,
        ("metrics-file", "is not valid JSON"),
    ),
    Bad(
        "metrics-bad-yaml",
        inputs("gate", metrics_file="metrics-bad.yaml"),
        METRICS,
        ("metrics-file", "neither JSON nor YAML"),
    ),
    Bad(
        "metrics-a-list",
        inputs("gate", metrics_file="metrics-list.json"),
        METRICS,
        ("metrics-file", "holds a list, not an object"),
    ),
    Bad(
        "metric-is-text",
        inputs("gate", metrics_file="metrics-text.json"),
        METRICS,
        ("eval.accuracy", "'high', not a number"),
    ),
    Bad(
        "metrics-too-big",
        inputs("gate", metrics_file="metrics-big.json"),
        METRICS,
        ("metrics-file", "expected to be small"),
    ),
    Bad(
        "metrics-nested-too-deep",
        inputs("gate,upload", metrics_file="metrics-deep.json"),
        METRICS,
        ("metrics-file", "nested too deeply"),
    ),
    Bad(
        "metrics-not-utf8",
        inputs("gate", metrics_file="metrics-latin1.json"),
        METRICS,
        ("metrics-file", "cannot be read", "encoding"),
    ),
    Bad(
        "metrics-and-mlflow",
        inputs("gate", mlflow_tracking_uri="http://127.0.0.1:9", mlflow_run_id="r1"),
        invalid("metrics-file"),
        ("conflicts with mlflow-run-id",),
    ),
    Bad(
        "mlflow-run-without-server",
        inputs("gate", metrics_file="", mlflow_run_id="r1"),
        invalid("mlflow-tracking-uri"),
        ("is empty but mlflow-run-id is set",),
    ),
    Bad("no-metrics-at-all", inputs("gate", metrics_file=""), invalid("metrics-file"), ("the gate needs metrics",)),
    Bad(
        "gate-fails",
        inputs("gate,upload,build-publish", thresholds="eval.accuracy >= 0.99"),
        "Quality gate failed",
        ("eval.accuracy = 0.94: needs >= 0.99", "thresholds"),
    ),
    # Repository keys ---------------------------------------------------------------------------
    Bad(
        "repo-with-space",
        inputs("upload", repo="ml models"),
        invalid("repo"),
        ("'ml models' is not a repository key", "letters, digits"),
    ),
    Bad(
        "target-repo-with-slash",
        inputs("promote", target_repo="prod/models"),
        invalid("target-repo"),
        ("not a repository key",),
    ),
    Bad(
        "source-repo-too-long",
        inputs("promote", source_repo="r" * 65),
        invalid("source-repo"),
        ("not a repository key", "at most 64"),
    ),
    Bad(
        "pypi-repo-with-colon",
        inputs("configure", pypi_repo="pypi:remote"),
        invalid("pypi-repo"),
        ("not a repository key",),
    ),
    Bad(
        "repo-does-not-exist",
        inputs("upload", repo="no-such-repo"),
        invalid("repo"),
        ("'no-such-repo' does not exist",),
    ),
    Bad(
        "pypi-repo-does-not-exist",
        inputs("configure", pypi_repo="pypi-nowhere"),
        invalid("pypi-repo"),
        ("'pypi-nowhere' does not exist", "Create it"),
    ),
    Bad(
        "promote-to-missing-repo",
        inputs("upload,build-publish,scan,promote", target_repo="no-such-prod", build_number=NEW),
        invalid("target-repo"),
        ("repository 'no-such-prod' does not exist",),
    ),
    # Build names and numbers -------------------------------------------------------------------
    Bad(
        "build-name-newline",
        inputs("upload,build-publish,scan,promote", build_name="fraud\nmodel"),
        invalid("build-name"),
        ("contains a control character", "give it on one line"),
    ),
    Bad(
        "build-number-tab",
        inputs("upload,build-publish", build_number="7\t8"),
        invalid("build-number"),
        ("contains a control character",),
    ),
    Bad(
        "build-name-dot-dot",
        inputs("upload,build-publish,scan,promote", build_name=".."),
        invalid("build-name"),
        ("'..' is not a name",),
    ),
    Bad("model-version-dot", inputs("upload", model_version="."), invalid("model-version"), ("'.' is not a name",)),
    Bad(
        "build-number-missing",
        inputs("build-publish"),
        invalid("build-number"),
        ("is empty and GITHUB_RUN_NUMBER is not set",),
        env={"GITHUB_RUN_NUMBER": None},
    ),
    Bad(
        "build-name-missing",
        inputs("scan"),
        invalid("build-name"),
        ("is empty and GITHUB_REPOSITORY is not set",),
        env={"GITHUB_REPOSITORY": None},
    ),
    Bad(
        "model-name-missing",
        inputs("upload"),
        invalid("model-name"),
        ("is empty and GITHUB_REPOSITORY is not set",),
        env={"GITHUB_REPOSITORY": None},
    ),
    Bad(
        "build-never-published",
        inputs("build-publish", build_number=NEW, source_repo="ml-models-prod-local"),
        invalid("build-name"),
        ("no file in ml-models-prod-local carries", "Run the upload stage first"),
    ),
    Bad(
        "promote-unpublished-build",
        inputs("promote", build_number=NEW),
        "Promotion failed",
        ("build-number", "Publish the build first"),
    ),
    Bad(
        "scan-unpublished-build",
        inputs("scan", build_number=NEW, scan_timeout="2"),
        "Xray scan timed out",
        ("scan-timeout", "fraud-model #8"),
    ),
    Bad("resolve-unknown-build", inputs("resolve", resolve_build=NEW), "Model not found", ("resolve-build",)),
    Bad(
        "rollback-with-one-build",
        inputs("promote", rollback="true"),
        "Promotion failed",
        ("Nothing to roll back to", "rollback: false"),
    ),
    # URLs and tokens ---------------------------------------------------------------------------
    Bad("url-not-http", inputs("upload", url="ftp://acme.jfrog.io"), invalid("url"), ("is not an http(s) URL",)),
    Bad(
        "url-without-scheme",
        inputs("upload", url="acme.jfrog.io"),
        invalid("url"),
        ("is not an http(s) URL", "https://acme.jfrog.io"),
    ),
    Bad(
        "url-with-credentials",
        inputs("upload", url="http://admin:${token}@127.0.0.1:9"),
        invalid("url"),
        ("carries a user name or password", "user + password or access-token"),
    ),
    Bad("url-missing", inputs("upload"), invalid("url"), ("is empty and JF_URL is not set",), env={"JF_URL": None}),
    Bad(
        "token-wrong",
        inputs("upload", access_token="not-the-token-0123456789"),
        "Artifactory refused the credentials",
        ("access-token", "401"),
    ),
    Bad(
        "token-read-only",
        inputs("upload", access_token="${read_only}"),
        "Artifactory refused the credentials",
        ("403", "deploy"),
    ),
    Bad(
        "user-without-password",
        inputs("upload", user="admin"),
        invalid("password"),
        ("user is set but password is empty",),
        env={"JF_ACCESS_TOKEN": None},
    ),
    Bad(
        "password-without-user",
        inputs("upload", password="hunter2-0123456789"),
        invalid("user"),
        ("password is set but user is empty",),
        env={"JF_ACCESS_TOKEN": None},
    ),
    Bad(
        "token-and-user",
        inputs("upload", user="admin", password="hunter2-0123456789"),
        invalid("user"),
        ("conflicts with access-token", "only one way to log in"),
    ),
    Bad(
        "user-and-oidc",
        inputs("upload", user="admin", password="hunter2-0123456789", oidc_provider_name="github-oidc"),
        invalid("oidc-provider-name"),
        ("conflicts with user", "only one way to log in"),
        env={"JF_ACCESS_TOKEN": None},
    ),
    Bad(
        "oidc-without-id-token",
        inputs("upload", oidc_provider_name="github-oidc"),
        "OIDC login failed",
        ("oidc-provider-name", "id-token: write"),
        env={"JF_ACCESS_TOKEN": None},
    ),
    Bad(
        "ca-bundle-missing",
        inputs("upload", ca_bundle="no-such-ca.pem"),
        invalid("ca-bundle"),
        ("'no-such-ca.pem' cannot be read as PEM certificates", "Point ca-bundle at the PEM file"),
    ),
    Bad(
        "ca-bundle-not-pem",
        inputs("upload", ca_bundle="metrics.json"),
        invalid("ca-bundle"),
        ("'metrics.json' cannot be read as PEM certificates",),
    ),
    # Booleans ----------------------------------------------------------------------------------
    Bad(
        "dry-run-yes",
        inputs("upload", dry_run="yes"),
        invalid("dry-run"),
        ("'yes' is not a boolean; use true or false",),
    ),
    Bad(
        "allow-unsafe-1",
        inputs("upload", allow_unsafe_pickle="1"),
        invalid("allow-unsafe-pickle"),
        ("'1' is not a boolean",),
    ),
    Bad(
        "compare-maybe",
        inputs("gate", compare_to_production="maybe"),
        invalid("compare-to-production"),
        ("'maybe' is not a boolean",),
    ),
    # Numbers and timeouts ----------------------------------------------------------------------
    Bad(
        "scan-timeout-zero", inputs("scan", scan_timeout="0"), invalid("scan-timeout"), ("greater than or equal to 1",)
    ),
    Bad("scan-timeout-words", inputs("scan", scan_timeout="ten minutes"), invalid("scan-timeout"), ("scan-timeout",)),
    Bad("max-workers-zero", inputs("upload", max_workers="0"), invalid("max-workers"), ("greater than or equal to 1",)),
    Bad("max-workers-huge", inputs("upload", max_workers="500"), invalid("max-workers"), ("less than or equal to 32",)),
    Bad(
        "max-regression-negative",
        inputs("gate", max_regression="-0.1"),
        invalid("max-regression"),
        ("greater than or equal to 0",),
    ),
    # Stages and combinations -------------------------------------------------------------------
    Bad(
        "stage-unknown", inputs("deploy"), invalid("stages"), ("unknown stage 'deploy'", "choose from configure, gate")
    ),
    Bad("stage-misspelt", inputs("upload,promot"), invalid("stages"), ("unknown stage 'promot'",)),
    Bad("stages-only-commas", inputs(",,"), invalid("stages"), ("no stage given",)),
    Bad(
        "configure-without-repos",
        inputs("configure"),
        invalid("pypi-repo"),
        ("configure needs pypi-repo, hf-repo or both",),
    ),
    Bad(
        "dependencies-file-missing",
        inputs("upload,build-publish", dependencies_file="no-such-requirements.txt", build_number=NEW),
        invalid("dependencies-file"),
        ("no-such-requirements.txt", "Point dependencies-file at a requirements or lock file"),
    ),
    Bad(
        "download-dir-is-a-file",
        inputs("upload,build-publish,scan,promote,resolve", download_dir="a-file", build_number=NEW),
        invalid("download-dir"),
        ("'a-file' is a file, not a folder", "Set download-dir to a folder"),
    ),
    # Signing -----------------------------------------------------------------------------------
    Bad(
        "sign-key-without-key",
        inputs("upload", sign="key", build_number=NEW),
        invalid("signing-key"),
        ("is empty but sign is key", "secrets.MODEL_SIGNING_KEY"),
    ),
    Bad(
        "sign-certificate-without-chain",
        inputs("upload", sign="certificate", signing_key=RSA_KEY, build_number=NEW),
        invalid("signing-certificate-chain"),
        ("is empty but sign is certificate", "holds signing-key's public key"),
    ),
    Bad(
        "sign-with-an-rsa-key",
        inputs("upload", sign="key", signing_key=RSA_KEY, build_number=NEW),
        "Model not signed",
        ("signing-key is a RSA key", "elliptic-curve", "openssl ecparam"),
    ),
    Bad(
        "sign-not-a-mode",
        inputs("upload", sign="gpg", build_number=NEW),
        invalid("sign"),
        ("'none', 'sigstore', 'key' or 'certificate'",),
    ),
    Bad(
        "sigstore-without-id-token",
        inputs("upload", sign="sigstore", build_number=NEW),
        "Sigstore signing needs id-token: write",
        ("ACTIONS_ID_TOKEN_REQUEST_URL is not set", "permissions: id-token: write"),
        env={"ACTIONS_ID_TOKEN_REQUEST_URL": None, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": None},
    ),
    Bad(
        "verify-without-material",
        inputs("resolve", verify_signature="true"),
        invalid("verify-signature"),
        ("needs exactly one of verify-public-key, verify-certificate-chain, or verify-identity + verify-issuer",),
    ),
    Bad(
        "verify-material-unused",
        inputs("resolve", verify_public_key="-----BEGIN PUBLIC KEY-----"),
        invalid("verify-signature"),
        ("is false but verify-public-key is set", "Set verify-signature: true"),
    ),
    Bad(
        "verify-identity-without-issuer",
        inputs(
            "resolve",
            verify_signature="true",
            verify_identity="https://github.com/acme/m/.github/workflows/t.yml@refs/heads/main",
        ),
        invalid("verify-issuer"),
        ("is empty: Sigstore verification needs both", "https://token.actions.githubusercontent.com"),
    ),
    Bad(
        "verify-unsigned-model",
        inputs("resolve", verify_signature="true", verify_public_key=EC_PUBLIC_KEY, download_dir="unsigned"),
        "Model signature refused",
        ("has no model.sig", "nothing was handed over", "sign: key"),
    ),
]


def resolved(case: Bad, setting: Setting) -> dict[str, str]:
    """The case's inputs with the sandbox's real tokens put where the case refers to them."""
    admin = setting.harness.base_env()["JF_ACCESS_TOKEN"]
    return {
        k: v.replace("${token}", admin).replace("${read_only}", setting.read_only_token) for k, v in case.inputs.items()
    }


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 50
    assert len({case.id for case in CASES}) == len(CASES)
    stages = {stage for case in CASES for stage in case.inputs["stages"].split(",")}
    assert {"configure", "gate", "upload", "build-publish", "scan", "promote", "resolve"} <= stages


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_a_bad_input_gives_one_clear_error_and_changes_nothing(case: Bad, setting: Setting) -> None:
    before = setting.snapshot()

    result = setting.harness.run(resolved(case, setting), env=case.env)

    title, message = one_error(result)
    assert title == case.title, message
    text = f"{title}: {message}"
    for fragment in case.says:
        assert fragment in text, f"{fragment!r} not in {text!r}"
    assert "Internal error" not in result.log
    shown = [line for line in result.log.splitlines() if not line.startswith("::add-mask::")]
    assert setting.harness.base_env()["JF_ACCESS_TOKEN"] not in "\n".join(shown) + result.summary
    assert setting.snapshot() == before, "the registry changed"


def test_the_registry_comparison_sees_a_write(setting: Setting) -> None:
    """The check above is not blind: a good run with a new build number changes the snapshot."""
    before = setting.snapshot()

    result = setting.harness.run(inputs("upload", model_version="9", build_number="9"))

    assert result.returncode == 0, result.log
    after = setting.snapshot()
    assert len(after["items"]) > len(before["items"])
    assert len(after["properties"]) > len(before["properties"])
