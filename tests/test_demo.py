"""The bundled demo: reproducible from its seed, and small."""

import importlib.util

from tests.conftest import DEMO, sha256


def test_demo_regenerates_byte_identical(tmp_path):
    spec = importlib.util.spec_from_file_location("make_demo", DEMO / "make_demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--out", str(tmp_path)])
    for name in ("counts.csv.gz", "metadata.csv", "labels.csv", "variants.vcf"):
        assert sha256(tmp_path / name) == sha256(DEMO / "data" / name), name


def test_demo_stays_small():
    total = sum(p.stat().st_size for p in (DEMO / "data").iterdir())
    assert total < 5 * 1024 * 1024
