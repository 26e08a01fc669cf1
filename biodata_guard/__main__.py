"""``python -m biodata_guard``."""

import sys

from biodata_guard.cli import main

sys.exit(main())
