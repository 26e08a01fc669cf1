"""Readers of coordinate-bearing files: every format, and bad input raising InputError."""

import gzip

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from biodata_guard import InputError
from biodata_guard.io.coords import coords_from_frame, coords_from_var, read_coordinates

VCF_HEADER = (
    "##fileformat=VCFv4.2\n"
    "##reference=file:///ref/GRCh38_full_analysis_set_plus_decoy_hla.fa\n"
    "##contig=<ID=chr1,length=248956422,assembly=GRCh38>\n"
    "##contig=<ID=chr2,length=242193529>\n"
    '##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth, total">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
)
VCF_BODY = (
    "chr1\t817186\trs3094315\tG\tA\t50\tPASS\tDP=10\tGT\t0/1\n"
    "chr1\t1000000\t.\tATT\tA\t50\tPASS\tDP=9\tGT\t1/1\n"
    "chr2\t500\trs1;rs2\tC\tT\t50\tPASS\tDP=3\tGT\t0/1\n"
)


def write(tmp_path, name, text, *, gz=False):
    p = tmp_path / name
    data = text.encode() if isinstance(text, str) else text
    p.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return p


def frame(ci):
    return ci.frame[["Chromosome", "Start", "End"]].values.tolist()


# --------------------------------------------------------------------------- VCF


@pytest.mark.parametrize("gz", [False, True])
def test_vcf_positions_ids_and_header(tmp_path, gz):
    p = write(tmp_path, "calls.vcf.gz" if gz else "calls.vcf", VCF_HEADER + VCF_BODY, gz=gz)
    ci = read_coordinates(p)
    assert ci.kind == "vcf" and ci.name == p.name and ci.path == str(p)
    # POS is 1-based; End covers REF (the deletion spans 3 bases).
    assert frame(ci) == [["chr1", 817185, 817186], ["chr1", 999999, 1000002], ["chr2", 499, 500]]
    assert ci.frame["rsid"].tolist()[0] == "rs3094315"
    assert pd.isna(ci.frame["rsid"].iloc[1])  # "." is missing
    assert ci.frame["rsid"].iloc[2] == "rs1"  # the first of several ids
    h = ci.header
    assert h["contigs"] == {"chr1": 248956422, "chr2": 242193529}
    assert h["samples"] == 1
    assert any("GRCh38_full_analysis_set" in line for line in h["lines"])
    assert "##contig assembly=GRCh38" in h["lines"]
    assert not any(line.startswith("##INFO") for line in h["lines"])


def test_vcf_with_only_a_header_keeps_the_header(tmp_path):
    ci = read_coordinates(write(tmp_path, "empty.vcf", VCF_HEADER))
    assert ci.frame.empty and list(ci.frame.columns[:3]) == ["Chromosome", "Start", "End"]
    assert ci.header["contigs"]["chr1"] == 248956422


_COLUMNS = VCF_HEADER.splitlines()[-1]


@pytest.mark.parametrize(
    ("header", "needle"),
    [
        (_COLUMNS, "the first line must be '##fileformat=VCFv4.x'"),
        ("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF", "must start CHROM POS ID REF ALT"),
        ("##fileformat=VCFv4.2\n##contig=<ID=1,length=abc>\n" + _COLUMNS, "not an integer"),
        ("##fileformat=VCFv4.2\n##contig=<length=5>\n" + _COLUMNS, "without ID"),
        ("##fileformat=VCFv4.2\n##source=x", "no '#CHROM"),
        ("##fileformat=VCFv4.2\n#stray comment\n" + _COLUMNS, "line 2 is neither"),
    ],
)
def test_broken_vcf_header_names_the_file(tmp_path, header, needle):
    if not header.endswith("\n"):
        header += "\n"
    p = write(tmp_path, "broken.vcf", header + "1\t100\t.\tA\tG\t.\t.\t.\n")
    with pytest.raises(InputError) as err:
        read_coordinates(p)
    assert err.value.path == "broken.vcf" and err.value.check == "input.invalid"
    assert "broken VCF header" in err.value.message and needle in err.value.message
    assert "bcftools" in err.value.hint


