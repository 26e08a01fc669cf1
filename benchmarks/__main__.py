"""``python -m benchmarks``: the whole benchmark suite (see benchmarks/run.py)."""

from benchmarks.run import main

raise SystemExit(main())
