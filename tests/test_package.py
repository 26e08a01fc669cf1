"""The public surface: __all__, the check-id vocabulary."""

import biodata_guard


def test_all_names_exist_and_nothing_public_is_missing():
    for name in biodata_guard.__all__:
        assert hasattr(biodata_guard, name), name
    assert sorted(biodata_guard.__all__) == biodata_guard.__all__
    assert callable(biodata_guard.audit)
