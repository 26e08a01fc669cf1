"""Genome build on every real-world coordinate layout (issue 22): files written in each public
layout from the shipped marker and gene panels, GRCh38 files made with the UCSC chain of
``shared/reference``, two coordinate sets in one table, stated builds, messy rows, and
assemblies that are neither GRCh37 nor GRCh38."""

import gzip

import numpy as np
import pandas as pd
import pytest

from benchmarks._layouts import CHAINS, LAYOUTS, lift, random_variants, write_layout
from biodata_guard import InputError, audit
from biodata_guard import build as gb
from biodata_guard.build import _reference as gbref
from biodata_guard.io.coords import read_coordinates

B37, B38 = "GRCh37", "GRCh38"
needs_chains = pytest.mark.skipif(
    not all(p.is_file() for p in CHAINS.values()), reason="shared/reference chain files absent"
)


def by_id(findings, check):
    return [f for f in findings if f.check == check]


def panel_variants(n, *, seed, build=B37):
    """``n`` marker-panel SNPs at their ``build`` positions, with rsIDs and alleles."""
    m = gbref._markers().reset_index()
    m = m.iloc[np.sort(np.random.default_rng(seed).choice(len(m), n, replace=False))]
    return pd.DataFrame(
        {
            "chrom": m[f"chrom_{build}"].to_numpy(),
            "pos": m[f"pos_{build}"].to_numpy(),
            "rsid": m["rsid"].to_numpy(),
            "ref": m["ref_GRCh37"].to_numpy() if "ref_GRCh37" in m else "A",
            "alt": "G",
        }
    )


def grch37_file_rows(seed=3):
    """40 panel SNPs and 160 random SNVs within the GRCh37 chromosome ends."""
    lengths = gbref._chrom_sizes()[["length_GRCh37", "length_GRCh38"]].min(axis=1)
    rows = pd.concat(
        [panel_variants(40, seed=seed), random_variants(lengths, 160, seed=seed)],
        ignore_index=True,
    )
    return rows.sort_values(["chrom", "pos"], ignore_index=True)


# --------------------------------------------------------------------------- done when


def test_four_row_genotype_file_with_three_panel_rsids_is_grch37(tmp_path):
    rows = panel_variants(3, seed=1)
    rows = pd.concat(
        [rows, pd.DataFrame({"chrom": ["1"], "pos": [1_234_567], "rsid": ["i7000001"]})],
        ignore_index=True,
    )
    rows["ref"], rows["alt"] = "A", "G"
    path = write_layout("23andme", rows, tmp_path)
    call = gb.detect_build(path)
    assert call.n_rows == 4 and call.build == B37 and call.confidence > 0.999
    rs = call.evidence["marker_rsids"]
    assert rs["n_panel_rsids"] == 3 and rs["n_at_position"] == {B37: 3, B38: 0}
    assert rs["log10_lr"] > 5  # three exact hits: ~10^5 against GRCh38
    assert call.evidence["header"]["available"] is False  # no "build 37" line was written


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_layout_is_read_and_called_grch37(tmp_path, layout):
    path = write_layout(layout, grch37_file_rows(), tmp_path)
    ci = read_coordinates(path)
    assert len(ci.frame) == 200 and "malformed" not in ci.header
    call = gb.detect_build(ci)
    assert call.build == B37 and call.confidence > 0.999, call.reason


@needs_chains
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_layout_lifted_to_grch38_with_the_ucsc_chain_is_grch38(tmp_path, layout):
    lifted = lift(grch37_file_rows(), B37, B38)
    assert len(lifted) >= 180  # random positions in chain gaps (centromeres) do not lift
    call = gb.detect_build(write_layout(layout, lifted, tmp_path))
    assert call.build == B38 and call.confidence > 0.999, call.reason


def test_random_positions_are_never_called_for_the_wrong_build():
    lengths = gbref._chrom_sizes()
    for build in (B37, B38):
        for seed in range(20):
            rows = random_variants(lengths[f"length_{build}"], 100, seed=seed)
            call = gb.detect_build(rows[["chrom", "pos"]])
            assert call.build in (build, "undetermined"), call.reason


# --------------------------------------------------------------------------- two sets


def _pgs_harmonised(tmp_path, hm_build, *, n=30, seed=4):
    m = panel_variants(n, seed=seed)
    hm = panel_variants(n, seed=seed, build=hm_build)
    head = (
        "###PGS CATALOG SCORING FILE - see https://www.pgscatalog.org/downloads/\n"
        "#format_version=2.0\n#pgs_id=PGS000001\n#genome_build=GRCh37\n"
        f"##HARMONIZATION DETAILS\n#HmPOS_build={hm_build}\n#HmPOS_date=2022-07-29\n"
    )
    table = pd.DataFrame(
        {
            "rsID": m["rsid"],
            "chr_name": m["chrom"],
            "chr_position": m["pos"],
            "effect_allele": "A",
            "other_allele": "G",
            "effect_weight": 0.1,
            "hm_source": "ENSEMBL",
            "hm_rsID": m["rsid"],
            "hm_chr": hm["chrom"],
            "hm_pos": hm["pos"],
        }
    )
    path = tmp_path / f"PGS000001_hmPOS_{hm_build}.txt.gz"
    path.write_bytes(gzip.compress((head + table.to_csv(sep="\t", index=False)).encode(), mtime=0))
    return path