def test_vcf_position_that_is_not_a_number_is_set_aside_and_located(tmp_path):
    # Changed by issue 22: a malformed row is reported and left out, not a reason to stop.
    body = "1\t100\t.\tA\tG\t.\t.\t.\n1\tabc\t.\tA\tG\t.\t.\t.\n"
    head = "##fileformat=VCFv4.2\n" + VCF_HEADER.splitlines()[-1].rsplit("\t", 2)[0] + "\n"
    ci = read_coordinates(write(tmp_path, "x.vcf", head + body))
    assert frame(ci) == [["1", 99, 100]]
    mal = ci.header["malformed"]
    assert (mal["n"], mal["lines"], mal["reasons"]) == (1, [4], {"POS not a whole number": 1})
    assert mal["examples"] == ["line 4: POS='abc'"]


def test_vcf_without_a_usable_record_is_invalid(tmp_path):
    body = "1\tabc\t.\tA\tG\t.\t.\t.\n1\tNA\t.\tA\tG\t.\t.\t.\n"
    head = "##fileformat=VCFv4.2\n" + VCF_HEADER.splitlines()[-1].rsplit("\t", 2)[0] + "\n"
    with pytest.raises(InputError, match=r"x\.vcf: no usable rows: all 2 data rows") as err:
        read_coordinates(write(tmp_path, "x.vcf", head + body))
    assert "line 3: POS='abc'" in err.value.message and err.value.column == "POS"


# --------------------------------------------------------------------------- BED


def test_bed3_and_bed6_with_track_browser_and_column_lines(tmp_path):
    ci = read_coordinates(write(tmp_path, "a.bed", "chr1\t100\t200\nchr2\t5\t10\n"))
    assert ci.kind == "bed" and frame(ci) == [["chr1", 100, 200], ["chr2", 5, 10]]
    text = (
        'track name=peaks db=hg19 description="x"\nbrowser position chr1:1-1000\n'
        "#chrom\tstart\tend\tname\tscore\tstrand\n"
        "chr1\t100\t200\tp1\t0\t+\nchr1\t300\t400\tp2\t0\t-\n"
    )
    ci = read_coordinates(write(tmp_path, "b.bed", text))
    assert frame(ci) == [["chr1", 100, 200], ["chr1", 300, 400]]
    assert ci.frame["Strand"].tolist() == ["+", "-"] and ci.frame["Name"].tolist() == ["p1", "p2"]
    assert ci.header["lines"][0].startswith("track name=peaks db=hg19")


def test_bed_column_line_without_hash(tmp_path):
    text = "chrom\tstart\tend\nchr1\t1\t5\n"
    assert frame(read_coordinates(write(tmp_path, "h.bed", text))) == [["chr1", 1, 5]]


def test_narrowpeak_and_bed12(tmp_path):
    peak = "chr1\t9980\t10480\tpeak1\t1000\t.\t5.1\t10.2\t8.3\t250\n"
    ci = read_coordinates(write(tmp_path, "x.narrowPeak.gz", peak, gz=True))
    assert ci.kind == "bed" and frame(ci) == [["chr1", 9980, 10480]]
    bed12 = "chr1\t11868\t14409\tDDX11L1\t0\t+\t11868\t11868\t0\t3\t359,109,1189,\t0,744,1352,\n"
    ci = read_coordinates(write(tmp_path, "genes.bed", bed12))
    assert frame(ci) == [["chr1", 11868, 14409]] and ci.frame["Strand"].tolist() == ["+"]


def test_bed_of_snps_named_by_rsid_gets_an_rsid_column(tmp_path):
    text = "chr1\t752565\t752566\trs3094315\nchr1\t881626\t881627\trs2272757\n"
    ci = read_coordinates(write(tmp_path, "snps.bed", text))
    assert ci.frame["rsid"].tolist() == ["rs3094315", "rs2272757"]


def test_bed_with_end_before_start_is_read_and_left_to_the_checks(tmp_path):
    from biodata_guard.build import check_out_of_bounds

    ci = read_coordinates(write(tmp_path, "rev.bed", "chr1\t100\t50\nchr1\t10\t20\n"))
    assert frame(ci) == [["chr1", 100, 50], ["chr1", 10, 20]]
    (f,) = check_out_of_bounds(ci)
    assert f.check == "build.out_of_bounds" and f.evidence["problem"] == "end_before_start"


