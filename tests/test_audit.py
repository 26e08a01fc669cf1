"""The Python entry point: in-memory objects, AnnData .obs, config objects."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from biodata_guard import ConfigError, GuardError, InputError
from biodata_guard.audit import audit
from biodata_guard.config import AuditConfig
from tests._synth import cohort, nb_counts


@pytest.fixture
def data():
    sheet = cohort(40, seed=11)
    X = pd.DataFrame(nb_counts(len(sheet), 25, seed=11), index=sheet["sample_id"])
    X.columns = [f"G{j}" for j in range(25)]
    return X, sheet


def test_dataframes_in_memory(data):
    X, sheet = data
    report = audit(features=X, metadata=sheet, label_col="label", split_col="split",
                   only={"alignment", "balance"})  # fmt: skip
    assert report.ok
    assert [i["name"] for i in report.inputs] == ["<metadata>", "<features 1>"]
    assert "sha256" not in report.inputs[0]  # in-memory inputs have no file hash
    assert report.artifacts["balance"]["class_counts"].keys() == {"test", "train"}


def test_labels_series_misordered_against_features(data):
    X, sheet = data
    y = sheet.set_index("sample_id")["label"].sort_values(kind="stable")
    report = audit(features=X, labels=y, label_col="label", only={"alignment"})
    assert [f.check for f in report.findings if not f.evidence.get("not_checked")] == [
        "alignment.order_mismatch"
    ]
    with pytest.raises(GuardError) as info:
        report.raise_for_errors()
    assert info.value.report is report


def test_anndata_obs_is_the_metadata(data):
    X, sheet = data
    adata = ad.AnnData(X=X.to_numpy(dtype=np.float32), obs=sheet.set_index("sample_id"))
    adata.obs.loc[adata.obs_names[:3], "label"] = np.nan
    report = audit(features=adata, label_col="label", split_col="split",
                   only={"alignment", "balance"})  # fmt: skip
    missing = report.by_check("alignment.missing_labels")
    assert len(missing) == 1 and missing[0].evidence["n_missing"] == 3
    assert missing[0].input == "<features 1> (.obs)"


def test_config_object_and_overrides(data):
    _, sheet = data
    cfg = AuditConfig(label_col="label", fail_on="warning")
    report = audit(cfg, metadata=sheet, only={"balance"}, split_col="split")
    assert report.fail_on == "warning"
    assert report.config["columns"] == {"label": "label", "split": "split"}


def test_unknown_option_and_group_are_config_errors(data):
    _, sheet = data
    with pytest.raises(ConfigError, match="unknown audit option 'lable_col'") as info:
        audit(metadata=sheet, lable_col="label")
    assert "label_col" in info.value.hint
    with pytest.raises(ConfigError, match="unknown check group"):
        audit(metadata=sheet, only={"balanse"})


def test_missing_column_in_obs_is_an_input_error(data):
    X, sheet = data
    adata = ad.AnnData(X=X.to_numpy(dtype=np.float32), obs=sheet.set_index("sample_id"))
    with pytest.raises(InputError, match="column 'donor' not found"):
        audit(features=adata, group_cols=["donor"])


def test_features_without_shared_ids_are_not_aligned(data):
    X, sheet = data
    report = audit(features=X.to_numpy(), metadata=sheet, only={"alignment"})
    assert {f.check for f in report.findings if not f.evidence.get("not_checked")} == {
        "alignment.unmatched_keys"
    }  # row numbers vs sample ids: nothing matches
