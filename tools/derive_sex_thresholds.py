"""Recompute the GTEx v8 figures behind ``biodata_guard/alignment/_sex_atlas.py``.

Input: ``RNAseq/training_data/for_rna_sex_check.tsv`` of github.com/SexChrLab/SexInference
(commit 838e354434022a11c80213727d0b8d5d23c9cf2b): read counts of XIST and five chrY genes
for the 17,382 GTEx v8 samples, with the donor's reported sex. Prints each chrY gene's midpoint
of ``log((y + 2) / (XIST + 2))`` (halfway between the male and the female median), the range of
the centred score per sex over every subset of the five genes, and the calls at the threshold.

    python tools/derive_sex_thresholds.py for_rna_sex_check.tsv [--threshold 2.5]
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import pandas as pd

Y_GENES = ("RPS4Y1", "DDX3Y", "KDM5D", "UTY", "EIF1AY")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table")
    parser.add_argument("--threshold", type=float, default=2.5)
    args = parser.parse_args()
    d = pd.read_csv(args.table, sep="\t")
    female = (d["sex"] == "female").to_numpy()
    contrast = pd.DataFrame({g: np.log(d[g] + 2) - np.log(d["XIST"] + 2) for g in Y_GENES})
    mid = {g: round(float(contrast[g][~female].median() + contrast[g][female].median()) / 2, 2)
           for g in Y_GENES}  # fmt: skip
    print(f"samples: {len(d)} ({int(female.sum())} female, {int((~female).sum())} male)")
    print("midpoints:", mid)
    centred = contrast - pd.Series(mid)
    t = args.threshold
    worst = {"female max": -np.inf, "male min": np.inf, "uncertain f": 0, "uncertain m": 0}
    for k in range(1, len(Y_GENES) + 1):
        for genes in itertools.combinations(Y_GENES, k):
            s = centred[list(genes)].mean(axis=1).to_numpy()
            worst["female max"] = max(worst["female max"], s[female].max())
            worst["male min"] = min(worst["male min"], s[~female].min())
            worst["uncertain f"] = max(worst["uncertain f"], int((s[female] > -t).sum()))
            worst["uncertain m"] = max(worst["uncertain m"], int((s[~female] < t).sum()))
    s = centred.mean(axis=1).to_numpy()
    med_f, med_m = np.median(s[female]), np.median(s[~female])
    print(f"all five genes: female median {med_f:.2f}, male {med_m:.2f}")
    print(f"at +-{t}: females called male {(s[female] >= t).sum()}, males called female "
          f"{(s[~female] <= -t).sum()}, uncertain {(np.abs(s[female]) < t).sum()} female / "
          f"{(np.abs(s[~female]) < t).sum()} male")  # fmt: skip
    print("over every subset of the chrY genes:", {k: round(float(v), 2) for k, v in worst.items()})


if __name__ == "__main__":
    main()