def test_bed_with_two_columns_is_invalid(tmp_path):
    with pytest.raises(InputError, match="BED needs at least 3 columns") as err:
        read_coordinates(write(tmp_path, "two.bed", "chr1\t100\n"))
    assert err.value.path == "two.bed"


# --------------------------------------------------------------------------- GTF / GFF


GTF = (
    "#!genome-build GRCh38.p13\n"
    'chr1\tHAVANA\tgene\t11869\t14409\t.\t+\t.\tgene_id "ENSG00000223972.5"; gene_name "DDX11L1";\n'
    'chr1\tHAVANA\ttranscript\t11869\t14409\t.\t+\t.\tgene_id "ENSG00000223972.5"; '
    'gene_name "DDX11L1";\n'
    'chr1\tHAVANA\texon\t11869\t12227\t.\t+\t.\tgene_id "ENSG00000223972.5"; gene_name "DDX11L1";\n'
    'chr1\tHAVANA\tgene\t14404\t29570\t.\t-\t.\tgene_id "ENSG00000227232.5"; gene_name "WASH7P";\n'
)


def test_gtf_gene_names_at_gene_level_and_zero_based_starts(tmp_path):
    ci = read_coordinates(write(tmp_path, "genes.gtf.gz", GTF, gz=True))
    assert ci.kind == "gtf"
    assert frame(ci)[0] == ["chr1", 11868, 14409] and frame(ci)[3] == ["chr1", 14403, 29570]
    assert ci.frame["Feature"].tolist() == ["gene", "transcript", "exon", "gene"]
    names = ci.frame["gene_name"]
    assert names.iloc[0] == "DDX11L1" and names.iloc[3] == "WASH7P"
    assert names.iloc[1:3].isna().all()  # only gene-level rows carry the name
    assert ci.header["lines"] == ["#!genome-build GRCh38.p13"]


def test_gff3_names_and_sequence_regions(tmp_path):
    text = (
        "##gff-version 3\n##sequence-region 1 1 249250621\n"
        "1\tensembl\tgene\t11869\t14412\t.\t+\t.\tID=gene:1;Name=DDX11L1\n"
        "1\tensembl\tmRNA\t11869\t14409\t.\t+\t.\tID=t:1;Parent=gene:1\n"
    )
    ci = read_coordinates(write(tmp_path, "ann.gff3", text))
    assert ci.kind == "gff" and ci.header["contigs"] == {"1": 249250621}
    assert ci.frame["gene_name"].iloc[0] == "DDX11L1"


def test_gtf_with_too_few_columns_is_invalid(tmp_path):
    with pytest.raises(InputError, match="9 tab-separated columns"):
        read_coordinates(write(tmp_path, "x.gtf", "chr1 HAVANA gene 1 10\n"))


# --------------------------------------------------------------------------- genotype text


def test_23andme_file(tmp_path):
    text = (
        "# This data file generated by 23andMe at: Mon Jan 01 00:00:00 2024\n"
        "# We are using reference human assembly build 37 (also known as Annotation Release 104).\n"
        "# rsid\tchromosome\tposition\tgenotype\n"
        "rs3094315\t1\t752566\tAG\ni3000001\t1\t800000\tCC\nrs1\tMT\t73\tA\n"
    )
    ci = read_coordinates(write(tmp_path, "genome_Jane_Doe_v5_Full.txt", text))
    assert ci.kind == "genotype"
    assert frame(ci) == [["1", 752565, 752566], ["1", 799999, 800000], ["MT", 72, 73]]
    assert ci.frame["rsid"].tolist() == ["rs3094315", "i3000001", "rs1"]
    assert ci.header["columns"] == {"chrom": "chromosome", "pos": "position", "rsid": "rsid"}
    assert any("build 37" in line for line in ci.header["lines"])


def test_ancestrydna_file_drops_unplaced_probes(tmp_path):
    text = (
        "#AncestryDNA raw data download\n#human reference build 37.1\n"
        "rsid\tchromosome\tposition\tallele1\tallele2\n"
        "rs3094315\t1\t752566\tA\tG\nrs999\t0\t0\t0\t0\nrs2\t23\t5000000\tA\tA\n"
    )
    ci = read_coordinates(write(tmp_path, "AncestryDNA.txt", text))
    assert ci.kind == "genotype" and ci.header["n_unplaced"] == 1
    assert frame(ci) == [["1", 752565, 752566], ["23", 4999999, 5000000]]