def test_author_and_harmonised_columns_in_two_builds_give_a_mismatch(tmp_path):
    path = _pgs_harmonised(tmp_path, B38)
    calls = gb.detect_builds(path)
    assert [(c.columns, c.build, c.stated_build) for c in calls] == [
        ("chr_name/chr_position", B37, B37),
        ("hm_chr/hm_pos", B38, B38),
    ]
    found = gb.check_build(path)
    (f,) = by_id(found, gb.MISMATCH)
    assert f.severity == "error" and f.subjects == ["chr_name/chr_position", "hm_chr/hm_pos"]
    assert f.evidence["builds"] == {"chr_name/chr_position": B37, "hm_chr/hm_pos": B38}
    assert "chr_name/chr_position in GRCh37 and hm_chr/hm_pos in GRCh38" in f.message
    assert [g.input for g in by_id(found, gb.DETECTED)] == [
        f"{path.name} [chr_name/chr_position]",
        f"{path.name} [hm_chr/hm_pos]",
    ]


def test_two_sets_in_one_build_are_clean(tmp_path):
    path = _pgs_harmonised(tmp_path, B37)
    found = gb.check_build(path)
    assert by_id(found, gb.MISMATCH) == [] and len(by_id(found, gb.DETECTED)) == 2


def test_build_named_columns_are_two_sets_with_stated_builds(tmp_path):
    m37, m38 = panel_variants(12, seed=5), panel_variants(12, seed=5, build=B38)
    same_chrom = (m37["chrom"] == m38["chrom"]).to_numpy()
    df = pd.DataFrame(
        {"SNP": m37["rsid"], "CHR": m37["chrom"], "BP(hg19)": m37["pos"], "pos_b38": m38["pos"]}
    )[same_chrom]
    path = tmp_path / "liftover_table.tsv"
    df.to_csv(path, sep="\t", index=False)
    calls = gb.detect_builds(path)
    assert [(c.columns, c.build) for c in calls] == [("CHR/BP(hg19)", B37), ("CHR/pos_b38", B38)]
    assert [c.stated_build for c in calls] == [B37, B38]
    assert by_id(gb.check_build(path), gb.MISMATCH)[0].subjects == ["CHR/BP(hg19)", "CHR/pos_b38"]


def test_the_audit_compares_the_sets_of_one_file(tmp_path):
    report = audit(coords=[_pgs_harmonised(tmp_path, B38)], only={"build"})
    mismatch = [f for f in report.findings if f.check == gb.MISMATCH]
    assert len(mismatch) == 1 and not mismatch[0].evidence.get("not_checked")
    assert not report.ok


# --------------------------------------------------------------------------- stated builds


def test_gwas_ssf_sidecar_states_the_build(tmp_path):
    rows = random_variants(gbref._chrom_sizes()["length_GRCh38"], 50, seed=6)
    path = write_layout("gwas_ssf", rows, tmp_path, stated=B38)
    call = gb.detect_build(path)
    header = call.evidence["header"]
    assert header["stated"] == B38 and header["sources"] == {"keywords": B38}
    assert header["keyword_lines"][B38] == [f"genome_assembly: GRCh38 ({path.name}-meta.yaml)"]
    assert call.build == B38


@pytest.mark.parametrize("layout", ["23andme", "ancestrydna", "myheritage", "pgs_catalog", "vcf"])
def test_a_stated_build_alone_decides(tmp_path, layout):
    rows = random_variants(gbref._chrom_sizes()["length_GRCh37"], 5, seed=7)
    call = gb.detect_build(write_layout(layout, rows, tmp_path, stated=B37))
    assert call.build == B37 and call.evidence["header"]["vote"] == B37, call.reason


@needs_chains
def test_a_stated_build_the_coordinates_contradict_is_stale(tmp_path):
    lifted = lift(grch37_file_rows(), B37, B38)
    path = write_layout("pgs_catalog", lifted, tmp_path, stated=B37)  # the header kept GRCh37
    found = gb.check_build(path)
    (detected,) = by_id(found, gb.DETECTED)
    (stale,) = by_id(found, gb.STALE_HEADER)
    assert detected.evidence["build"] == B38 and detected.evidence["stale_header"] is True
    assert stale.evidence["stated_build"] == B37 and stale.evidence["build"] == B38


