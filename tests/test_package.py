"""The public surface: __all__, the check-id vocabulary."""

import biodata_guard
from biodata_guard import registry


def test_all_names_exist_and_nothing_public_is_missing():
    for name in biodata_guard.__all__:
        assert hasattr(biodata_guard, name), name
    assert sorted(biodata_guard.__all__) == biodata_guard.__all__
    assert callable(biodata_guard.audit)


def test_every_check_id_is_in_the_readme_table():
    from conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [c.id for c in registry.checks() if f"`{c.id}`" not in readme]
    assert missing == []


def test_the_package_root_is_a_small_public_api():
    assert set(biodata_guard.__all__) == {
        "AuditConfig", "ConfigError", "Finding", "GuardError", "InputError", "Report",
        "Severity", "__version__", "audit", "load_config", "registry",
    }  # fmt: skip


def test_each_concern_package_exports_its_check_functions():
    import importlib

    for group in registry.groups():
        module = importlib.import_module(f"biodata_guard.{group.name}")
        assert module.__all__, group.name
        assert len(set(module.__all__)) == len(module.__all__), group.name
        for name in module.__all__:
            assert hasattr(module, name), f"{group.name}.{name}"
        declared = {c.module for c in registry.checks(group.name)}
        assert all(m.startswith(f"biodata_guard.{group.name}") for m in declared)
