from __future__ import annotations

from pathlib import Path

import pytest

from ml_artifactory_action.errors import ConfigError
from ml_artifactory_action.model.dependencies import Dependency, read_dependencies

SHA_A = "a" * 64
SHA_B = "b" * 64


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_requirements_with_hashes_continuations_comments_and_options(tmp_path: Path) -> None:
    text = f"""\
# training deps
--index-url https://pypi.org/simple
-r base.txt
numpy==1.26.4 \\
    --hash=sha256:{SHA_A} \\
    --hash=sha256:{SHA_B}
Torch_Vision==0.19.0  # pinned
scikit-learn>=1.3
requests[socks]==2.32.3 ; python_version >= "3.8"
-e git+https://github.com/acme/lib.git#egg=lib
"""
    deps = read_dependencies(write(tmp_path, "requirements.txt", text))

    assert deps == [
        Dependency("numpy", "1.26.4", SHA_A),
        Dependency("requests", "2.32.3"),
        Dependency("scikit-learn", ""),
        Dependency("torch-vision", "0.19.0"),
    ]
    assert [d.id for d in deps] == ["numpy:1.26.4", "requests:2.32.3", "scikit-learn", "torch-vision:0.19.0"]


def test_pip_freeze_output(tmp_path: Path) -> None:
    deps = read_dependencies(write(tmp_path, "freeze.txt", "joblib==1.4.2\nPyYAML==6.0.2\n"))
    assert [d.id for d in deps] == ["joblib:1.4.2", "pyyaml:6.0.2"]


def test_poetry_lock_gives_versions_and_the_first_file_hash(tmp_path: Path) -> None:
    text = f"""
[[package]]
name = "NumPy"
version = "2.0.1"
files = [
    {{file = "numpy-2.0.1.tar.gz", hash = "sha256:{SHA_A}"}},
    {{file = "numpy-2.0.1-cp311.whl", hash = "sha256:{SHA_B}"}},
]

[[package]]
name = "six"
version = "1.16.0"
files = []
"""
    deps = read_dependencies(write(tmp_path, "poetry.lock", text))
    assert deps == [Dependency("numpy", "2.0.1", SHA_A), Dependency("six", "1.16.0")]


def test_uv_lock_gives_versions_and_the_sdist_hash(tmp_path: Path) -> None:
    text = f"""
version = 1
[[package]]
name = "torch"
version = "2.4.0"
sdist = {{ url = "https://files/torch.tar.gz", hash = "sha256:{SHA_B}", size = 10 }}
wheels = [{{ url = "https://files/torch.whl", hash = "sha256:{SHA_A}", size = 9 }}]
"""
    assert read_dependencies(write(tmp_path, "uv.lock", text)) == [Dependency("torch", "2.4.0", SHA_B)]


def test_an_unreadable_file_is_a_config_error_naming_the_input(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        read_dependencies(tmp_path / "missing.txt")
    assert caught.value.input_name == "dependencies-file"
    assert caught.value.message.startswith(f"Input 'dependencies-file': cannot read '{tmp_path / 'missing.txt'}'")


def test_a_broken_lock_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"is not valid TOML"):
        read_dependencies(write(tmp_path, "uv.lock", "[[package]\n"))
