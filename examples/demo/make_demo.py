"""Generate the demo dataset (seeded, byte-reproducible) with planted problems.

    python examples/demo/make_demo.py            # writes examples/demo/data/

A small bulk RNA-seq cohort: 300 samples x 2,000 genes of negative-binomial counts from 111
patients (120 are drawn; the first 260 biological samples are kept) in 4 sequencing batches, a
sample sheet (metadata.csv) and the labels in a separate file (labels.csv), as they often
arrive. Planted problems, each of which the audit must report:

- labels.csv is sorted by diagnosis, not in the count matrix's row order (alignment.order_mismatch);
- 'stricturing' occurs only in the test split (balance.unseen_class) and is tiny
  (balance.tiny_class);
- 'control' is ~80% of samples (balance.imbalance);
- 6 patients have samples in both train and test (leakage.group_overlap);
- batch B3 shifts 150 genes 3-fold (batch.predictable);
- 5 samples have their reported sex swapped (alignment.sex_discordance; XIST and chrY genes carry
  their real Ensembl ids);
- 40 technical-replicate pairs (replicate_group), two of them with discordant diagnoses
  (replicates.low_agreement);
- variants.vcf holds the cohort's germline calls in GRCh37 while the config expects GRCh38
  (build.unexpected).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 7
N_PATIENTS = 120
N_GENES = 2000
SEX_GENES = {
    "ENSG00000229807": "XIST",
    "ENSG00000129824": "RPS4Y1",
    "ENSG00000067048": "DDX3Y",
    "ENSG00000012817": "KDM5D",
    "ENSG00000183878": "UTY",
    "ENSG00000198692": "EIF1AY",
}


def make(out: Path) -> None:
    rng = np.random.default_rng(SEED)
    # Patients: diagnosis, sex, split (grouped by patient), batch.
    diag = rng.choice(["control", "IBD"], size=N_PATIENTS, p=[0.82, 0.18]).astype(object)
    rare = [7, 31, 77]
    diag[rare] = "stricturing"
    split = np.where(rng.random(N_PATIENTS) < 0.25, "test", "train")
    split[rare] = "test"
    sex = rng.choice(["female", "male"], size=N_PATIENTS)
    rows = []
    for p in range(N_PATIENTS):
        n = 1 if p in rare else int(rng.integers(1, 5))
        for j in range(n):
            rows.append((p, j))
    # Fill to exactly 260 biological samples (+ 40 technical replicates = 300).
    rows = rows[:260]
    assert len(rows) == 260
    meta = pd.DataFrame(rows, columns=["p", "j"])
    meta["sample_id"] = [f"S{i + 1:04d}" for i in range(len(meta))]
    meta["patient_id"] = [f"PT{p + 1:03d}" for p in meta["p"]]
    meta["diagnosis"] = diag[meta["p"]]
    meta["split"] = split[meta["p"]]
    meta["sex"] = sex[meta["p"]]
    meta["batch"] = [f"B{b}" for b in rng.integers(0, 4, len(meta))]
    meta["replicate_group"] = meta["sample_id"]
    # Leak: 6 multi-sample patients get one sample in the other split.
    multi = meta.groupby("p").filter(lambda g: len(g) > 1)["p"].unique()
    leaky = [p for p in multi if split[p] == "train"][:6]
    for p in leaky:
        idx = meta.index[meta["p"] == p][-1]
        meta.loc[idx, "split"] = "test"
    # Technical replicates of 40 samples (same profile, new sequencing draw).
    reps = meta[meta["diagnosis"] != "stricturing"].sample(40, random_state=SEED).copy()
    reps["replicate_group"] = reps["sample_id"]
    reps["sample_id"] = [f"S{i + 261:04d}" for i in range(len(reps))]
    meta = pd.concat([meta, reps], ignore_index=True)

    genes = [f"ENSG{i:011d}" for i in range(1, N_GENES - len(SEX_GENES) + 1)]
    genes += list(SEX_GENES)
    base = rng.lognormal(np.log(30), 1.6, N_GENES)
    patient_effect = rng.lognormal(0, 0.25, (N_PATIENTS, N_GENES))
    mu = base * patient_effect[meta["p"].to_numpy()]
    ibd = (meta["diagnosis"] != "control").to_numpy()
    mu[np.ix_(ibd, np.arange(40))] *= 4.0  # disease signature
    b3 = (meta["batch"] == "B3").to_numpy()
    mu[np.ix_(b3, np.arange(200, 350))] *= 3.0  # batch effect
    female = (meta["sex"] == "female").to_numpy()
    sex_idx = {g: genes.index(g) for g in SEX_GENES}
    mu[:, sex_idx["ENSG00000229807"]] = np.where(female, 400.0, 2.0)
    for g in list(SEX_GENES)[1:]:
        mu[:, sex_idx[g]] = np.where(female, 0.5, 150.0)
    depth = rng.lognormal(0, 0.35, len(meta))[:, None]
    r = 1 / 0.15
    counts = rng.negative_binomial(r, r / (r + mu * depth))

    # Planted: swapped reported sex for 5 samples; discordant diagnosis in 2 replicate pairs.
    swapped = meta.sample(5, random_state=SEED + 1).index
    meta.loc[swapped, "sex"] = meta.loc[swapped, "sex"].map({"female": "male", "male": "female"})
    rep_rows = meta.index[meta["sample_id"] != meta["replicate_group"]]
    flip = rep_rows[:2]
    meta.loc[flip, "diagnosis"] = np.where(
        meta.loc[flip, "diagnosis"] == "control", "IBD", "control"
    )

    out.mkdir(parents=True, exist_ok=True)
    X = pd.DataFrame(counts, index=pd.Index(meta["sample_id"], name="sample_id"), columns=genes)
    X.to_csv(out / "counts.csv.gz", compression={"method": "gzip", "mtime": 0})
    sheet = meta[["sample_id", "patient_id", "split", "batch", "sex", "replicate_group"]]
    sheet.to_csv(out / "metadata.csv", index=False)
    labels = meta[["sample_id", "diagnosis"]].sort_values(["diagnosis", "sample_id"])
    labels.to_csv(out / "labels.csv", index=False)
    write_variants(out / "variants.vcf")


def write_variants(path: Path, *, n_markers: int = 400, n_other: int = 200) -> None:
    """Germline calls of the cohort, in GRCh37 (the config expects GRCh38): a headerless-build
    VCF whose rsIDs and positions give its build away. A separate seed keeps the other files."""
    from importlib.resources import files

    rng = np.random.default_rng(SEED + 2)
    panel = pd.read_csv(
        files("biodata_guard") / "data" / "marker_snps_GRCh37_GRCh38.tsv.gz", sep="\t"
    )
    panel = panel[panel["chrom_GRCh37"].isin([str(c) for c in range(1, 23)])]
    markers = panel.iloc[np.sort(rng.choice(len(panel), n_markers, replace=False))]
    chrom = np.concatenate([markers["chrom_GRCh37"].to_numpy(), rng.integers(1, 23, n_other)])
    pos = np.concatenate(
        [markers["pos_GRCh37"].to_numpy(), rng.integers(1_000_000, 40_000_000, n_other)]
    )
    ids = np.concatenate([markers["rsid"].to_numpy(), np.full(n_other, ".")])
    calls = pd.DataFrame({"chrom": chrom.astype(str), "pos": pos, "id": ids})
    calls["order"] = calls["chrom"].astype(int)
    calls = calls.sort_values(["order", "pos"], kind="stable")
    bases = np.array(list("ACGT"))
    ref = rng.integers(0, 4, len(calls))
    alt = (ref + rng.integers(1, 4, len(calls))) % 4
    lines = ["##fileformat=VCFv4.2", "##source=biodata_guard demo (seeded)"]
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    for (c, p_, i), r_, a_ in zip(
        calls[["chrom", "pos", "id"]].itertuples(index=False), ref, alt, strict=True
    ):
        lines.append(f"{c}\t{p_}\t{i}\t{bases[r_]}\t{bases[a_]}\t50\tPASS\t.")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    make(parser.parse_args(argv).out)


if __name__ == "__main__":
    main()