def test_gtex_variant_ids_state_their_build(tmp_path):
    m = panel_variants(4, seed=8, build=B38)
    ids = "chr" + m["chrom"] + "_" + m["pos"].astype(str) + "_A_G_b38"
    path = tmp_path / "Whole_Blood.v8.signif_variant_gene_pairs.txt"
    pd.DataFrame({"variant_id": ids, "gene_id": "ENSG00000000001.1", "pval_nominal": 1e-9}).to_csv(
        path, sep="\t", index=False
    )
    call = gb.detect_build(path)
    assert call.build == B38 and call.columns == "variant_id"
    assert call.evidence["header"]["stated"] == B38


# --------------------------------------------------------------------------- messy rows


def _messy_sumstats(tmp_path):
    path = write_layout("gwas_ssf", grch37_file_rows(), tmp_path)
    lines = path.read_text().splitlines()
    cut = lines[5].index("\t", 25)
    lines[5:6] = [lines[5][:cut], lines[5][cut + 1 :]]  # a line split in two: lines 6 and 7
    for i, value in ((40, "NA"), (99, "rs12345")):  # lines 41 and 100
        fields = lines[i].split("\t")
        fields[1] = value
        lines[i] = "\t".join(fields)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_malformed_rows_are_reported_and_the_build_decided_on_the_rest(tmp_path):
    path = _messy_sumstats(tmp_path)
    found = gb.check_build(path)
    (f,) = by_id(found, gb.MALFORMED_ROWS)
    assert f.severity == "warning"
    ev = f.evidence
    assert (ev["n_malformed"], ev["n_rows_read"], ev["n_usable"]) == (4, 201, 197)
    assert ev["first_lines"] == [6, 7, 41, 100]
    assert ev["reasons"] == {
        "not 10 fields": 2,
        "base_pair_location missing": 1,
        "base_pair_location not a whole number": 1,
    }
    assert "lines 6, 7, 41, 100" in f.message and "awk -F'\\t' 'NF == 10'" in f.hint
    (detected,) = by_id(found, gb.DETECTED)
    assert detected.evidence["build"] == B37 and detected.evidence["n_rows"] == 197


def test_clean_file_has_no_malformed_rows(tmp_path):
    path = write_layout("gwas_ssf", grch37_file_rows(), tmp_path)
    assert by_id(gb.check_build(path), gb.MALFORMED_ROWS) == []


def test_no_usable_row_is_bad_input(tmp_path, cli):
    path = tmp_path / "broken.tsv"
    path.write_text("chromosome\tbase_pair_location\tp_value\n1\tNA\t0.5\n2\tabc\t0.1\n")
    with pytest.raises(InputError, match="no usable rows: all 2 data rows are malformed"):
        read_coordinates(path)
    done = cli("detect-build", path)
    assert done.returncode == 2 and "no usable rows" in done.stderr
    assert "Traceback" not in done.stderr


# --------------------------------------------------------------------------- other assemblies


@pytest.mark.parametrize("assembly", gbref.OTHER_ASSEMBLIES)
def test_other_assemblies_are_undetermined_with_their_best_fit(assembly):
    lengths = gbref._other_sizes()[assembly]
    rows = random_variants(lengths, 10_000, seed=9)
    call = gb.detect_build(rows[["chrom", "pos"]])
    assert call.build == "undetermined" and call.best_fit == assembly
    assert call.reason.startswith("the data fit neither build") and call.posterior["other"] > 0.999
    (f,) = gb.check_build(rows[["chrom", "pos"]], expected_build=B38)
    assert (f.check, f.severity) == (gb.UNDETERMINED, "error")
    assert gbref._display(assembly) in f.hint


def test_rsid_only_files_are_read_and_not_placed(tmp_path):
    path = tmp_path / "ldsc.sumstats"
    path.write_text("SNP\tA1\tA2\tZ\tN\nrs3094315\tA\tG\t1.2\t5000\nrs2272757\tG\tA\t-0.3\t5000\n")
    ci = read_coordinates(path)
    assert (
        ci.header["rsid_only"]
        and ci.frame.empty
        and list(ci.header["ids"])
        == [
            "rs3094315",
            "rs2272757",
        ]
    )
    (f,) = gb.check_build(path, expected_build=B38)
    assert (f.check, f.severity) == (gb.DETECTED, "info") and f.evidence["not_checked"]
    assert "rsIDs only" in f.message


def test_gene_panel_gtf_lifted_by_the_panel_is_grch38(tmp_path):
    g = gbref._genes().reset_index().iloc[:80]
    lines = [
        f"chr{r.chrom}\tHAVANA\tgene\t{r.start_GRCh38}\t{r.end_GRCh38}\t.\t{r.strand_GRCh38}\t.\t"
        f'gene_id "G{i}"; gene_name "{r.gene_name}";'
        for i, r in enumerate(g.itertuples())
    ]
    path = tmp_path / "genes.gtf"
    path.write_text("\n".join(lines) + "\n")
    call = gb.detect_build(path)
    assert call.build == B38 and call.evidence["gene_coords"]["vote"] == B38
    assert call.evidence["tss"]["available"] is False  # the genes are placed by name
