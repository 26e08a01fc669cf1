from biodata_guard._format import fraction, jsonable, preview, subjects


def test_preview_counts_the_rest():
    assert preview(["a", "b", "c", "d"], n=2) == "a, b … and 2 more"
    assert preview(["a"], n=3) == "a"
    assert preview(["a", "b"], n=2, total=10) == "a, b … and 8 more"


def test_fraction_always_shows_the_denominator():
    assert fraction(14, 212) == "14 of 212 (6.6%)"
    assert fraction(0, 0) == "0 of 0 (0%)"


def test_subjects_truncates_and_jsonable_sorts_sets():
    assert subjects(range(100), limit=3) == [0, 1, 2]
    assert jsonable({"s": {"b", "a"}}) == {"s": ["a", "b"]}
    assert jsonable(float("inf")) is None
