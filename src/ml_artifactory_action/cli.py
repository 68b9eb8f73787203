"""The `ml-artifactory` command: `run --stages ...`, one subcommand per stage, and `sandbox`."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from ml_artifactory_action.inputs import build_parser, flags_from_args


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["sandbox"]:
        from artifactory_sandbox.cli import main as sandbox_main  # noqa: PLC0415  the action never loads the sandbox

        return sandbox_main(args[1:])
    namespace = build_parser().parse_args(args)
    from ml_artifactory_action.__main__ import main as run  # noqa: PLC0415  keep `--help` fast

    return run(os.environ, flags_from_args(namespace))


if __name__ == "__main__":
    sys.exit(main())
