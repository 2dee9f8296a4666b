"""Entry point for ``python -m prefect_botpenguin`` (the same as the ``botpenguin`` command)."""

import sys

from .flows.cli import main

sys.exit(main())
