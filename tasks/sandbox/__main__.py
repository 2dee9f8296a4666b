"""Entry point for ``python -m prefect_botpenguin.sandbox``."""

import sys

from .cli import main

sys.exit(main())
