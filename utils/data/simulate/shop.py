"""The Shop: a simulated shop's tables, and writing and reading them as Parquet."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from utils.core.files import atomic_path, write_text_atomic


@dataclass
class Shop:
    """A simulated shop: observable tables, ground truth (kept apart) and the parameters used.

    events: the REES46 columns (utils.data.schema.COLUMNS), sorted by event_time
        (datetime64[s, UTC]); event_type, category_code, brand and user_session are categoricals
        of strings, ids int64, price float64.
    products: CATALOGUE_COLUMNS + brand_listed, code_listed (whether events show the brand /
        category_code); popularity and quality are latent.
    users: user_id, age, gender (F/M/U), region.
    reviews: review_id, product_id, user_id, submitted, rating (1-5), text.
    social: date, level ("category" or "brand"), name (category_code or brand), mentions.
    session_truth: user_session, user_id, session_start, target_category, replenishment,
        discount, intent, true_purchase_prob, purchased (ground truth, one row per session).
    user_truth: user_id, segment, activity, buy_bias, price_sensitivity, brand_loyalty,
        favourite_brand, promo_sensitivity, trend_following, depth, replenish_prob,
        affinity_<top> per top category, comfort_price.
    calendar: date, weekday, traffic, conversion_shift, discount, promo_scope, event.
    """

    events: pd.DataFrame
    products: pd.DataFrame
    users: pd.DataFrame
    reviews: pd.DataFrame
    social: pd.DataFrame
    session_truth: pd.DataFrame
    user_truth: pd.DataFrame
    calendar: pd.DataFrame
    params: dict = field(default_factory=dict)  # the arguments that made the shop

    TABLES = ("events", "products", "users", "reviews", "social", "session_truth",
              "user_truth", "calendar")


def write_shop(shop: Shop, folder: str | os.PathLike) -> Path:
    """Write every table as <folder>/<table>.parquet and the parameters as shop.json.

    Each file is written under a temporary name and then renamed (utils.core.files.atomic_path),
    so a reader never sees a half-written table.
    """
    folder = Path(folder)
    for name in Shop.TABLES:
        with atomic_path(folder / f"{name}.parquet") as tmp:
            getattr(shop, name).to_parquet(tmp, index=False)
    write_text_atomic(folder / "shop.json", json.dumps(shop.params, indent=2, default=str))
    return folder


def read_shop(folder: str | os.PathLike) -> Shop:
    """Read a shop written by ``write_shop`` (the same dtypes come back)."""
    folder = Path(folder)
    missing = [n for n in Shop.TABLES if not (folder / f"{n}.parquet").is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder} is not a simulated shop: {', '.join(m + '.parquet' for m in missing)} "
            "missing. Write one with utils.data.simulate.write_shop(simulate_shop(...), folder)."
        )
    tables = {n: pd.read_parquet(folder / f"{n}.parquet") for n in Shop.TABLES}
    for name in ("events", "session_truth", "reviews"):  # Parquet has no second resolution
        frame = tables[name]
        for col in frame.columns:
            if isinstance(frame[col].dtype, pd.DatetimeTZDtype):
                frame[col] = frame[col].dt.as_unit("s")
    params_file = folder / "shop.json"
    params = json.loads(params_file.read_text(encoding="utf-8")) if params_file.is_file() else {}
    return Shop(**tables, params=params)