# --------------------------------------------------------------------------- tables


def test_csv_columns_found_case_insensitively(tmp_path):
    text = "SNP,CHR,BP,A1,A2,P\nrs3094315,1,752566,A,G,0.5\nrs2272757,1,881627,G,A,0.1\n"
    ci = read_coordinates(write(tmp_path, "sumstats.csv", text))
    assert ci.kind == "table" and frame(ci) == [["1", 752565, 752566], ["1", 881626, 881627]]
    assert ci.header["columns"] == {"chrom": "CHR", "pos": "BP", "rsid": "SNP"}
    assert ci.header["columns_inferred"] is False


def test_tsv_with_start_end_columns_is_taken_as_zero_based(tmp_path):
    text = "Chromosome\tStart\tEnd\tgene_symbol\nchr1\t11868\t14409\tDDX11L1\n"
    ci = read_coordinates(write(tmp_path, "genes.tsv.gz", text, gz=True))
    assert frame(ci) == [["chr1", 11868, 14409]] and ci.frame["gene_name"].tolist() == ["DDX11L1"]


def test_headerless_table_roles_inferred_from_content(tmp_path):
    rng = np.random.default_rng(0)
    rows = [
        f"rs{rng.integers(1e6)}\t{c}\t{rng.integers(1e5, 1e8)}" for c in rng.integers(1, 23, 50)
    ]
    ci = read_coordinates(write(tmp_path, "variants.txt", "\n".join(rows) + "\n"))
    assert ci.header["columns_inferred"] is True
    assert ci.header["columns"] == {"rsid": "column 1", "chrom": "column 2", "pos": "column 3"}
    assert len(ci.frame) == 50 and ci.frame["rsid"].str.startswith("rs").all()


def test_plink_bim(tmp_path):
    ci = read_coordinates(write(tmp_path, "x.bim", "1\trs3094315\t0\t752566\tA\tG\n"))
    assert frame(ci) == [["1", 752565, 752566]] and ci.frame["rsid"].tolist() == ["rs3094315"]


def test_parquet_table(tmp_path):
    p = tmp_path / "v.parquet"
    pd.DataFrame(
        {"chromosome": ["1", "X"], "position": [752566, 3000], "other": [1, 2]}
    ).to_parquet(p)
    ci = read_coordinates(p)
    assert ci.path == str(p) and frame(ci) == [["1", 752565, 752566], ["X", 2999, 3000]]


def test_table_without_coordinate_columns_is_invalid(tmp_path):
    with pytest.raises(InputError, match="no coordinate columns found") as err:
        read_coordinates(write(tmp_path, "t.csv", "gene,score\nA,1\n"))
    assert "gene, score" in err.value.message and "GWAS-SSF, PGS Catalog" in err.value.message
    assert "coordinate_columns.tsv" in err.value.hint and "CHR/BP" in err.value.hint


def test_missing_position_is_set_aside_with_its_line(tmp_path):
    # Changed by issue 22: reported in header["malformed"]; only a file of bad rows fails.
    ci = read_coordinates(write(tmp_path, "t.tsv", "chrom\tpos\n1\t5\n2\t\n"))
    assert frame(ci) == [["1", 4, 5]]
    assert ci.header["malformed"]["lines"] == [3]
    assert ci.header["malformed"]["reasons"] == {"pos missing": 1}
    with pytest.raises(InputError, match=r"t2\.tsv: no usable rows: all 1 data rows") as err:
        read_coordinates(write(tmp_path, "t2.tsv", "chrom\tpos\n2\tNA\n"))
    assert "line 2: pos missing" in err.value.message


# --------------------------------------------------------------------------- unreadable files


