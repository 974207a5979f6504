"""The collection step: build the interim tables from the simulator or from REES46 CSVs.

``collect`` returns the tables of one source, ``write_interim`` writes them atomically to
data/interim/ (the layout later steps rely on), ``load_interim`` reads one back and
``has_interim`` says whether it is there; both find a table stored plain or encrypted.
``simulate_again`` makes the simulated shop of data/interim again, with changes (a promotion).
"""

from __future__ import annotations

import inspect
import json
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from utils.core import config, crypto
from utils.core.files import atomic_path, to_jsonable, write_json_atomic
from utils.data.dictionary import DICTIONARY

SOURCES = ("simulated", "rees46", "rees46_sample")
CATALOGUES = ("synthetic", "sephora")
INTERIM_TABLES = ("events", "products", "users", "reviews", "social", "calendar")
TRUTH_TABLES = ("session_truth", "user_truth")
DERIVED_TABLES = ("clean_events", "quarantine")  # the cleaning step makes them from events
# Where a missing table's message sends the reader (a doc may name notebooks; code does not).
_WHICH_NOTEBOOK = "docs/DESIGN.md#data-flow lists which notebook writes which file"


def sephora_catalogue(n_products: int | None = None, seed: int = 0) -> pd.DataFrame:
    """The real Sephora catalogue (the extract that ships with the project) in the simulator's
    schema."""
    from utils.data import simulate, sources

    info = sources.load_sephora_products()
    return simulate.catalogue_from_sephora(info, n_products=n_products, seed=seed)


