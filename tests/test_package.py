"""The public surface: __all__, the check-id vocabulary."""

import biodata_guard


def test_all_names_exist_and_nothing_public_is_missing():
    for name in biodata_guard.__all__:
        assert hasattr(biodata_guard, name), name
    assert sorted(biodata_guard.__all__) == biodata_guard.__all__
    assert callable(biodata_guard.audit)


#: The check-id vocabulary of DESIGN.md (the public contract: ids are added, never renamed).
DESIGN_IDS = {
    "alignment.length_mismatch", "alignment.key_duplicates", "alignment.unmatched_keys",
    "alignment.order_mismatch", "alignment.missing_labels", "alignment.merge_explosion",
    "alignment.sex_discordance",
    "leakage.id_overlap", "leakage.group_overlap", "leakage.duplicate_samples",
    "leakage.near_duplicates", "leakage.metadata_predicts_label",
    "leakage.preprocessing_before_split",
    "build.detected", "build.mismatch", "build.unexpected", "build.undetermined",
    "build.contig_naming", "build.out_of_bounds",
    "units.detected", "units.mismatch", "units.unexpected", "units.mixed_within",
    "units.invalid_values",
    "balance.summary", "balance.imbalance", "balance.split_shift", "balance.unseen_class",
    "balance.tiny_class",
    "replicates.ceiling", "replicates.score_above_ceiling", "replicates.low_agreement",
    "batch.predictable", "batch.confounded", "batch.split_predictable", "probe.summary",
    "input.unreadable", "input.invalid",
}  # fmt: skip
#: Ids added since DESIGN.md was written (reported to its owner).
ADDED_IDS = {
    "balance.label_variants",
    "balance.single_class",
    "build.off_by_one",
    "schema.failure",
}


def _module_check_ids() -> set[str]:
    import importlib
    import re

    pattern = re.compile(
        r"^(alignment|leakage|build|units|balance|replicates|batch|probe|input|schema)\.[a-z_]+$"
    )
    modules = ("alignment", "leakage", "genome_build", "units", "balance", "replicates", "probe",
               "pandera_ext", "io")  # fmt: skip
    found = set()
    for name in modules:
        module = importlib.import_module(f"biodata_guard.{name}")
        for attr, value in vars(module).items():
            if attr.isupper() and isinstance(value, str) and pattern.match(value):
                found.add(value)
    return found


def test_check_ids_defined_in_the_modules_are_the_design_vocabulary_plus_documented_additions():
    assert _module_check_ids() == DESIGN_IDS | ADDED_IDS


def test_every_check_id_is_in_the_readme_table():
    from conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [c for c in sorted(DESIGN_IDS | ADDED_IDS) if f"`{c}`" not in readme]
    assert missing == []
