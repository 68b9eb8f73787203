"""Keras model configs (config.json in .keras, model_config in .h5, model.to_json()): code on load.

A Lambda layer stores marshalled Python bytecode that Keras runs when it rebuilds the model, and
an object's "module" makes older Keras import that module. Both are findings unless the module is
a Keras namespace or the caller allowed the name.
"""

from __future__ import annotations

import json

from .byte_reader import ByteReader
from .findings import Finding, unreadable
from .limits import MAX_JSON_BYTES
from .pickle_engine import is_denylisted
from .pickle_policy import Allowlist, describe, severity

SNIFF_JSON = 4096
LAMBDA_CLASSES = frozenset({"Lambda", "TFOpLambda", "SlicingOpLambda", "__lambda__"})
# Namespaces Keras resolves classes and functions from; keras.utils, keras.config and
# keras.saving are left out on purpose (downloads, unsafe-deserialisation switches).
_KERAS_NAMESPACES = tuple(
    f"{root}{area}"
    for root in (
        "keras.",
        "keras.src.",
        "tf_keras.",
        "tf_keras.src.",
        "tensorflow.keras.",
        "keras_hub.src.",
        "keras_nlp.src.",
        "keras_cv.src.",
    )
    for area in (
        "layers",
        "models",
        "engine",
        "optimizers",
        "initializers",
        "regularizers",
        "constraints",
        "activations",
        "losses",
        "metrics",
        "ops",
        "dtype_policies",
        "backend",
    )
)
# Words a JSON document must contain (or escape with \u) to name a Lambda layer or a module.
_TRIGGERS = (b"ambda", b"module", b"\\u")
_OVERLAP = max(len(trigger) for trigger in _TRIGGERS) - 1
_BLOCK = 1024 * 1024


def text_findings(reader: ByteReader, where: str, allowlist: Allowlist) -> list[Finding]:
    """Findings in a text file that is a JSON document; other text passes."""
    if reader.peek(SNIFF_JSON).lstrip()[:1] not in (b"{", b"["):
        return []
    kept, size, triggered, tail = [], 0, False, b""
    while block := reader.read_some(_BLOCK):
        triggered = triggered or any(trigger in tail + block for trigger in _TRIGGERS)
        tail, size = block[-_OVERLAP:], size + len(block)
        if size <= MAX_JSON_BYTES:
            kept.append(block)
    if not triggered:
        return []
    if size > MAX_JSON_BYTES:
        return [unreadable(where, f"a JSON document over {MAX_JSON_BYTES // 1024**2} MiB names modules or Lambda")]
    return json_findings(b"".join(kept), where, allowlist)


def json_findings(text: bytes | str, where: str, allowlist: Allowlist) -> list[Finding]:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return []  # Keras could not load it either
    return config_findings(document, where, allowlist)


def config_findings(document: object, where: str, allowlist: Allowlist) -> list[Finding]:
    findings: list[Finding] = []
    pending = [document]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            findings += _node_findings(node, where, allowlist)
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return list(dict.fromkeys(findings))


def _node_findings(node: dict[str, object], where: str, allowlist: Allowlist) -> list[Finding]:
    class_name, module = node.get("class_name"), node.get("module")
    if class_name in LAMBDA_CLASSES:
        return [_lambda(str(class_name), where)]
    if not isinstance(module, str) or not isinstance(class_name, str):
        return []
    name = node.get("config") if class_name == "function" else class_name
    if not isinstance(name, str) or _keras_owned(module):
        return []
    level = severity(module, name, engine_dangerous=is_denylisted(module, name), allowlist=allowlist)
    return [describe(f"{module}.{name}", level, f"{where} (Keras config)")] if level else []


def _keras_owned(module: str) -> bool:
    if module in ("keras", "keras_hub", "tf_keras"):
        return True
    return any(module == space or module.startswith(space + ".") for space in _KERAS_NAMESPACES)


def _lambda(class_name: str, where: str) -> Finding:
    return Finding(
        f"keras.layers.{class_name}",
        "dangerous",
        f"{where}: a Keras {class_name} holds Python bytecode that runs when the model is loaded; "
        "rewrite it as a registered custom layer and save again",
    )