def products_from_events(events: pd.DataFrame) -> pd.DataFrame:
    """One row per product of a REES46 event log: its most frequent category_id,
    category_code and brand (ties: the smallest value), and its median price."""
    def most_frequent(column: str) -> pd.Series:
        values = events[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype("str")
        counts = (pd.DataFrame({"product_id": events["product_id"], column: values})
                  .groupby(["product_id", column]).size().rename("n").reset_index())
        best = counts.sort_values(["product_id", "n", column], ascending=[True, False, True],
                                  kind="stable").drop_duplicates("product_id")
        return best.set_index("product_id")[column]

    products = events.groupby("product_id")["price"].median().rename("price").to_frame()
    for column in ("category_id", "category_code", "brand"):
        products[column] = most_frequent(column)
    products = products.reset_index()
    products = products.astype({"category_id": "int64", "category_code": "str", "brand": "str"})
    return products[["product_id", "category_id", "category_code", "brand", "price"]]


def collect_rees46(sample: bool = False) -> tuple[pd.DataFrame, dict]:
    """Convert the REES46 CSVs (data/raw/rees46/, or the 100-row public sample) to Parquet and
    read the events back; returns (events, what the conversion did)."""
    from utils.data import rees46, sources

    raw = config.data_dir("raw") / "rees46"
    scratch = None
    try:
        if sample:  # the same conversion path as the full data, on a copy in a scratch folder
            scratch = Path(tempfile.mkdtemp(prefix="rees46-sample-"))
            fetched = sources.fetch("rees46_sample")  # an encrypted copy is copied as it is
            suffix = crypto.ENCRYPTED_SUFFIX if crypto.is_encrypted(fetched) else ""
            shutil.copy(fetched, scratch / f"2019-Dec-sample.csv{suffix}")
            folder = scratch
        else:
            folder = raw
            try:
                rees46.rees46_files(folder)
            except FileNotFoundError as exc:
                raise FileNotFoundError(
                    f"{exc} Until then, run with source = 'simulated' (the default) or "
                    "source = 'rees46_sample' (the public 100-event sample).") from exc
        report = rees46.convert_rees46(folder)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    events = rees46.load_rees46_events(report.out_dir)
    info = {
        "files": [Path(s).name for s in report.sources],
        "rows_read": report.rows_read, "rows_kept": report.rows_kept,
        "rows_quarantined": report.rows_quarantined,
        "duplicates_removed": report.duplicates_removed, "reasons": report.reasons,
        "converted_to": str(report.out_dir), "quarantine": str(report.quarantine_path),
    }
    return events, info


def collect(source: str = "simulated", *, n_users: int = 12000, n_days: int = 150,
            start: str = "2019-10-01", n_products: int | None = 600, seed: int = 0,
            catalogue: str = "synthetic") -> tuple[dict, dict, dict]:
    """The interim tables of one source: (tables, truth tables, parameters).

    ``source``: "simulated" (the embedded shop), "rees46" (the Kaggle CSVs in
    data/raw/rees46/) or "rees46_sample" (the public 100-event sample, same conversion path).
    The sizes and ``catalogue`` ("synthetic" or "sephora") apply to the simulator only.
    """
    from utils.data import simulate

    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    if source != "simulated":
        events, info = collect_rees46(sample=source == "rees46_sample")
        return {"events": events, "products": products_from_events(events)}, {}, info
    if catalogue not in CATALOGUES:
        raise ValueError(f"unknown catalogue {catalogue!r}; expected one of "
                         f"{', '.join(CATALOGUES)}")
    products = sephora_catalogue(n_products, seed) if catalogue == "sephora" else None
    shop = simulate.simulate_shop(n_users=n_users, n_days=n_days, start=start, seed=seed,
                                  n_products=n_products or 600, catalogue=products)
    tables = {name: getattr(shop, name) for name in INTERIM_TABLES}
    truth = {name: getattr(shop, name) for name in TRUTH_TABLES}
    return tables, truth, dict(shop.params, catalogue=catalogue)


def simulate_again(**changes) -> tuple[dict, dict]:
    """The simulated shop of data/interim made again, with ``changes`` to the arguments of
    ``simulate.simulate_shop`` (say ``promotion_from`` and ``promotion_discount``): its tables and
    truth tables, as ``collect`` returns them. It reads the arguments recorded in source.json and
    the products table (which keeps the catalogue and the brands and codes each product shows),
    so without changes it is the same shop; its ids are pseudonymised with the same key when the
    interim tables' are, so the same shopper has the same id in both."""
    from utils.data import privacy, simulate

    info = read_source_info()
    if info["source"] != "simulated":
        raise ValueError(f"data/interim holds the source {info['source']!r}: only a simulated shop can be "
                         "simulated again; collect with source = 'simulated' first")
    accepted = set(inspect.signature(simulate.simulate_shop).parameters) - {"catalogue", "n_products"}
    unknown = set(changes) - accepted
    if unknown:
        raise TypeError(f"simulate_shop has no argument(s) {sorted(unknown)}; it takes {sorted(accepted)}")
    arguments = {name: value for name, value in info["params"].items() if name in accepted}
    shop = simulate.simulate_shop(**{**arguments, **changes}, catalogue=load_interim("products"))
    tables = {name: getattr(shop, name) for name in INTERIM_TABLES}
    truth = {name: getattr(shop, name) for name in TRUTH_TABLES}
    if info["params"].get("ids_pseudonymised"):
        key = crypto.secret_key("pseudonym", create=False)
        tables, truth = privacy.pseudonymise_tables(tables, key), privacy.pseudonymise_tables(truth, key)
    return tables, truth


def interim_path(name: str) -> Path:
    """Where a table of the dictionary lives (data/interim/... under the work folder)."""
    if name not in DICTIONARY:
        raise KeyError(f"unknown table {name!r}; known: {', '.join(DICTIONARY)}")
    return config.data_dir("interim").parent / DICTIONARY[name]["file"]


def write_table(frame: pd.DataFrame, name: str) -> Path:
    """Write one table of the dictionary atomically (temporary name, then rename)."""
    path = interim_path(name)
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return path


def write_interim(tables: dict, truth: dict, source: str, params: dict) -> Path:
    """Write the tables to data/interim/ (truth tables to data/interim/truth/) and source.json.

    Every file is written under a temporary name and renamed. Tables of an earlier run that
    this source does not have, and the cleaning step's outputs derived from the earlier events,
    are removed, so that what is on disk always matches source.json. Returns the path of
    source.json.
    """
    unknown = set(tables) - set(INTERIM_TABLES) | set(truth) - set(TRUTH_TABLES)
    if unknown:
        raise ValueError(f"unknown table(s) {sorted(unknown)}; the interim layout has "
                         f"{INTERIM_TABLES} and truth/{TRUTH_TABLES}")
    for name in (*INTERIM_TABLES, *TRUTH_TABLES, *DERIVED_TABLES):
        frame = tables.get(name, truth.get(name))
        _remove_encrypted_copy(interim_path(name))
        if frame is None:
            interim_path(name).unlink(missing_ok=True)
        else:
            write_table(frame, name)
    info = {"source": source, "tables": [t for t in INTERIM_TABLES if t in tables],
            "params": to_jsonable(params)}
    path = config.data_dir("interim") / "source.json"
    _remove_encrypted_copy(path)
    write_json_atomic(path, info)
    return path


def _remove_encrypted_copy(path: Path) -> None:
    """Remove ``<path>.enc`` left by an earlier run: loaders read it wherever ``path`` is absent."""
    path.with_name(path.name + crypto.ENCRYPTED_SUFFIX).unlink(missing_ok=True)


def read_source_info() -> dict:
    """data/interim/source.json, or its encrypted form source.json.enc."""
    path = config.data_dir("interim") / "source.json"
    found = crypto.plain_or_encrypted(path)
    if found is None:
        raise FileNotFoundError(f"{path} is missing: the collection step writes it with the "
                                "interim tables; run the notebooks that write them first "
                                f"({_WHICH_NOTEBOOK}).")
    return json.loads(crypto.read_bytes(found).decode("utf-8"))


def has_interim(name: str) -> bool:
    """Whether a table of the dictionary is there, stored plain or encrypted: the check for an
    optional table (reviews, users, truth, ...). It does not decrypt: a table that is there but
    cannot be read makes load_interim raise crypto.DecryptionError, so it is never skipped."""
    return crypto.plain_or_encrypted(interim_path(name)) is not None


def load_interim(name: str) -> pd.DataFrame:
    """Read an interim table with the dtypes it was written with (timestamps back to seconds),
    from its Parquet file or that file's encrypted form (<file>.parquet.enc)."""
    path = interim_path(name)
    if not has_interim(name):
        raise FileNotFoundError(f"{path} is missing: {DICTIONARY[name]['step']} writes it; run "
                                f"the notebooks that write it first ({_WHICH_NOTEBOOK}). The "
                                "source in data/interim/source.json may not have this table.")
    frame = pd.read_parquet(crypto.for_reading(path))
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.DatetimeTZDtype):  # Parquet has no seconds unit
            frame[col] = frame[col].dt.as_unit("s")
    return frame


