"""Entry point for ``python -m prefect_botpenguin.flows`` (the same as ``botpenguin``)."""

import sys

from .cli import main

sys.exit(main())
