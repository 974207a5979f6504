"""The dataset loaders on damaged input: every kind of damage raises ValidationError naming the
file, the line or row and the column; good values come through unchanged.

Most tests build small files of their own; the last ones read the real files in
../shared/data (or $BEAUTY_DATA_MIRROR) and are skipped when those are absent.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from utils.data import sources
from utils.data.schema import ValidationError

# ---------------------------------------------------------------------------------------------
# Amazon Beauty sequences (S3-Rec Beauty.txt format) and item attributes


def test_beauty_non_utf8_byte_names_file_line_and_byte(tmp_path):
    path = tmp_path / "seq.txt"
    path.write_bytes(b"1 2 3\n2 4 \xff5\n")
    with pytest.raises(ValidationError, match=r"seq.txt, line 2, byte 5: b'\\xff' is not UTF-8"):
        sources.load_amazon_beauty(path)


@pytest.mark.parametrize("text, message", [
    ("7 3\n8 x1\n", r"line 2: 'x1' is not a non-negative integer id"),
    ("7 3\n8 -4\n", r"line 2: '-4' is not a non-negative integer id"),
    ("7 3\n8\n", r"line 2: no item ids"),
    ("7 3\n7 4\n", r"line 2: user 7 already has line 1"),
])
def test_beauty_bad_lines_raise_validation_error(tmp_path, text, message):
    path = tmp_path / "seq.txt"
    path.write_text(text)
    with pytest.raises(ValidationError, match=r"seq.txt, " + message):
        sources.load_amazon_beauty(path)


def test_beauty_gzipped_and_cut_short(tmp_path):
    text = "".join(f"{user} {user + 1} {user + 2}\n" for user in range(1, 3001))
    path = tmp_path / "seq.txt.gz"
    path.write_bytes(gzip.compress(text.encode()))
    data = sources.load_amazon_beauty(path)
    assert data.n_users == 3000 and data.sequences()[7] == [8, 9]
    path.write_bytes(gzip.compress(text.encode())[:-100])
    with pytest.raises(ValidationError, match=r"seq.txt.gz, line \d+: the compressed data is cut "
                                              r"short or damaged .* after \d+ complete line"):
        sources.load_amazon_beauty(path)


def _attributes(tmp_path: Path, text: str | bytes) -> Path:
    seq = tmp_path / "seq.txt"
    seq.write_text("1 5 6\n")
    path = tmp_path / "attributes.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_attributes_are_read_unchanged(tmp_path):
    path = _attributes(tmp_path, '{"5": [1, 2, 30], "6": [], "12": [0]}')
    data = sources.load_amazon_beauty(tmp_path / "seq.txt", path)
    assert data.item_attributes == {5: [1, 2, 30], 6: [], 12: [0]}


@pytest.mark.parametrize("value", ['"12"', '["1", "2"]', "[true]", "[1.0]", "[-1]", "null", "7",
                                   '{"1": 2}'])
def test_attributes_value_must_be_a_list_of_integer_ids(tmp_path, value):
    path = _attributes(tmp_path, '{"5": [1], "6": ' + value + "}")
    shown = re.escape(repr(json.loads(value)))
    with pytest.raises(ValidationError, match=rf"attributes.json: item 6: {shown} is not a list of "
                                              r"attribute ids.*not strings or true/false"):
        sources.load_amazon_beauty(tmp_path / "seq.txt", path)


@pytest.mark.parametrize("key", ["x", "007", "-1", " 6", "+6", "1.5"])
def test_attributes_key_must_be_a_plain_item_id(tmp_path, key):
    path = _attributes(tmp_path, json.dumps({"5": [1], key: [2]}))
    with pytest.raises(ValidationError, match=rf"item id {re.escape(repr(key))} is not a "
                                              r"non-negative integer"):
        sources.load_amazon_beauty(tmp_path / "seq.txt", path)


def test_attributes_damaged_files(tmp_path):
    seq = tmp_path / "seq.txt"
    path = _attributes(tmp_path, '{"5": [1],\n "5": [2]}')
    with pytest.raises(ValidationError, match=r"attributes.json: item '5' appears more than once"):
        sources.load_amazon_beauty(seq, path)
    path = _attributes(tmp_path, '{"5": [1],\n "6": [2,}')
    with pytest.raises(ValidationError, match=r"attributes.json, line 2: not valid JSON \(.* at "
                                              r"character 10\)"):
        sources.load_amazon_beauty(seq, path)
    path = _attributes(tmp_path, "[[5, [1]]]")
    with pytest.raises(ValidationError, match=r"attributes.json: the file holds a JSON list"):
        sources.load_amazon_beauty(seq, path)
    path = _attributes(tmp_path, b'{"5": [1],\n "6": [2], "\xe9": [3]}')
    with pytest.raises(ValidationError, match=r"attributes.json, line 2, byte 13: b'\\xe9' is not "
                                              "UTF-8"):
        sources.load_amazon_beauty(seq, path)


# ---------------------------------------------------------------------------------------------
# Amazon reviews (JSON lines, gzipped or not)

GOOD = {"overall": 4.0, "asin": "B01", "reviewerID": "R1", "unixReviewTime": 1_400_000_000,
        "verified": True, "summary": "Nice", "reviewText": "Smells good"}


def _reviews(tmp_path: Path, *reviews: dict, name: str = "reviews.json") -> Path:
    path = tmp_path / name
    text = "".join(json.dumps(r) + "\n" for r in reviews)
    path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    return path


def test_reviews_are_read_unchanged(tmp_path):
    second = {"overall": 1, "asin": "B02", "reviewerID": "R2", "unixReviewTime": 946_684_800,
              "verified": None, "summary": None, "vote": "3"}
    path = _reviews(tmp_path, GOOD, second, name="reviews.json.gz")
    frame = sources.load_amazon_reviews(path)
    assert frame["overall"].tolist() == [4.0, 1.0]
    assert frame["verified"].tolist() == [True, pd.NA]
    assert frame["summary"].iloc[0] == "Nice" and frame["summary"].isna().iloc[1]
    assert frame["reviewText"].iloc[0] == "Smells good" and frame["reviewText"].isna().iloc[1]
    assert frame["review_time"].tolist() == [pd.Timestamp("2014-05-13 16:53:20", tz="UTC"),
                                             pd.Timestamp("2000-01-01", tz="UTC")]


@pytest.mark.parametrize("key, value, rule", [
    ("unixReviewTime", 0, "whole seconds since 1970 from 2000-01-01 to"),
    ("unixReviewTime", -1, "whole seconds since 1970"),
    ("unixReviewTime", 4_102_444_800, "whole seconds since 1970"),  # 2100
    ("unixReviewTime", 10**20, "whole seconds since 1970"),
    ("unixReviewTime", 1.4e9, "whole seconds since 1970"),
    ("unixReviewTime", "1400000000", "whole seconds since 1970"),
    ("verified", "false", "true, false or null"),
    ("verified", 0, "true, false or null"),
    ("overall", 7, "a number from 1 to 5"),
    ("overall", 0.5, "a number from 1 to 5"),
    ("overall", True, "a number from 1 to 5"),
    ("overall", math.nan, "a number from 1 to 5"),
    ("overall", "5", "a number from 1 to 5"),
    ("overall", None, "a number from 1 to 5"),
    ("reviewerID", None, "a non-empty string"),
    ("reviewerID", "", "a non-empty string"),
    ("reviewerID", 17, "a non-empty string"),
    ("asin", None, "a non-empty string"),
    ("asin", "  ", "a non-empty string"),
    ("summary", 5, "a string or null"),
    ("reviewText", ["a"], "a string or null"),
])
def test_reviews_bad_value_names_file_line_and_column(tmp_path, key, value, rule):
    path = _reviews(tmp_path, GOOD, {**GOOD, key: value})
    with pytest.raises(ValidationError, match=rf"reviews.json, line 2, column {key}: "
                                              rf"{re.escape(repr(value))} is not {rule}"):
        sources.load_amazon_reviews(path)


def test_reviews_damaged_files(tmp_path):
    path = _reviews(tmp_path, GOOD, {k: v for k, v in GOOD.items() if k != "asin"})
    with pytest.raises(ValidationError, match=r"reviews.json, line 2: missing \['asin'\]"):
        sources.load_amazon_reviews(path)
    path.write_text(json.dumps(GOOD) + "\n[1, 2]\n")
    with pytest.raises(ValidationError, match=r"reviews.json, line 2: a JSON list; expected one "
                                              "review object per line"):
        sources.load_amazon_reviews(path)
    path.write_bytes(json.dumps(GOOD).encode() + b'\n{"summary": "caf\xe9"}\n')
    with pytest.raises(ValidationError, match=r"reviews.json, line 2, byte 17: b'\\xe9' is not "
                                              "UTF-8"):
        sources.load_amazon_reviews(path)
    not_gzip = tmp_path / "reviews.json.gz"
    not_gzip.write_text(json.dumps(GOOD) + "\n")
    with pytest.raises(ValidationError, match=r"reviews.json.gz, line 1: the compressed data is cut "
                                              r"short or damaged \(Not a gzipped file"):
        sources.load_amazon_reviews(not_gzip)


def test_reviews_truncated_gzip_names_the_line_reached(tmp_path):
    path = _reviews(tmp_path, *[{**GOOD, "reviewText": f"review {i} " * 20} for i in range(2000)],
                    name="reviews.json.gz")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValidationError) as err:
        sources.load_amazon_reviews(path)
    reached = re.search(r"reviews.json.gz, line (\d+): the compressed data is cut short or damaged "
                        r".* after (\d+) complete line", str(err.value))
    assert reached and 0 < int(reached[2]) == int(reached[1]) - 1 < 2000
    assert isinstance(err.value.__cause__, EOFError)


# ---------------------------------------------------------------------------------------------
# Sephora catalogue (product_info.csv or an extract of it)


def _catalogue() -> pd.DataFrame:
    """Three products with every column of product_info.csv, as the text a CSV holds."""
    rows = {
        "product_id": ["P1", "P2", "P3"], "product_name": ["Cream", "Lip, Matte", "Oil"],
        "brand_id": ["10", "11", "10"], "brand_name": ["Acme", "Bee", "Acme"],
        "loves_count": ["5", "0", "1401068"], "rating": ["4.5", "", "0"],
        "reviews": ["2", "", "0"], "size": ["1 oz", "", "2 oz"],
        "variation_type": ["Size", "Color", ""], "variation_value": ["1 oz", "Red", ""],
        "variation_desc": ["", "", ""], "ingredients": ["['Water', 'Oil']", "", "Oil\nmore"],
        "price_usd": ["10.0", "0", "25.5"], "value_price_usd": ["", "12", ""],
        "sale_price_usd": ["", "", "20"], "limited_edition": ["0", "1", "0"],
        "new": ["0", "0", "1"], "online_only": ["1", "0", "0"], "out_of_stock": ["0", "0", "0"],
        "sephora_exclusive": ["0", "1", "0"], "highlights": ["['Vegan']", "", ""],
        "primary_category": ["Skincare", "Makeup", "Skincare"],
        "secondary_category": ["Moisturizers", "Lip", ""],
        "tertiary_category": ["", "Lipstick", ""], "child_count": ["0", "2", "0"],
        "child_max_price": ["", "30", ""], "child_min_price": ["", "20", ""],
    }
    return pd.DataFrame(rows, dtype=object)


def _write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)  # compressed by suffix (.gz, .xz)
    return path


def test_sephora_full_catalogue_types_and_values(tmp_path):
    frame = _catalogue()
    frame["note"] = ["a", "", "c"]  # a column the project does not know is kept as text
    products = sources.load_sephora_products(_write(frame, tmp_path / "product_info.csv"))
    assert list(products.columns) == [*sources.SEPHORA_DTYPES, "note"]
    assert products.dtypes.astype(str).to_dict() == {**sources.SEPHORA_DTYPES, "note": "str"}
    assert products["price_usd"].tolist() == [10.0, 0.0, 25.5]
    assert products["loves_count"].tolist() == [5, 0, 1_401_068]
    assert products["reviews"].tolist() == [2, pd.NA, 0]
    assert products["rating"].isna().tolist() == [False, True, False]
    assert products["product_name"].tolist() == ["Cream", "Lip, Matte", "Oil"]
    assert products["ingredients"].iloc[2] == "Oil\nmore"
    assert products["new"].tolist() == [False, False, True]
    assert products["note"].isna().tolist() == [False, True, False]


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".csv.xz"])
def test_sephora_extract_with_the_required_columns(tmp_path, suffix):
    frame = _catalogue()[list(sources._SEPHORA_REQUIRED)]
    products = sources.load_sephora_products(_write(frame, tmp_path / f"extract{suffix}"))
    assert list(products.columns) == list(sources._SEPHORA_REQUIRED)
    assert products["primary_category"].dtype == "category"
    assert products["product_id"].tolist() == ["P1", "P2", "P3"]


def test_sephora_byte_order_mark_and_windows_line_ends(tmp_path):
    frame = _catalogue()
    frame.loc[2, "ingredients"] = "Oil"  # a line break inside a value would become \r\n
    plain = sources.load_sephora_products(_write(frame, tmp_path / "plain.csv"))
    windows = tmp_path / "windows.csv"
    windows.write_bytes(b"\xef\xbb\xbf" + (tmp_path / "plain.csv").read_bytes().replace(b"\n", b"\r\n"))
    pd.testing.assert_frame_equal(sources.load_sephora_products(windows), plain)


def test_sephora_missing_required_column(tmp_path):
    path = _write(_catalogue().drop(columns=["rating", "brand_name"]), tmp_path / "extract.csv")
    with pytest.raises(ValidationError, match=r"extract.csv has no column\(s\) \['brand_name', "
                                              r"'rating'\]; it needs .* A Sephora catalogue needs "
                                              r"at least these"):
        sources.load_sephora_products(path)


@pytest.mark.parametrize("column, value, rule", [
    ("price_usd", "-1", "float64 (a finite number >= 0; may not be empty)"),
    ("price_usd", "", "float64 (a finite number >= 0; may not be empty)"),
    ("price_usd", "$5", "float64"),
    ("value_price_usd", "-0.5", "float64 (a finite number >= 0; may be empty)"),
    ("sale_price_usd", "inf", "float64 (a finite number >= 0"),
    ("child_max_price", "nan", "float64 (a finite number >= 0"),
    ("child_min_price", "-3", "float64 (a finite number >= 0"),
    ("rating", "5.5", "float64 (a finite number from 0 to 5; may be empty)"),
    ("rating", "-1", "float64 (a finite number from 0 to 5"),
    ("loves_count", "-1", "int64 (a whole number >= 0; may not be empty)"),
    ("loves_count", "1.5", "int64 (a whole number >= 0"),
    ("loves_count", "lots", "int64"),
    ("reviews", "-2", "Int64 (a whole number >= 0; may be empty)"),
    ("child_count", "-1", "int64 (a whole number >= 0"),
    ("brand_id", "", "int64 (a whole number; may not be empty)"),
    ("new", "2", "bool (0 or 1; may not be empty)"),
    ("product_name", "", "str (text; may not be empty)"),
    ("primary_category", "  ", "category (text; may not be empty)"),
])
def test_sephora_bad_value_names_file_line_row_and_column(tmp_path, column, value, rule):
    frame = _catalogue()
    frame.loc[1, column] = value
    path = _write(frame, tmp_path / "product_info.csv")
    with pytest.raises(ValidationError, match=r"product_info.csv, line 3 \(data row 2, product "
                                              rf"'P2'\): column {column} is {re.escape(repr(value))}"
                                              rf"; expected {re.escape(rule)}"):
        sources.load_sephora_products(path)


def test_sephora_duplicate_product_id_names_both_rows(tmp_path):
    frame = _catalogue()
    frame.loc[2, "product_id"] = "P1"
    path = _write(frame, tmp_path / "product_info.csv")
    # line 5, not 4: the ingredients of the third product hold a line break
    with pytest.raises(ValidationError, match=r"product_info.csv, lines 2 and 5 \(data rows 1 and "
                                              r"3\): column product_id is 'P1' in both"):
        sources.load_sephora_products(path)


def test_sephora_damaged_files(tmp_path):
    path = _write(_catalogue(), tmp_path / "product_info.csv")
    good = path.read_bytes()
    lines = good.split(b"\n")
    path.write_bytes(b"\n".join([lines[0], lines[1].replace(b"Cream", b"Cr\xe8me"), *lines[2:]]))
    with pytest.raises(ValidationError, match=r"product_info.csv, line 2, byte 6: b'\\xe8' is not "
                                              "UTF-8"):
        sources.load_sephora_products(path)
    path.write_bytes(b"\n".join([lines[0], lines[1].rsplit(b",", 1)[0], *lines[2:]]))
    with pytest.raises(ValidationError, match=r"product_info.csv, line 2: 26 fields, but the "
                                              r"header has 27"):
        sources.load_sephora_products(path)
    path.write_bytes(good[: good.index(b"Oil\nmore") + 3])  # cut inside a quoted value
    with pytest.raises(ValidationError, match=r"product_info.csv, line 4: not valid CSV"):
        sources.load_sephora_products(path)
    path.write_bytes(good.replace(b"child_min_price", b"child_max_price", 1))
    with pytest.raises(ValidationError, match=r"line 1 \(the header\): column\(s\) "
                                              r"\['child_max_price'\] appear more than once"):
        sources.load_sephora_products(path)
    compressed = tmp_path / "product_info.csv.gz"
    compressed.write_bytes(gzip.compress(good)[:-30])
    with pytest.raises(ValidationError, match=r"product_info.csv.gz, line \d+: the compressed "
                                              "data is cut short"):
        sources.load_sephora_products(compressed)


# ---------------------------------------------------------------------------------------------
# The real files: no value is rejected and the counts are those in SOURCES.md


@pytest.fixture
def shared() -> Path:
    folder = Path(os.environ.get(sources.MIRROR_ENV, "/nonexistent"))
    if not (folder / "sephora" / "product_info.csv").is_file():
        pytest.skip("../shared/data (real files) not present")
    return folder


def test_real_files_load_with_every_value_accepted(shared):
    beauty = sources.load_amazon_beauty(shared / "amazon_beauty" / "Beauty.txt",
                                         shared / "amazon_beauty" / "Beauty_item2attributes.json")
    assert (beauty.n_users, len(beauty.interactions)) == (22_363, 198_502)
    assert len(beauty.item_attributes) == 12_101
    reviews = sources.load_amazon_reviews(shared / "amazon_all_beauty" / "All_Beauty_5.json.gz")
    assert len(reviews) == 5_269 and reviews["verified"].notna().all()
    products = sources.load_sephora_products(shared / "sephora" / "product_info.csv")
    assert products.shape == (8_494, 27) and products["product_id"].is_unique
    assert np.isfinite(products["price_usd"]).all() and products["rating"].max() <= 5