def test_missing_empty_directory_and_bcf(tmp_path):
    cases = [
        (tmp_path / "nope.vcf", "does not exist"),
        (write(tmp_path, "empty.bed", ""), r"empty \(0 bytes\)"),
        (tmp_path, "is a directory"),
        (write(tmp_path, "x.bcf", b"BCF\x02\x02"), "BCF is a binary format"),
        (write(tmp_path, "blank.bed", "\n\n"), "only blank lines"),
        (write(tmp_path, "c.bed", "# only a comment\n"), "has no data rows"),
    ]
    for path, needle in cases:
        with pytest.raises(InputError, match=needle) as err:
            read_coordinates(path)
        assert err.value.path == path.name


def test_truncated_gzip_is_unreadable(tmp_path):
    lines = [f"chr1\t{i * 100}\t{i * 100 + 50}\tpeak{i}" for i in range(20_000)]
    blob = gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)
    for cut in (60, len(blob) // 2):  # inside the first lines, and past them
        p = write(tmp_path, f"cut{cut}.bed.gz", blob[:cut])
        with pytest.raises(InputError, match="gzip stream is truncated") as err:
            read_coordinates(p)
        assert err.value.path == p.name and err.value.check == "input.unreadable"
        assert "gzip -t" in err.value.hint


def test_non_utf8_text_is_unreadable_early_and_late(tmp_path):
    for n_before in (0, 500):  # in the sniffed lines, and past them (found by pandas)
        lines = b"".join(b"chr1\t%d\t%d\n" % (i, i + 1) for i in range(n_before))
        p = write(tmp_path, f"latin{n_before}.bed", lines + b"chr1\xe9\t10\t20\n")
        with pytest.raises(InputError, match=r"not UTF-8 text \(byte 0xe9") as err:
            read_coordinates(p)
        assert err.value.path == p.name and "iconv" in err.value.hint


def test_corrupt_parquet_is_unreadable(tmp_path):
    p = write(tmp_path, "bad.parquet", b"PAR1 not really")
    with pytest.raises(InputError, match="not a readable Parquet file") as err:
        read_coordinates(p)
    assert err.value.check == "input.unreadable"


def test_name_overrides_the_file_name_in_errors(tmp_path):
    with pytest.raises(InputError, match=r"^variants: ") as err:
        read_coordinates(write(tmp_path, "v.tsv", "a\tb\n1\t2\n"), name="variants")
    assert err.value.path == "variants"


# --------------------------------------------------------------------------- in memory


def test_coords_from_frame_pyranges_and_chrom_pos():
    ci = coords_from_frame(
        pd.DataFrame({"Chromosome": ["chr1"], "Start": [5], "End": [9], "Strand": ["+"]})
    )
    assert ci.kind == "table" and frame(ci) == [["chr1", 5, 9]] and ci.frame["Strand"][0] == "+"
    ci = coords_from_frame(pd.DataFrame({"CHR": ["1", "2"], "BP": [10, 20], "SNP": ["rs1", "."]}))
    assert frame(ci) == [["1", 9, 10], ["2", 19, 20]]
    assert ci.frame["rsid"].iloc[0] == "rs1" and pd.isna(ci.frame["rsid"].iloc[1])


def test_coords_from_frame_drops_rows_without_chromosome_and_locates_bad_positions():
    ci = coords_from_frame(pd.DataFrame({"chrom": ["1", None], "pos": [5, None]}))
    assert frame(ci) == [["1", 4, 5]] and ci.header["n_missing"] == 1
    ci = coords_from_frame(pd.DataFrame({"chrom": ["1", "2"], "pos": [5, "x"]}, index=[7, 8]))
    assert frame(ci) == [["1", 4, 5]]
    assert ci.header["malformed"]["where"] == "row" and ci.header["malformed"]["lines"] == [8]
    assert ci.header["malformed"]["examples"] == ["row 8: pos='x'"]
    with pytest.raises(InputError, match=r"no usable rows"):
        coords_from_frame(pd.DataFrame({"chrom": ["1", "2"], "pos": ["y", "x"]}))
    with pytest.raises(InputError, match="must be a pandas DataFrame; got list"):
        coords_from_frame([1, 2])
    with pytest.raises(InputError, match="no coordinate columns"):
        coords_from_frame(pd.DataFrame({"a": [1]}))


def test_coords_from_var_columns_intervals_and_none():
    var = pd.DataFrame(
        {"chrom": ["chr1", None], "start": [11868, None], "end": [14409, None]},
        index=["DDX11L1", "NOVEL1"],
    )
    ci = coords_from_var(var, name="genes.h5ad")  # a DataFrame (whose .var is a method)
    assert ci.kind == "anndata_var" and frame(ci) == [["chr1", 11868, 14409]]
    assert ci.frame["gene_name"].tolist() == ["DDX11L1"] and ci.header["n_missing"] == 1
    peaks = ad.AnnData(
        np.zeros((2, 3), dtype=np.float32),
        var=pd.DataFrame(index=["chr1:9980-10480", "chr1-20000-20500", "chr2_5_10"]),
    )
    ci = coords_from_var(peaks)
    assert frame(ci) == [["chr1", 9980, 10480], ["chr1", 20000, 20500], ["chr2", 5, 10]]
    assert ci.header["columns"] == {"interval": "var_names"}
    genes = ad.AnnData(np.zeros((2, 2), dtype=np.float32), var=pd.DataFrame(index=["A", "B"]))
    assert coords_from_var(genes) is None
    assert coords_from_var(object()) is None


def test_a_gz_name_on_plain_text_is_refused_as_every_reader_refuses_it(tmp_path):
    p = write(tmp_path, "peaks.bed.gz", "chr1\t99\t200\tpeak1\n")
    with pytest.raises(InputError, match="cannot be decompressed") as err:
        read_coordinates(p)
    assert err.value.path == p.name and err.value.check == "input.unreadable"
    bgz = write(tmp_path, "peaks.bed", "chr1\t99\t200\tpeak1\n", gz=True)  # gzip, unnamed
    assert frame(read_coordinates(bgz)) == [["chr1", 99, 200]]


# --------------------------------------------------------------------------- issue 22: layouts


@pytest.mark.parametrize(
    ("header", "columns"),
    [
        (
            "chromosome\tbase_pair_location\tp_value",
            {"chrom": "chromosome", "pos": "base_pair_location"},
        ),
        (
            "rsID\tchr_name\tchr_position\teffect_weight",
            {"chrom": "chr_name", "pos": "chr_position", "rsid": "rsID"},
        ),
        ("CHROM\tGENPOS\tID\tLOG10P", {"chrom": "CHROM", "pos": "GENPOS", "rsid": "ID"}),
        ("Chr\tPos\tMarkerName\tP", {"chrom": "Chr", "pos": "Pos", "rsid": "MarkerName"}),
        ("chr\tps\trs\tp_wald", {"chrom": "chr", "pos": "ps", "rsid": "rs"}),
        ("CHR\tpos_b37\tSNP\tP", {"chrom": "CHR", "pos": "pos_b37", "rsid": "SNP"}),
        ("hg19chrc\thg19_pos(1-based)\tref", {"chrom": "hg19chrc", "pos": "hg19_pos(1-based)"}),
    ],
)
def test_column_synonyms_of_public_formats(tmp_path, header, columns):
    value = {"chrom": "1", "pos": "752566", "rsid": "rs3094315"}
    role = {name: r for r, name in columns.items()}
    row = "\t".join(value.get(role.get(c, ""), "0.5") for c in header.split("\t"))
    ci = read_coordinates(write(tmp_path, "t.tsv", f"{header}\n{row}\n"))
    assert ci.header["columns"] == columns and frame(ci) == [["1", 752565, 752566]]


def test_the_synonym_table_names_its_sources():
    from biodata_guard.io._coords_columns import synonyms

    table = synonyms()
    assert {
        "chromosome",
        "base_pair_location",
        "chr_name",
        "chr_position",
        "hm_chr",
        "hm_pos",
    } <= set(table)
    assert all(s.source for s in table.values()) and table["hm_pos"].set == "harmonised"
    assert table["start_position"].base == "1" and table["chromstart"].base == "0"


def test_biomart_one_based_starts(tmp_path):
    # BioMart's two header styles (display names and attribute names); starts are 1-based.
    for i, text in enumerate(
        (
            "Gene name,Chromosome/scaffold name,Gene start (bp),Gene end (bp)\n",
            "external_gene_name,chromosome_name,start_position,end_position\n",
        )
    ):
        ci = read_coordinates(write(tmp_path, f"mart{i}.csv", text + "DDX11L1,1,11869,14409\n"))
        assert frame(ci) == [["1", 11868, 14409]] and ci.frame["gene_name"].tolist() == ["DDX11L1"]


def test_two_coordinate_sets_are_read_once_and_kept_apart(tmp_path):
    text = (
        "#genome_build=GRCh37\n#HmPOS_build=GRCh38\n"
        "rsID\tchr_name\tchr_position\teffect_allele\thm_chr\thm_pos\n"
        "rs3094315\t1\t752566\tA\t1\t817186\nrs1\t2\t100\tG\t\t\n"
    )
    ci = read_coordinates(write(tmp_path, "PGS000001_hmPOS_GRCh38.txt", text))
    (hm,) = ci.header["coordinate_sets"]
    assert ci.name == "PGS000001_hmPOS_GRCh38.txt [chr_name/chr_position]"
    assert frame(ci) == [["1", 752565, 752566], ["2", 99, 100]]
    assert frame(hm) == [["1", 817185, 817186]] and hm.header["n_missing"] == 1  # unharmonised
    assert ci.header["lines"] == ["#genome_build=GRCh37"]
    assert hm.header["lines"] == ["#HmPOS_build=GRCh38"]
    assert (ci.header["set_key"], hm.header["set_key"]) == ("", "harmonised")


def test_variant_id_columns_and_headerless_id_files(tmp_path):
    text = "variant\tbeta\n1:752566:G:A\t0.1\nchrX_5000_C_T\t0.2\nrs42\t0.3\n"
    ci = read_coordinates(write(tmp_path, "neale.tsv", text))
    assert frame(ci) == [["1", 752565, 752566], ["X", 4999, 5000]] and ci.header["n_unplaced"] == 1
    ci = read_coordinates(write(tmp_path, "ids.txt", "1-752566-G-A\n2:100\n"))
    assert frame(ci) == [["1", 752565, 752566], ["2", 99, 100]]
    assert ci.header["columns_inferred"] is True


def test_a_line_split_in_two_is_found_by_its_field_count(tmp_path):
    text = "CHR\tBP\tSNP\tP\n1\t100\trs1\t0.5\n1\t200\n\trs2\t0.1\n2\t300\trs3\t0.2\n"
    ci = read_coordinates(write(tmp_path, "s.tsv", text))
    assert frame(ci) == [["1", 99, 100], ["2", 299, 300]]
    mal = ci.header["malformed"]
    assert mal["lines"] == [3, 4] and mal["reasons"] == {"not 4 fields": 2}
    assert mal["examples"][0] == "line 3: 2 fields, not 4"


def test_bedpe_reads_both_ends(tmp_path):
    text = "chr1\t100\t200\tchr5\t1000\t1100\tloop1\t9\n"
    ci = read_coordinates(write(tmp_path, "loops.bedpe", text))
    assert frame(ci) == [["chr1", 100, 200], ["chr5", 1000, 1100]]


def test_pvar_header_and_contigs(tmp_path):
    text = (
        "##contig=<ID=1,length=249250621>\n#CHROM\tPOS\tID\tREF\tALT\n1\t752566\trs3094315\tG\tA\n"
    )
    ci = read_coordinates(write(tmp_path, "x.pvar", text))
    assert ci.header["contigs"] == {"1": 249250621} and frame(ci) == [["1", 752565, 752566]]
    ci = read_coordinates(write(tmp_path, "y.pvar", "1\trs3094315\t0\t752566\tA\tG\n"))
    assert frame(ci) == [["1", 752565, 752566]] and ci.frame["rsid"].tolist() == ["rs3094315"]


def test_quoted_csv_genotype_files(tmp_path):
    text = (
        "##fileformat=MyHeritage\n##reference=build37\nRSID,CHROMOSOME,POSITION,RESULT\n"
        '"rs3094315","1","752566","AG"\n'
    )
    ci = read_coordinates(write(tmp_path, "MyHeritage.csv", text))
    assert ci.kind == "genotype" and frame(ci) == [["1", 752565, 752566]]
    assert (
        ci.frame["rsid"].tolist() == ["rs3094315"] and "##reference=build37" in ci.header["lines"]
    )
