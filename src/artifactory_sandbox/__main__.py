"""`python -m artifactory_sandbox ...` runs the sandbox (see `cli.py`)."""

import sys

from .cli import main

sys.exit(main())
