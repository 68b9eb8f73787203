"""Advisories for build-info dependencies: the shipped `advisories.json` or `--advisories FILE`.

A dependency id is `name:version` (what the JFrog CLI and the action write for Python packages;
`name==version` is accepted too). Names compare after PEP 503 normalisation, versions with
`packaging`; an advisory's `affected` is a PEP 440 specifier set such as `<2.6.0`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}
_NAME_NORMALIZE = re.compile(r"[-_.]+")
SHIPPED = "advisories.json"


class AdvisoryFileError(Exception):
    """The advisories file cannot be read or an entry is malformed; the message says which."""


@dataclass(frozen=True)
class Advisory:
    id: str
    cve: str
    package: str
    affected: SpecifierSet
    fixed_versions: tuple[str, ...]
    severity: str
    cvss_v3_score: str
    summary: str
    references: tuple[str, ...]

    def affects(self, package: str, version: str) -> bool:
        if normalize(package) != normalize(self.package):
            return False
        try:
            return Version(version) in self.affected
        except InvalidVersion:
            return False


def normalize(name: str) -> str:
    return _NAME_NORMALIZE.sub("-", name).lower()


def severity_rank(severity: str) -> int:
    return SEVERITY_RANK.get(severity.lower(), 0)


def load_advisories(path: Path | None) -> list[Advisory]:
    """Advisories from `path`, or the list shipped with the sandbox when `path` is None."""
    try:
        if path is None:
            text = resources.files("artifactory_sandbox").joinpath(SHIPPED).read_text("utf-8")
        else:
            text = path.read_text(encoding="utf-8")
        document = json.loads(text)
    except (OSError, json.JSONDecodeError) as err:
        raise AdvisoryFileError(f"cannot read advisories {path or SHIPPED}: {err}") from err
    entries = document.get("advisories") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise AdvisoryFileError(f'{path or SHIPPED}: expected {{"advisories": [...]}}')
    return [_advisory(entry, index) for index, entry in enumerate(entries)]


def _advisory(entry: Any, index: int) -> Advisory:
    try:
        return Advisory(
            id=str(entry["id"]), cve=str(entry.get("cve") or ""), package=str(entry["package"]),
            affected=SpecifierSet(str(entry["affected"])),
            fixed_versions=tuple(str(v) for v in entry.get("fixed_versions") or ()),
            severity=str(entry["severity"]).capitalize(),
            cvss_v3_score=str(entry.get("cvss_v3_score") or ""),
            summary=str(entry.get("summary") or ""),
            references=tuple(str(r) for r in entry.get("references") or ()),
        )  # fmt: skip
    except (KeyError, TypeError, InvalidSpecifier) as err:
        raise AdvisoryFileError(f"advisory #{index + 1} is malformed: {err!r}") from err


def parse_dependency_id(dependency_id: str) -> tuple[str, str] | None:
    """(name, version) from `name:version` or `name==version`; None without a version."""
    for separator in ("==", ":"):
        name, found, version = dependency_id.rpartition(separator)
        if found and name and version:
            return name.split("://")[-1], version
    return None
