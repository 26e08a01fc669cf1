"""biodata_guard benchmarks: ``python -m benchmarks`` runs the suite (see benchmarks/run.py)."""
