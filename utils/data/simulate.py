"""The embedded default dataset: a vectorised simulator of a beauty e-commerce shop.

``simulate_shop`` writes an event log in the exact schema of the REES46 "eCommerce Events History
in Cosmetics Shop" data (Kaggle), calibrated to its published marginals (``PUBLISHED_MARGINALS``),
plus side tables (catalogue, users, reviews, social-media mentions, promotion calendar) and the
ground truth that real data never has (each session's true purchase probability, each user's
segment), kept apart from the event columns.

How a shop is made, in brief:

- a catalogue of products in a category hierarchy (synthetic, or real Sephora products through
  ``catalogue_from_sephora``), with lognormal prices and consumables that run out after a cycle;
- users with demographics and latent tastes (a segment, category affinity from a Dirichlet, price
  sensitivity, brand loyalty, activity);
- a calendar: weekday and evening peaks, Black Friday, the Christmas run-up, Valentine's Day and
  random promotion days with discounts;
- a latent daily popularity ("buzz") per leaf category and brand: demand follows it with a delay
  of ``social_lead_days``, while social-media mentions reflect it at once, so mentions lead demand;
- sessions: a latent intent drives how many products are viewed, dwell times, carts and removes;
  the true purchase probability is a function of the user's context and of that observable
  engagement, and a Bernoulli draw on it decides whether the session checks out;
- replenishment: a user who bought a consumable may come back about one cycle later to buy it
  again (these sessions are generated in a few vectorised "generations").

Everything is NumPy/pandas array code (loops run only over categories or generations), and a seed
fixes every table. Run ``python -m utils.data.simulate --benchmark`` for the speed figures.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.signal import lfilter

# --------------------------------------------------------------------------------------------
# Schema and calibration targets
# --------------------------------------------------------------------------------------------

EVENT_COLUMNS = [
    "event_time", "event_type", "product_id", "category_id", "category_code",
    "brand", "price", "user_id", "user_session",
]
EVENT_TYPES = ["view", "cart", "remove_from_cart", "purchase"]

# Targets from the public description of the REES46 cosmetics data (see
# ../shared/data/SOURCES.md; event shares are for 2019-Dec). events_per_session_median is NOT
# published: it is a rough estimate (most sessions are one or two product views).
PUBLISHED_MARGINALS = {
    "share_view": 0.48,
    "share_cart": 0.28,
    "share_remove_from_cart": 0.18,
    "share_purchase": 0.06,
    "buyers_among_viewers": 0.07,
    "median_price": 5.0,
    "brand_missing_share": 0.40,
    "category_code_missing_share": 0.90,
    "events_per_session_median": 2.0,
}
# Plausible range of each quantity in the real data (the tests hold the simulator to these).
MARGINAL_RANGES = {
    "share_view": (0.40, 0.56),
    "share_cart": (0.20, 0.36),
    "share_remove_from_cart": (0.11, 0.25),
    "share_purchase": (0.03, 0.09),
    "buyers_among_viewers": (0.04, 0.11),
    "median_price": (3.0, 8.0),
    "brand_missing_share": (0.30, 0.50),
    "category_code_missing_share": (0.80, 0.98),
    "events_per_session_median": (1.0, 4.0),
}

# --------------------------------------------------------------------------------------------
# Catalogue vocabulary
# --------------------------------------------------------------------------------------------

TOPS = ("skincare", "makeup", "fragrance", "hair", "bath_body", "tools")

# kind -> (top, category_code, replenishment cycle in days (0 = durable), median price in $,
# relative number of products). Prices are REES46-like: a cheap shop, median a few dollars.
KINDS = {
    "cleanser": ("skincare", "skincare.face.cleanser", 40, 6.0, 5),
    "toner": ("skincare", "skincare.face.toner", 50, 6.0, 3),
    "serum": ("skincare", "skincare.face.serum", 60, 10.0, 5),
    "moisturiser": ("skincare", "skincare.face.moisturiser", 45, 9.0, 5),
    "sunscreen": ("skincare", "skincare.face.sunscreen", 60, 8.0, 3),
    "mask": ("skincare", "skincare.face.mask", 30, 3.0, 4),
    "eye cream": ("skincare", "skincare.eye.cream", 75, 11.0, 2),
    "foundation": ("makeup", "makeup.face.foundation", 90, 9.0, 4),
    "concealer": ("makeup", "makeup.face.concealer", 90, 6.0, 3),
    "powder": ("makeup", "makeup.face.powder", 120, 6.0, 3),
    "lipstick": ("makeup", "makeup.lips.lipstick", 120, 5.0, 5),
    "lip gloss": ("makeup", "makeup.lips.gloss", 120, 4.0, 3),
    "mascara": ("makeup", "makeup.eyes.mascara", 90, 5.0, 4),
    "eyeliner": ("makeup", "makeup.eyes.eyeliner", 90, 3.0, 3),
    "eyeshadow": ("makeup", "makeup.eyes.eyeshadow", 0, 6.0, 4),
    "nail polish": ("makeup", "makeup.nails.polish", 0, 2.5, 9),
    "perfume": ("fragrance", "fragrance.women.perfume", 180, 25.0, 4),
    "cologne": ("fragrance", "fragrance.men.cologne", 180, 22.0, 2),
    "body mist": ("fragrance", "fragrance.women.body_mist", 90, 8.0, 2),
    "shampoo": ("hair", "hair.care.shampoo", 35, 5.0, 4),
    "conditioner": ("hair", "hair.care.conditioner", 40, 5.0, 3),
    "hair mask": ("hair", "hair.care.mask", 45, 6.0, 2),
    "hair oil": ("hair", "hair.styling.oil", 60, 7.0, 2),
    "hair spray": ("hair", "hair.styling.spray", 45, 4.0, 2),
    "body lotion": ("bath_body", "bath_body.body.lotion", 50, 5.0, 3),
    "shower gel": ("bath_body", "bath_body.shower.gel", 30, 3.0, 3),
    "hand cream": ("bath_body", "bath_body.hands.cream", 40, 3.0, 3),
    "body scrub": ("bath_body", "bath_body.body.scrub", 45, 4.0, 2),
    "makeup brush": ("tools", "tools.brushes.brush", 0, 4.0, 4),
    "sponge": ("tools", "tools.accessories.sponge", 60, 2.0, 2),
    "nail file": ("tools", "tools.nails.file", 0, 1.2, 5),
    "tweezers": ("tools", "tools.accessories.tweezers", 0, 3.0, 2),
    "hair dryer": ("tools", "tools.hair.dryer", 0, 35.0, 1),
}

_ADJECTIVES = [
    "Hydrating", "Radiant", "Velvet", "Matte", "Glow", "Pure", "Ultra", "Silk", "Daily", "Calming",
    "Bright", "Intense", "Soft", "Nourishing", "Fresh", "Rose", "Vitamin C", "Hyaluronic",
    "Charcoal", "Bamboo", "Midnight", "Cloud", "Satin", "Repair", "Dewy", "Bold",
]
_SYLLABLES_A = ["lu", "mi", "sa", "ve", "ora", "bel", "ka", "ze", "no", "ri", "ela", "to", "fleu",
                "aqu", "ro", "de", "ma", "ine", "cor", "pa"]
_SYLLABLES_B = ["na", "ra", "lia", "nique", "belle", "skin", "lab", "glow", "ette", "mi", "sso",
                "vie", "line", "ora", "tte", "x", "lis", "derm", "co", "ly"]

# Sephora leaf categories -> kind (for cycles and review words): the first pattern found in
# "primary > secondary > tertiary" (lower case) wins; unmatched rows fall back on their top.
_SEPHORA_KIND_RULES = [
    ("gift set|value & gift", "gift set"),
    ("candle|diffuser", "candle"),
    ("supplement|wellness", "supplement"),
    ("sunscreen", "sunscreen"),
    ("self tanner", "body lotion"),
    ("eye cream|eye mask", "eye cream"),
    ("dry shampoo|hair styling products|hair spray|hair primer", "hair spray"),
    ("shampoo", "shampoo"),
    ("conditioner", "conditioner"),
    ("hair mask|scalp", "hair mask"),
    ("hair oil|hair supplement|hair thinning|hair dye|color care|damaged hair", "hair oil"),
    ("hair dryer|straightener|curling|brushes & combs|hair tools", "hair dryer"),
    ("sponge", "sponge"),
    ("brush", "makeup brush"),
    ("tweezer|curler|sharpener|manicure|bags|travel case|high tech|facial roller|teeth",
     "tweezers"),
    ("mascara|false eyelash", "mascara"),
    ("eyeliner|eyebrow", "eyeliner"),
    ("eye palette|eyeshadow|eye primer|eye sets", "eyeshadow"),
    ("lip gloss|lip plumper|lip balm|lip liner|lip stain", "lip gloss"),
    ("lip", "lipstick"),
    ("foundation|bb & cc|tinted moisturizer|primer", "foundation"),
    ("concealer|color correct", "concealer"),
    ("powder|setting|highlighter|blush|bronzer|contour|cheek|face sets|makeup palettes",
     "powder"),
    ("nail", "nail polish"),
    ("cologne", "cologne"),
    ("body mist|rollerball", "body mist"),
    ("perfume|fragrance", "perfume"),
    ("body wash|shower|bath soak|bubble|soap|sanitizer", "shower gel"),
    ("scrub", "body scrub"),
    ("hand cream|foot", "hand cream"),
    ("lotion|body|deodorant|intimate|cellulite", "body lotion"),
    ("cleanser|face wash|makeup remover|wipes|blotting|exfoliat", "cleanser"),
    ("toner|mists|essence", "toner"),
    ("mask", "mask"),
    ("serum|peel|blemish|treatment|anti-aging", "serum"),
    ("moisturi|night cream|face oil|decollete", "moisturiser"),
]
# cycles of the kinds that only the Sephora mapping uses (gift sets are not replenished)
_EXTRA_CYCLES = {"gift set": 0, "candle": 60, "supplement": 30}
_TOP_FALLBACK_KIND = {"skincare": "moisturiser", "makeup": "lipstick", "fragrance": "perfume",
                      "hair": "shampoo", "bath_body": "body lotion", "tools": "makeup brush"}
_SEPHORA_TOPS = {"Skincare": "skincare", "Makeup": "makeup", "Fragrance": "fragrance",
                 "Hair": "hair", "Bath & Body": "bath_body", "Tools & Brushes": "tools",
                 "Men": "skincare", "Gifts": "fragrance"}

CATALOGUE_COLUMNS = [
    "product_id", "product_name", "brand", "category_id", "category_code", "top", "kind",
    "price", "consumable", "cycle_days", "popularity", "quality",
]

# --------------------------------------------------------------------------------------------
# Users
# --------------------------------------------------------------------------------------------

# share of users; Dirichlet alpha over TOPS; session rate; purchase logit shift; price
# sensitivity; brand loyalty Beta(a, b); promotion sensitivity; chance a session follows the
# trend; views-per-session multiplier; mean age.
SEGMENTS = {
    "bargain hunter": dict(share=0.25, alpha=(3, 3, 1, 2, 2, 1.5), activity=1.0, buy=-0.2,
                           price=2.0, loyal=(1, 4), promo=3.0, trend=0.1, depth=1.0, age=31),
    "loyal skincare": dict(share=0.15, alpha=(12, 2, 1, 2, 2, 0.5), activity=1.2, buy=0.7,
                           price=0.6, loyal=(6, 2), promo=0.8, trend=0.05, depth=0.9, age=38),
    "trend follower": dict(share=0.20, alpha=(3, 4, 2, 2, 1, 1), activity=1.3, buy=0.1,
                           price=0.9, loyal=(1, 5), promo=1.2, trend=0.7, depth=1.1, age=24),
    "window shopper": dict(share=0.25, alpha=(2, 2, 2, 2, 2, 2), activity=1.1, buy=-1.3,
                           price=1.2, loyal=(1, 3), promo=1.0, trend=0.2, depth=1.5, age=29),
    "makeup enthusiast": dict(share=0.15, alpha=(2, 12, 1, 1, 1, 2), activity=1.4, buy=0.3,
                              price=1.0, loyal=(3, 3), promo=1.2, trend=0.3, depth=1.2, age=27),
}
# Coefficients of the session engine (_run_sessions), tuned so a default shop lands near
# PUBLISHED_MARGINALS with a ceiling ROC-AUC of the true purchase probability around 0.85.
# intent = context + intent_sd x N(0, 1), where context = the user's buy_bias + season
# + promo x promo_sensitivity x discount + replenish (a replenishment visit)
# + price_fit x (minus how far the viewed prices exceed the user's comfort price).
ENGINE = dict(
    activity_sd=1.4,  # log-sd of users' session rates (a few heavy users, many one-offs)
    user_buy_sd=1.0, keen_buy=0.35,  # spread of users' buy_bias; its correlation with activity
    intent_sd=1.1, promo=4.0, replenish=3.0, price_fit=0.6,
    views=0.85, views_intent=0.45, stray=0.25,  # extra views ~ geometric(views e^(vi x intent))
    dwell=20.0, dwell_intent=0.35, dwell_sd=0.8,  # seconds between views (lognormal)
    cart=-1.65, cart_intent=1.0, cart_price=0.5,  # logit of carting a viewed product
    direct=0.25, direct_intent=0.6,  # carts straight from a listing page (Poisson)
    dup=0.05,  # chance of a second cart event for the same item (quantity + 1)
    remove=0.3, remove_intent=1.1,  # logit of removing a cart item
    dither=0.25,  # chance a kept item is taken out and put back again
    cleanup=0.5,  # chance an item left in the cart is removed at the user's next session
    carry=1.0,  # chance an item still in the cart is bought at the user's next checkout...
    cart_days=14,  # ... if that comes within this many days
    # purchase logit = buy + buy_context x context + buy_kept x log1p(items kept in the cart)
    # - buy_removed x removes + buy_dwell x (mean log dwell - log dwell)
    # (an empty cart gives a logit of -9: nothing to check out)
    buy=-3.2, buy_context=0.35, buy_kept=0.4, buy_removed=0.2, buy_dwell=0.3,
    buy_item=1.0,  # chance each kept item is in the order
)

REGIONS = ["capital", "north", "south", "east", "west", "central"]

# UTC hour-of-day and weekday (Mon..Sun) traffic weights: evening peak, quieter weekend.
_HOUR_WEIGHTS = np.array([1.5, 1, 0.7, 0.5, 0.5, 0.7, 1.2, 2, 3, 3.5, 3.8, 4, 4.2, 4, 3.8, 3.8,
                          4, 4.5, 5.5, 6.5, 7, 6.5, 4.5, 2.5])
_WEEKDAY_WEIGHTS = np.array([1.05, 1.05, 1.0, 1.0, 0.92, 0.85, 1.0])

# --------------------------------------------------------------------------------------------
# Reviews vocabulary: words depend on the top category and on the rating
# --------------------------------------------------------------------------------------------

_REVIEW_PHRASES = {
    "skincare": (
        ["left my skin hydrated and glowing", "absorbs quickly", "calmed my redness",
         "skin feels soft and smooth", "cleared up my breakouts", "gentle on sensitive skin",
         "my pores look smaller"],
        ["broke me out", "greasy", "stings and burns", "dried out my skin",
         "left a sticky film", "caused redness and irritation", "pilled under makeup"]),
    "makeup": (
        ["long lasting and pigmented", "blends like a dream", "the shade match is perfect",
         "stays put all day", "buildable coverage", "gorgeous colour payoff"],
        ["patchy and streaky", "creased within an hour", "the shade oxidised",
         "flaked off by noon", "smudged everywhere", "chalky and cakey"]),
    "fragrance": (
        ["smells divine", "lasts all day", "i get compliments every time", "warm and cosy scent",
         "fresh and elegant"],
        ["smells like alcohol", "fades within an hour", "too sweet and cloying",
         "gave me a headache", "nothing like the description"]),
    "hair": (
        ["my hair is shiny and soft", "tames frizz", "adds volume", "detangles easily",
         "scalp feels clean"],
        ["left my hair greasy", "weighed my hair down", "made my scalp itchy",
         "hair felt like straw", "did nothing for frizz"]),
    "bath_body": (
        ["skin feels silky", "lovely rich lather", "the scent is relaxing", "soaks in fast",
         "keeps my hands soft"],
        ["left a greasy residue", "dried my skin", "the smell is artificial", "made me itchy",
         "the pump broke"]),
    "tools": (
        ["sturdy and well made", "soft bristles", "easy to clean", "works perfectly",
         "precise and comfortable"],
        ["bristles fell out", "broke after a week", "flimsy and cheap", "scratchy",
         "stopped working"]),
}
# an opening around the product kind ({}), and a closing phrase, per rating 1..5
_REVIEW_OPENERS = {
    1: ["terrible {}", "worst {} ever", "hated this {}", "avoid this {}"],
    2: ["disappointed with this {}", "not a great {}", "meh {}", "this {} let me down"],
    3: ["an okay {}", "mixed feelings about this {}", "decent {} but not amazing", "average {}"],
    4: ["really like this {}", "very happy with this {}", "a pretty good {}", "solid {}"],
    5: ["absolutely love this {}", "this {} is my holy grail", "best {} ever",
        "obsessed with this {}"],
}
_REVIEW_CLOSERS = {
    1: ["waste of money", "returned it", "do not buy"],
    2: ["probably returning it", "not worth the price"],
    3: ["might try something else", "not sure i would repurchase"],
    4: ["would recommend", "would buy again"],
    5: ["will repurchase!", "worth every penny", "10/10"],
}
# phrases any product can get, so that not every review names its category
_GENERIC_PHRASES = (["fast delivery", "nice packaging", "good value", "does what it says"],
                    ["arrived damaged", "overpriced", "packaging leaked", "not as pictured"])


# --------------------------------------------------------------------------------------------
# The Shop and its persistence
# --------------------------------------------------------------------------------------------

@dataclass
class Shop:
    """A simulated shop: observable tables, ground truth (kept apart) and the parameters used.

    events: EVENT_COLUMNS, sorted by event_time (datetime64[s, UTC]); event_type, category_code,
        brand and user_session are categoricals of strings, ids int64, price float64.
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

    Each file is written under a temporary name and then renamed, so a reader never sees a
    half-written table.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    def atomic(target: Path, write) -> None:
        tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
        try:
            write(tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    for name in Shop.TABLES:
        atomic(folder / f"{name}.parquet",
               lambda tmp, name=name: getattr(shop, name).to_parquet(tmp, index=False))
    params = json.dumps(shop.params, indent=2, default=str)
    atomic(folder / "shop.json", lambda tmp: tmp.write_text(params, encoding="utf-8"))
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


# --------------------------------------------------------------------------------------------
# Marginals
# --------------------------------------------------------------------------------------------

def marginals(events: pd.DataFrame) -> dict:
    """The calibration quantities of PUBLISHED_MARGINALS, computed on an event log.

    Works on simulated and on real REES46 events (event_time as datetimes or as its CSV text).
    """
    kind = events["event_type"].astype(str)
    shares = kind.value_counts(normalize=True)
    # REES46 comes in monthly files and its buyer share is a monthly figure: average the months
    when = pd.to_datetime(events["event_time"], utc=True)
    month = when.dt.tz_localize(None).dt.to_period("M")
    users = pd.DataFrame({"month": month, "user": events["user_id"],
                          "view": kind == "view", "buy": kind == "purchase"})
    per_user = users.groupby(["month", "user"], sort=False).agg(view=("view", "any"),
                                                                 buy=("buy", "any"))
    viewers = per_user[per_user.view]
    monthly = viewers.groupby(level="month").buy.mean()
    per_session = events.groupby("user_session", observed=True, sort=False).size()
    return {
        "share_view": float(shares.get("view", 0.0)),
        "share_cart": float(shares.get("cart", 0.0)),
        "share_remove_from_cart": float(shares.get("remove_from_cart", 0.0)),
        "share_purchase": float(shares.get("purchase", 0.0)),
        "buyers_among_viewers": float(monthly.mean()) if len(monthly) else 0.0,
        "median_price": float(events["price"].median()),
        "brand_missing_share": float(events["brand"].isna().mean()),
        "category_code_missing_share": float(events["category_code"].isna().mean()),
        "events_per_session_median": float(per_session.median()),
    }


def compare_marginals(events: pd.DataFrame) -> pd.DataFrame:
    """Simulated vs published marginals side by side, with the plausible range of each."""
    sim = marginals(events)
    return pd.DataFrame({
        "simulated": sim,
        "published": PUBLISHED_MARGINALS,
        "low": {k: v[0] for k, v in MARGINAL_RANGES.items()},
        "high": {k: v[1] for k, v in MARGINAL_RANGES.items()},
    }).assign(within=lambda d: d.simulated.between(d.low, d.high))


# --------------------------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------------------------

def _category_id(codes: pd.Series) -> np.ndarray:
    """REES46-style large integer id per category code, stable across seeds (a CRC of the code)."""
    crc = np.array([zlib.crc32(c.encode()) for c in codes], dtype=np.int64)
    return 1_487_580_000_000_000_000 + crc * 1000


def _finish_catalogue(cat: pd.DataFrame) -> pd.DataFrame:
    """Add derived columns (category_id, consumable) and fix dtypes and column order."""
    required = ["product_id", "product_name", "brand", "category_code", "top", "kind", "price",
                "cycle_days"]
    missing = [c for c in required if c not in cat.columns]
    if missing:
        raise ValueError(f"catalogue lacks column(s) {missing}; a catalogue needs {required} "
                         "(popularity and quality are optional), e.g. from catalogue_from_sephora")
    cat = cat.assign(popularity=cat.get("popularity", 1.0), quality=cat.get("quality", 0.0))
    unique_codes = pd.Series(cat["category_code"].unique())
    ids = pd.Series(_category_id(unique_codes), index=unique_codes.values)
    if ids.duplicated().any():
        raise ValueError("two category codes share a category_id; rename one of them")
    cat["category_id"] = cat["category_code"].map(ids).astype(np.int64)
    cat["cycle_days"] = cat["cycle_days"].astype(float).where(cat["cycle_days"] > 0)
    cat["consumable"] = cat["cycle_days"].notna()
    cat["product_id"] = cat["product_id"].astype(np.int64)
    cat["price"] = cat["price"].astype(float).round(2)
    for col in ("product_name", "brand", "category_code", "top", "kind"):
        cat[col] = cat[col].astype("str")
    return cat[CATALOGUE_COLUMNS].sort_values("product_id", ignore_index=True)


def _synthetic_catalogue(n_products: int, rng: np.random.Generator) -> pd.DataFrame:
    """Products with generated brands and names, lognormal prices around each kind's median."""
    kinds = list(KINDS)
    spec = pd.DataFrame(KINDS.values(), index=kinds,
                        columns=["top", "category_code", "cycle_days", "median_price", "weight"])
    kind = rng.choice(kinds, size=n_products, p=spec.weight / spec.weight.sum())
    n_brands = max(8, n_products // 6)
    names = np.char.add(rng.choice(_SYLLABLES_A, 3 * n_brands), rng.choice(_SYLLABLES_B,
                                                                         3 * n_brands))
    brands = pd.unique(names)[:n_brands]
    brand_pop = rng.lognormal(0, 1.0, len(brands))
    brand_tier = rng.lognormal(0, 0.3, len(brands))  # some brands are pricier than others
    b = rng.choice(len(brands), size=n_products, p=brand_pop / brand_pop.sum())
    s = spec.loc[kind]
    price = s.median_price.to_numpy() * brand_tier[b] * rng.lognormal(0, 0.6, n_products)
    adjective = rng.choice(_ADJECTIVES, n_products)
    cat = pd.DataFrame({
        "product_id": 5_000_000 + np.sort(rng.choice(900_000, n_products, replace=False)),
        "product_name": (pd.Series(brands[b]).str.title() + " " + adjective + " "
                         + pd.Series(kind).str.title()),
        "brand": brands[b],
        "category_code": s.category_code.to_numpy(),
        "top": s.top.to_numpy(),
        "kind": kind,
        "price": np.maximum(price, 0.2),
        "cycle_days": s.cycle_days.to_numpy(),
        "popularity": rng.lognormal(0, 1.2, n_products) * brand_pop[b] ** 0.5,
        "quality": rng.standard_normal(n_products),
    })
    return _finish_catalogue(cat)


def _slug(text: pd.Series) -> pd.Series:
    return (text.fillna("").str.lower().str.replace(r"[^a-z0-9]+", "_", regex=True)
            .str.strip("_"))


def catalogue_from_sephora(product_info: pd.DataFrame, n_products: int | None = None,
                           seed: int = 0) -> pd.DataFrame:
    """Map Sephora's product_info.csv (as read by pandas) onto the simulator's catalogue schema.

    Names, brands, prices (price_usd) and categories are real: category_code is the dotted slug
    of primary/secondary/tertiary_category (e.g. "skincare.treatments.face_serums"); popularity
    is loves_count and quality the standardised rating. The kind (used for replenishment cycles
    and review words) comes from keyword rules on the category names. ``n_products`` draws a
    random subset (seeded); None keeps every product with a name, brand, price and category.
    """
    needed = ["product_id", "product_name", "brand_name", "price_usd", "primary_category",
              "secondary_category", "tertiary_category", "loves_count", "rating"]
    absent = [c for c in needed if c not in product_info.columns]
    if absent:
        raise ValueError(f"product_info lacks column(s) {absent}; expected Sephora's "
                         "product_info.csv (Kaggle nadyinky/sephora-products-and-skincare-reviews)")
    df = product_info.dropna(subset=["product_name", "brand_name", "price_usd",
                                     "primary_category"]).reset_index(drop=True)
    if n_products is not None and n_products < len(df):
        pick = np.random.default_rng(seed).choice(len(df), n_products, replace=False)
        df = df.iloc[np.sort(pick)].reset_index(drop=True)
    # plain strings: utils.data.sources.load_sephora_products gives the categories as categoricals
    levels = df[["primary_category", "secondary_category", "tertiary_category"]].astype("string")
    codes = _slug(levels.primary_category)
    for col in ("secondary_category", "tertiary_category"):
        part = _slug(levels[col])
        codes = codes.where(part == "", codes + "." + part)
    primary = levels.primary_category
    top = primary.map(_SEPHORA_TOPS)
    # "Mini Size" and the like: the secondary category names the top
    top = top.fillna(levels.secondary_category.map(_SEPHORA_TOPS)).fillna("skincare")
    path = levels.fillna("").agg(" > ".join, axis=1).str.lower()
    kind = pd.Series(pd.NA, index=df.index, dtype="object")
    for pattern, k in _SEPHORA_KIND_RULES:
        kind = kind.where(kind.notna() | ~path.str.contains(pattern, regex=True), k)
    kind = kind.fillna(top.map(_TOP_FALLBACK_KIND))
    rating = df["rating"].astype(float)
    cat = pd.DataFrame({
        "product_id": df["product_id"].astype(str).str.extract(r"(\d+)")[0].astype(np.int64),
        "product_name": df["product_name"],
        "brand": df["brand_name"].astype(str).str.strip(),
        "category_code": codes,
        "top": top,
        "kind": kind,
        "price": df["price_usd"].astype(float),
        "cycle_days": kind.map({k: v[2] for k, v in KINDS.items()} | _EXTRA_CYCLES),
        "popularity": df["loves_count"].fillna(0).astype(float) + 1.0,
        "quality": ((rating - rating.mean()) / rating.std()).fillna(0.0),
    })
    if cat.product_id.duplicated().any():
        raise ValueError("product_info has duplicate product_id values after removing the 'P'")
    return _finish_catalogue(cat)


def _listed_mask(weights: np.ndarray, missing_share: float, rng) -> np.ndarray:
    """Pick items, in random order, until they carry ``missing_share`` of the weight.

    The shop hides brand (per product) and category_code (per category) for these, so the
    missing share of *events* lands near the target even with a few very popular items.
    """
    order = rng.permutation(len(weights))
    share = np.concatenate([[0.0], np.cumsum(weights[order]) / weights.sum()])
    n_hidden = int(np.argmin(np.abs(share - missing_share)))  # the closest cut
    listed = np.ones(len(weights), bool)
    listed[order[:n_hidden]] = False
    return listed


# --------------------------------------------------------------------------------------------
# Vectorised sampling helpers
# --------------------------------------------------------------------------------------------

def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _row_choice(rng, weights: np.ndarray) -> np.ndarray:
    """One column index per row, with probability proportional to that row's weights."""
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cum[:, -1]
    return np.minimum((cum <= u[:, None]).sum(axis=1), weights.shape[1] - 1)


class _GroupSampler:
    """Draw one item per row from weighted groups; group g owns flat positions start[g]:stop[g].

    All groups share one cumulative sum, so a draw is one uniform number and a binary search.
    """

    def __init__(self, blocks: list[tuple[np.ndarray, np.ndarray]]):
        """blocks: (items, weights) with weights of shape (n_groups_in_block, len(items))."""
        sizes = np.concatenate([np.full(len(w_), len(i)) for i, w_ in blocks])
        self.stop = np.cumsum(sizes)
        self.start = self.stop - sizes
        self.items = np.concatenate([np.tile(i, len(w_)) for i, w_ in blocks])
        self.cum = np.cumsum(np.concatenate([w_.ravel() for _, w_ in blocks]).astype(float))

    def draw(self, rng, group: np.ndarray) -> np.ndarray:
        start, stop = self.start[group], self.stop[group]
        lo = np.where(start > 0, self.cum[start - 1], 0.0)
        hi = self.cum[stop - 1]
        pos = np.searchsorted(self.cum, lo + rng.random(len(group)) * (hi - lo), side="right")
        return self.items[np.clip(pos, start, stop - 1)]


def _ar1(rng, n_series: int, length: int, sd: float, phi: float = 0.9) -> np.ndarray:
    """Smooth latent series (AR(1), stationary standard deviation ``sd``), one per row."""
    burn = 60
    noise = rng.standard_normal((n_series, length + burn)) * sd * np.sqrt(1 - phi**2)
    return lfilter([1.0], [1.0, -phi], noise, axis=1)[:, burn:]


def _uuids(rng, n: int) -> pd.Index:
    """n random version-4 UUID strings, built from bytes without a Python loop."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexdigits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    digits = np.empty((n, 32), np.uint8)
    digits[:, 0::2] = hexdigits[raw >> 4]
    digits[:, 1::2] = hexdigits[raw & 0x0F]
    text = np.full((n, 36), ord("-"), np.uint8)
    keep = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])
    text[:, keep] = digits
    offsets = np.arange(0, 36 * (n + 1), 36, dtype=np.int32)
    arr = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(text.ravel()))
    return pd.Index(pd.array(arr, dtype="str"))


def _segment_first(lengths: np.ndarray) -> np.ndarray:
    return np.cumsum(lengths) - lengths


# --------------------------------------------------------------------------------------------
# The world: everything fixed before sessions are simulated
# --------------------------------------------------------------------------------------------

def _calendar(start: pd.Timestamp, n_days: int, tops: list[str], rng) -> tuple:
    """Daily traffic, conversion shift, promotions and per-top seasonal demand multipliers."""
    dates = pd.date_range(start, periods=n_days, freq="D")
    traffic = _WEEKDAY_WEIGHTS[dates.day_of_week].copy()
    shift = np.zeros(n_days)
    top_season = np.ones((n_days, len(tops)))
    event = np.full(n_days, "", dtype=object)
    top_ix = {t: i for i, t in enumerate(tops)}

    def boost_tops(mask, factors):  # seasonal demand of some top categories
        for t, f in factors.items():
            if t in top_ix:
                top_season[mask, top_ix[t]] *= f

    # promotions: random promo days, each discounting one top category or the whole store
    discount = np.where(rng.random(n_days) < 0.08, rng.choice([0.1, 0.15, 0.2, 0.3], n_days), 0)
    scope = np.where(rng.random(n_days) < 0.4, "all", rng.choice(tops, n_days)).astype(object)

    month, day = dates.month.to_numpy(), dates.day.to_numpy()
    # Black Friday: last Friday of November; the weekend and Cyber Monday after it
    nov30 = pd.to_datetime([f"{y}-11-30" for y in dates.year])
    black_friday = nov30 - pd.to_timedelta((nov30.day_of_week - 4) % 7, unit="D")
    since_bf = (dates - black_friday).days.to_numpy()
    bf = since_bf == 0
    cyber = (since_bf >= 1) & (since_bf <= 3)
    traffic[bf] *= 2.5
    traffic[cyber] *= 1.6
    shift[bf] += 0.8
    shift[cyber] += 0.4
    discount = np.where(bf | cyber, np.where(bf, 0.3, 0.2), discount)
    scope = np.where(bf | cyber, "all", scope)
    event[bf], event[cyber] = "black_friday", "cyber_weekend"
    # Christmas run-up: traffic and gifts (fragrance, bath & body) rise through December
    xmas = (month == 12) & (day <= 22)
    traffic[xmas] *= 1.1 + 0.5 * (day[xmas] - 1) / 21
    shift[xmas] += 0.3
    boost_tops(xmas, {"fragrance": 1.6, "bath_body": 1.3})
    event[xmas & (event == "")] = "christmas_runup"
    quiet = ((month == 12) & (day >= 24) & (day <= 26)) | ((month == 1) & (day == 1))
    traffic[quiet] *= 0.65
    event[quiet] = "holiday"
    # Valentine's Day: fragrance and makeup rise through the fortnight before 14 February
    vday = (month == 2) & (day <= 14)
    traffic[vday] *= 1.1
    ramp = 1 + day[vday] / 14
    boost_tops(vday, {"fragrance": 1 + 0.8 * ramp, "makeup": 1 + 0.3 * ramp})
    event[vday] = "valentines"
    scope = np.where(discount > 0, scope, "")
    cal = pd.DataFrame({
        "date": dates, "weekday": dates.day_name(), "traffic": traffic, "conversion_shift": shift,
        "discount": discount.astype(float), "promo_scope": scope.astype(str), "event": event,
    })
    cal["event"] = cal["event"].astype("str")
    # discount per (day, top) for the session engine
    disc_top = np.where((scope[:, None] == "all") | (scope[:, None] == np.array(tops)[None, :]),
                        discount[:, None], 0.0)
    return cal, top_season, disc_top


def _users(n_users: int, tops: list[str], present: np.ndarray, n_brands: int,
           brand_weight: np.ndarray, rng) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Observable demographics and the latent tastes behind them (the user truth)."""
    seg_names = list(SEGMENTS)
    segs = pd.DataFrame(SEGMENTS.values(), index=seg_names)
    seg = rng.choice(len(seg_names), n_users, p=segs.share / segs.share.sum())
    s = segs.iloc[seg]
    alpha = np.array(s.alpha.tolist())
    # TOPS order -> the catalogue's tops order; absent tops get no affinity
    alpha = alpha[:, [TOPS.index(t) if t in TOPS else 0 for t in tops]]
    aff = rng.gamma(alpha) * present[None, :]
    aff /= aff.sum(axis=1, keepdims=True)
    loyal = np.array(s.loyal.tolist())
    age = np.clip(np.rint(rng.normal(s.age, 8)), 16, 75).astype(np.int16)
    keen, c, sd = rng.standard_normal(n_users), ENGINE["keen_buy"], ENGINE["activity_sd"]
    users = pd.DataFrame({
        "user_id": 400_000_000 + np.cumsum(rng.integers(1, 60, n_users)),
        "age": age,
        "gender": pd.Categorical.from_codes(rng.choice(3, n_users, p=[0.86, 0.11, 0.03]),
                                            ["F", "M", "U"]),
        "region": pd.Categorical.from_codes(rng.choice(len(REGIONS), n_users,
                                                       p=[.3, .15, .15, .1, .1, .2]), REGIONS),
    })
    truth = pd.DataFrame({
        "user_id": users.user_id,
        "segment": pd.Categorical.from_codes(seg, seg_names),
        # sessions per 30 days (before replenishment); heavy tailed, mean = segment's rate
        "activity": s.activity.to_numpy() * np.exp(sd * keen - sd**2 / 2),
        # frequent visitors are the keener buyers (correlation ENGINE["keen_buy"])
        "buy_bias": (s.buy.to_numpy() + 0.01 * (age - 30) + ENGINE["user_buy_sd"]
                     * (c * keen + np.sqrt(1 - c**2) * rng.standard_normal(n_users))),
        "price_sensitivity": s.price.to_numpy() * rng.lognormal(0, 0.3, n_users),
        "brand_loyalty": rng.beta(loyal[:, 0], loyal[:, 1]),
        "favourite_brand": rng.choice(n_brands, n_users, p=brand_weight / brand_weight.sum()),
        "promo_sensitivity": s.promo.to_numpy() * rng.lognormal(0, 0.3, n_users),
        "trend_following": s.trend.to_numpy(),
        "depth": s.depth.to_numpy() * rng.lognormal(0, 0.3, n_users),
    })
    truth["replenish_prob"] = np.clip(0.5 + 0.45 * truth.brand_loyalty, 0, 0.95)
    for i, t in enumerate(tops):
        truth[f"affinity_{t}"] = aff[:, i]
    return users, truth


@dataclass
class _World:
    """Arrays the session engine needs, indexed by product / user / day / top position."""

    n_days: int
    product_top: np.ndarray
    product_leaf: np.ndarray
    product_brand: np.ndarray
    price: np.ndarray
    cycle: np.ndarray
    affinity: np.ndarray  # (n_users, n_tops)
    top_day: np.ndarray  # (n_days, n_tops) seasonal x buzz demand multiplier
    disc_top: np.ndarray  # (n_days, n_tops)
    conv_shift: np.ndarray  # (n_days,)
    day_p: np.ndarray  # (n_days,) probability of a session falling on each day
    hour_p: np.ndarray
    leaf_plain: _GroupSampler  # group = top * n_days + day
    leaf_trendy: _GroupSampler
    products: _GroupSampler  # group = leaf * n_days + day
    u: dict  # user latent arrays (numpy), from user_truth


def _start_seconds(w: _World, rng, day: np.ndarray) -> np.ndarray:
    hour = rng.choice(24, len(day), p=w.hour_p)
    return day.astype(np.int64) * 86400 + hour * 3600 + rng.integers(0, 3600, len(day))


def _choose_products(w: _World, rng, leaf, day, user, k: int = 4) -> np.ndarray:
    """K candidates by popularity (x brand buzz); the user keeps the best for her taste."""
    group = np.repeat(leaf * w.n_days + day, k)
    cand = w.products.draw(rng, group).reshape(-1, k)
    logp = np.log(w.price[cand])
    over = np.maximum(0.0, logp - w.u["ref_log_price"][user][:, None])
    util = (-w.u["price_sensitivity"][user][:, None] * over
            + 2.5 * w.u["brand_loyalty"][user][:, None]
            * (w.product_brand[cand] == w.u["favourite_brand"][user][:, None])
            + rng.gumbel(size=cand.shape))
    return cand[np.arange(len(cand)), util.argmax(axis=1)]


def _run_sessions(w: _World, rng, su, sd, t0, rep) -> dict:
    """Simulate sessions (user su, day sd, start second t0, replenished product rep or -1).

    Returns the events (session index, second, type code, product index, price), the
    per-session truth, the purchases (for replenishment) and the items left in the cart.
    """
    n = len(su)
    ix = np.arange(n)
    repl = rep >= 0
    u, E = w.u, ENGINE
    # what the session is about: a top (taste x season x buzz), then a leaf category
    top = _row_choice(rng, w.affinity[su] * w.top_day[sd])
    trendy = rng.random(n) < u["trend_following"][su]
    leaf = w.leaf_plain.draw(rng, top * w.n_days + sd)
    leaf[trendy] = w.leaf_trendy.draw(rng, top[trendy] * w.n_days + sd[trendy])
    top[repl], leaf[repl] = w.product_top[rep[repl]], w.product_leaf[rep[repl]]
    disc = w.disc_top[sd, top]
    # context the user brings (observable-ish) and hidden intent noise
    x = (u["buy_bias"][su] + w.conv_shift[sd] + E["promo"] * u["promo_sensitivity"][su] * disc
         + E["replenish"] * repl)
    eta0 = x + E["intent_sd"] * rng.standard_normal(n)

    # views: engaged sessions are longer (engagement saturates at intent 3); some views stray
    # to another category
    extra_views = E["views"] * u["depth"][su] * np.exp(E["views_intent"] * np.minimum(eta0, 3))
    n_views = 1 + rng.negative_binomial(1.0, 1.0 / (1.0 + extra_views))
    first = _segment_first(n_views)
    vs = np.repeat(ix, n_views)
    pos = np.arange(len(vs)) - first[vs]
    vleaf = leaf[vs]
    stray = (pos > 0) & (rng.random(len(vs)) < E["stray"])
    st = _row_choice(rng, w.affinity[su[vs[stray]]] * w.top_day[sd[vs[stray]]])
    vleaf[stray] = w.leaf_plain.draw(rng, st * w.n_days + sd[vs[stray]])
    vprod = _choose_products(w, rng, vleaf, sd[vs], su[vs])
    vprod[first[repl]] = rep[repl]
    vprice = np.round(w.price[vprod] * (1 - w.disc_top[sd[vs], w.product_top[vprod]]), 2)
    # how far above the user's comfortable price the viewed items are
    over = np.maximum(0.0, np.log(vprice) - u["ref_log_price"][su[vs]])
    dear = u["price_sensitivity"][su[vs]] * over
    price_fit = -np.bincount(vs, dear, n) / n_views
    x = x + E["price_fit"] * price_fit
    eta = eta0 + E["price_fit"] * price_fit

    # dwell: seconds to the next view, longer when engaged
    log_gap = (np.log(E["dwell"]) + E["dwell_intent"] * np.clip(eta[vs], -3, 3)
               + E["dwell_sd"] * rng.standard_normal(len(vs)))
    gap = np.maximum(2, np.rint(np.exp(log_gap))).astype(np.int64)
    excl = np.cumsum(gap) - gap
    vt = t0[vs] + excl - excl[first][vs]

    # carts: from a viewed product (just after the view) or straight from a listing page
    pc = _sigmoid(E["cart"] + E["cart_intent"] * eta[vs] - E["cart_price"] * dear)
    pc[first[repl]] = np.maximum(pc[first[repl]], 0.85)
    carted = rng.random(len(vs)) < pc
    c_s, c_p, c_price = vs[carted], vprod[carted], vprice[carted]
    c_t = vt[carted] + np.maximum(1, (gap[carted] * rng.uniform(0.2, 0.8, carted.sum())))
    n_direct = rng.poisson(E["direct"] * np.exp(E["direct_intent"] * np.minimum(eta, 3)))
    d_s = np.repeat(ix, n_direct)
    d_p = _choose_products(w, rng, leaf[d_s], sd[d_s], su[d_s])
    d_price = np.round(w.price[d_p] * (1 - w.disc_top[sd[d_s], w.product_top[d_p]]), 2)
    span = excl[first + n_views - 1] - excl[first] + gap[first + n_views - 1]
    d_t = t0[d_s] + (rng.random(len(d_s)) * span[d_s]).astype(np.int64)
    item_s = np.concatenate([c_s, d_s])
    item_p = np.concatenate([c_p, d_p])
    item_price = np.concatenate([c_price, d_price])
    item_t = np.concatenate([c_t, d_t]).astype(np.int64)
    # a second cart event of the same product (quantity + 1)
    dup = rng.random(len(item_s)) < E["dup"]
    dup_t = item_t[dup] + rng.integers(1, 5, dup.sum())
    # removes: hesitant sessions take more back out of the cart
    removed = rng.random(len(item_s)) < _sigmoid(E["remove"] - E["remove_intent"] * eta[item_s])
    rm_t = item_t[removed] + 5 + np.rint(rng.lognormal(np.log(60), 1.0, removed.sum()))
    rm_t = rm_t.astype(np.int64)
    # second thoughts: a kept item is taken out and put back a little later
    dither = ~removed & (rng.random(len(item_s)) < E["dither"])
    dither_out = item_t[dither] + 5 + rng.integers(0, 120, dither.sum())
    dither_in = dither_out + rng.integers(2, 60, dither.sum())

    # the true purchase probability: the user's context plus the session's engagement
    kept = np.bincount(item_s[~removed], minlength=n)
    n_removed = np.bincount(item_s[removed], minlength=n)
    dwell = np.bincount(vs, np.log(gap), n) / n_views - np.log(E["dwell"])
    logit = (E["buy"] + E["buy_context"] * x + E["buy_kept"] * np.log1p(kept)
             - E["buy_removed"] * n_removed + E["buy_dwell"] * dwell)
    logit[kept == 0] = -9.0  # an empty cart (almost) never checks out
    p = np.clip(_sigmoid(logit), 1e-4, 1 - 1e-4)
    buy = rng.random(n) < p

    # checkout: after the last event; kept cart items are bought (at least one)
    end = vt[first + n_views - 1] + gap[first + n_views - 1]
    for s_, t_ in ((item_s, item_t), (item_s[dup], dup_t), (item_s[removed], rm_t),
                   (item_s[dither], dither_in)):
        np.maximum.at(end, s_, t_)
    checkout = end + rng.integers(15, 90, n)
    bought = ~removed & buy[item_s] & (rng.random(len(item_s)) < E["buy_item"])
    need = buy & (np.bincount(item_s[bought], minlength=n) == 0)
    cand = np.flatnonzero(~removed & need[item_s])
    _, first_kept = np.unique(item_s[cand], return_index=True)
    bought[cand[first_kept]] = True
    # buying sessions with nothing left in the cart add the last viewed product at checkout
    forced = np.flatnonzero(need & (kept == 0))
    last = first[forced] + n_views[forced] - 1
    f_p, f_price, f_t = vprod[last], vprice[last], checkout[forced] - 3
    b_s = np.concatenate([item_s[bought], forced])
    b_p = np.concatenate([item_p[bought], f_p])
    b_price = np.concatenate([item_price[bought], f_price])
    _, once = np.unique(b_s.astype(np.int64) * len(w.price) + b_p, return_index=True)
    b_s, b_p, b_price = b_s[once], b_p[once], b_price[once]

    parts = [  # (session, second, type code, product, price)
        (vs, vt, 0, vprod, vprice),
        (item_s, item_t, 1, item_p, item_price),
        (item_s[dup], dup_t, 1, item_p[dup], item_price[dup]),
        (forced, f_t, 1, f_p, f_price),
        (item_s[removed], rm_t, 2, item_p[removed], item_price[removed]),
        (item_s[dither], dither_out, 2, item_p[dither], item_price[dither]),
        (item_s[dither], dither_in, 1, item_p[dither], item_price[dither]),
        (b_s, checkout[b_s], 3, b_p, b_price),
    ]
    events = {
        "sess": np.concatenate([q[0] for q in parts]).astype(np.int64),
        "t": np.concatenate([q[1] for q in parts]).astype(np.int64),
        "type": np.concatenate([np.full(len(q[0]), q[2], np.int8) for q in parts]),
        "prod": np.concatenate([q[3] for q in parts]).astype(np.int32),
        "price": np.concatenate([q[4] for q in parts]),
    }
    truth = {"user": su, "t0": t0, "leaf": leaf, "discount": disc, "replenishment": repl,
             "intent": eta, "p": p, "buy": buy, "checkout": checkout}
    left = np.flatnonzero(~removed & ~bought)  # still in the cart when the session ends
    return {"events": events, "truth": truth, "purchases": (b_s, b_p, checkout[b_s]),
            "leftovers": (item_s[left], item_p[left], item_price[left], item_t[left])}


def _replenishment(w: _World, rng, su, purchases) -> tuple:
    """Sessions of users coming back about one cycle after buying a consumable.

    One consumable per order is remembered; the user returns with probability replenish_prob,
    after cycle_days x lognormal(0, 0.12) days, if that still falls inside the window.
    """
    s, prod, t = purchases
    ok = w.cycle[prod] > 0
    s, prod, t = s[ok], prod[ok], t[ok]
    order = np.lexsort((rng.random(len(s)), s))
    _, one = np.unique(s[order], return_index=True)
    pick = order[one]
    s, prod, t = s[pick], prod[pick], t[pick]
    user = su[s]
    back = rng.random(len(s)) < w.u["replenish_prob"][user]
    due = t + w.cycle[prod] * 86400 * rng.lognormal(0, 0.12, len(s))
    day = (due // 86400).astype(np.int64)
    keep = back & (day < w.n_days)
    day = day[keep]
    return user[keep], day, _start_seconds(w, rng, day), prod[keep]


# --------------------------------------------------------------------------------------------
# The simulator
# --------------------------------------------------------------------------------------------

def simulate_shop(n_users: int = 5000, n_days: int = 90, start: str = "2019-10-01",
                  seed: int = 0, n_products: int = 600, catalogue: pd.DataFrame | None = None,
                  reviews_per_product: float = 5.0, sessions_per_month: float = 0.6,
                  brand_missing_share: float = 0.40, code_missing_share: float = 0.90,
                  social_lead_days: int = 7) -> Shop:
    """Simulate a beauty shop; the same arguments always give identical tables.

    n_users: registered users (those with no session in the window have no events).
    n_days, start: the window (UTC days from ``start``).
    n_products: size of the synthetic catalogue (ignored when ``catalogue`` is given, e.g.
        ``catalogue_from_sephora(pd.read_csv(".../product_info.csv"))``).
    reviews_per_product: mean number of reviews per product (popular products get more).
    sessions_per_month: mean organic sessions per user per 30 days (before replenishment).
    brand_missing_share, code_missing_share: share of events whose brand / category_code the
        shop leaves empty (REES46 leaves most category codes empty).
    social_lead_days: how many days social-media mentions lead category and brand demand.
    """
    params = {k: v for k, v in locals().items() if k != "catalogue"}
    params["catalogue"] = "synthetic" if catalogue is None else f"given ({len(catalogue)} rows)"
    r_cat, r_users, r_cal, r_buzz, r_sess, r_rev, r_ids = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7))
    start_ts = pd.Timestamp(start)
    lead = int(social_lead_days)

    products = (_synthetic_catalogue(n_products, r_cat) if catalogue is None
                else _finish_catalogue(catalogue))
    tops = list(TOPS) + sorted(set(products.top) - set(TOPS))
    leaves = np.array(sorted(products.category_code.unique()))
    brands = np.array(sorted(products.brand.unique()))
    p_top = pd.Categorical(products.top, categories=tops).codes.astype(np.int64)
    p_leaf = pd.Categorical(products.category_code, categories=leaves).codes.astype(np.int64)
    p_brand = pd.Categorical(products.brand, categories=brands).codes.astype(np.int64)
    pop = products.popularity.to_numpy(float) * np.exp(0.3 * products.quality.to_numpy(float))
    products["brand_listed"] = _listed_mask(pop, brand_missing_share, r_cat)
    leaf_pop = np.bincount(p_leaf, pop, len(leaves))
    products["code_listed"] = _listed_mask(leaf_pop, code_missing_share, r_cat)[p_leaf]
    leaf_top = np.zeros(len(leaves), np.int64)
    leaf_top[p_leaf] = p_top
    present = np.bincount(p_top, minlength=len(tops)) > 0

    calendar, top_season, disc_top = _calendar(start_ts, n_days, tops, r_cal)
    users, user_truth = _users(n_users, tops, present, len(brands),
                               np.bincount(p_brand, pop, len(brands)), r_users)
    # users' comfortable price: the catalogue's median, lower for the price sensitive
    ref = (np.log(products.price.median()) + r_users.normal(0, 0.3, n_users)
           - 0.4 * (user_truth.price_sensitivity.to_numpy() - 1))

    # latent buzz: demand on day d follows buzz[d]; mentions on day d show buzz[d + lead]
    leaf_buzz = _ar1(r_buzz, len(leaves), n_days + lead, sd=0.5)
    brand_buzz = _ar1(r_buzz, len(brands), n_days + lead, sd=0.35)
    leaf_w = leaf_pop[:, None] * np.exp(leaf_buzz[:, :n_days])  # (leaf, day)
    top_day = np.ones((n_days, len(tops)))
    for t in range(len(tops)):
        in_top = leaf_top == t
        if in_top.any():
            top_day[:, t] = leaf_w[in_top].sum(0) / leaf_pop[in_top].sum()
    top_day *= top_season

    # group samplers: leaves by (top, day) and products by (leaf, day), weights (day, item)
    def leaf_sampler(strength: float) -> _GroupSampler:
        blocks = []
        for t in range(len(tops)):
            in_top = np.flatnonzero(leaf_top == t)
            blocks.append((in_top, leaf_pop[in_top][None, :]
                           * np.exp(strength * leaf_buzz[in_top, :n_days].T)))
        return _GroupSampler(blocks)

    prod_blocks = []
    for leaf in range(len(leaves)):
        in_leaf = np.flatnonzero(p_leaf == leaf)
        prod_blocks.append((in_leaf, pop[in_leaf][None, :]
                            * np.exp(brand_buzz[p_brand[in_leaf], :n_days].T)))

    u = {c: user_truth[c].to_numpy() for c in
         ("buy_bias", "price_sensitivity", "brand_loyalty", "favourite_brand",
          "promo_sensitivity", "trend_following", "depth", "replenish_prob")}
    u["ref_log_price"] = ref
    user_truth["favourite_brand"] = brands[u["favourite_brand"]]
    user_truth["favourite_brand"] = user_truth["favourite_brand"].astype("str")
    user_truth["comfort_price"] = np.round(np.exp(ref), 2)
    world = _World(
        n_days=n_days, product_top=p_top, product_leaf=p_leaf, product_brand=p_brand,
        price=products.price.to_numpy(float), cycle=products.cycle_days.fillna(0).to_numpy(),
        affinity=user_truth[[f"affinity_{t}" for t in tops]].to_numpy(), top_day=top_day,
        disc_top=disc_top, conv_shift=calendar.conversion_shift.to_numpy(),
        day_p=(calendar.traffic / calendar.traffic.sum()).to_numpy(),
        hour_p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum(),
        leaf_plain=leaf_sampler(1.0), leaf_trendy=leaf_sampler(2.5),
        products=_GroupSampler(prod_blocks), u=u,
    )

    # organic sessions, then generations of replenishment sessions
    n_sess = r_sess.poisson(user_truth.activity.to_numpy() * sessions_per_month * n_days / 30)
    su = np.repeat(np.arange(n_users), n_sess)
    sd = r_sess.choice(n_days, len(su), p=world.day_p)
    batch = (su, sd, _start_seconds(world, r_sess, sd), np.full(len(su), -1))
    runs, offset = [], 0
    while len(batch[0]):
        out = _run_sessions(world, r_sess, batch[0], batch[1], batch[2], batch[3])
        out["offset"] = offset
        runs.append(out)
        offset += len(batch[0])
        user, day, t0, prod = _replenishment(world, r_sess, batch[0], out["purchases"])
        batch = (user, day, t0, prod)

    events, session_truth = _assemble(runs, products, users, leaves, brands, start_ts, r_ids)
    social = _social(leaf_buzz, brand_buzz, leaf_pop, np.bincount(p_brand, pop, len(brands)),
                     leaves, brands, start_ts, n_days, lead, r_buzz)
    reviews = _reviews(products, users, reviews_per_product, start_ts, n_days, r_rev)
    return Shop(events=events, products=products, users=users, reviews=reviews, social=social,
                session_truth=session_truth, user_truth=user_truth, calendar=calendar,
                params=params)


def _assemble(runs, products, users, leaves, brands, start_ts, rng):
    """Concatenate the generations into the REES46 event frame and the session truth."""
    cat = {k: np.concatenate([r["events"][k] + (r["offset"] if k == "sess" else 0)
                              for r in runs]) for k in runs[0]["events"]}
    truth = {k: np.concatenate([r["truth"][k] for r in runs]) for k in runs[0]["truth"]}
    n_sess = len(truth["p"])
    leftovers = [np.concatenate([r["leftovers"][i] + (r["offset"] if i == 0 else 0)
                                 for r in runs]) for i in range(4)]
    extra = _leftover_events(truth, leftovers, cat, len(products), rng)
    for k in cat:
        cat[k] = np.concatenate([cat[k]] + [e[k].astype(cat[k].dtype) for e in extra])
    # order by time; within a second by session, then view < cart < remove < purchase
    if cat["t"].max() < 2**25 and n_sess < 2**33:
        key = (cat["t"] << 36) | (cat["sess"] << 3) | cat["type"].astype(np.int64)
        order = np.argsort(key, kind="stable")
    else:
        order = np.lexsort((cat["type"], cat["sess"], cat["t"]))
    cat = {k: v[order] for k, v in cat.items()}
    prod = cat["prod"]
    session_ids = _uuids(rng, n_sess)
    brand_code = np.where(products.brand_listed, np.searchsorted(brands, products.brand), -1)
    code_code = np.where(products.code_listed,
                         np.searchsorted(leaves, products.category_code), -1)
    start = np.datetime64(start_ts.to_datetime64(), "s")
    user_ids = users.user_id.to_numpy()
    events = pd.DataFrame({
        "event_time": pd.Series(start + cat["t"]).dt.tz_localize("UTC"),
        "event_type": pd.Categorical.from_codes(cat["type"], EVENT_TYPES),
        "product_id": products.product_id.to_numpy()[prod],
        "category_id": products.category_id.to_numpy()[prod],
        "category_code": pd.Categorical.from_codes(code_code[prod], pd.Index(leaves, dtype="str")),
        "brand": pd.Categorical.from_codes(brand_code[prod], pd.Index(brands, dtype="str")),
        "price": cat["price"].astype(np.float64),
        "user_id": user_ids[truth["user"][cat["sess"]]],
        "user_session": pd.Categorical.from_codes(cat["sess"], session_ids),
    })
    by_start = np.argsort(truth["t0"], kind="stable")
    truth = {k: v[by_start] for k, v in truth.items()}
    session_truth = pd.DataFrame({
        "user_session": pd.Series(session_ids.take(by_start), dtype="str"),
        "user_id": user_ids[truth["user"]],
        "session_start": pd.Series(start + truth["t0"]).dt.tz_localize("UTC"),
        "target_category": pd.Categorical.from_codes(truth["leaf"], pd.Index(leaves, dtype="str")),
        "replenishment": truth["replenishment"],
        "discount": truth["discount"],
        "intent": truth["intent"],
        "true_purchase_prob": truth["p"],
        "purchased": truth["buy"],
    })
    return events, session_truth


def _leftover_events(truth, leftovers, cat, n_products, rng) -> list[dict]:
    """Removes and purchases of items left in the cart when their session ended.

    The cart persists between sessions: at the user's next session each item is cleared out
    (removed within its first seconds) with probability ENGINE["cleanup"], whatever that
    session's outcome (so the removes leak nothing about it); items that stay are bought, with
    probability ENGINE["carry"], at the user's next checkout if it comes within
    ENGINE["cart_days"]. Such a purchase has its cart event in an earlier session of the same
    user, as happens in REES46.
    """
    ls, lp, lprice, lt = leftovers
    user, buy = truth["user"], truth["buy"]
    n = len(user)
    by_user = np.lexsort((truth["t0"], user))
    rank = np.empty(n, np.int64)
    rank[by_user] = np.arange(n)
    # position (in user-then-time order) of the next session, and of the next buying session
    next_any = np.append(by_user, 0)[rank[ls] + 1]
    first_buy = np.minimum.accumulate(np.where(buy[by_user], np.arange(n), n)[::-1])[::-1]
    next_buy = np.append(by_user, 0)[np.append(first_buy, n)[rank[ls] + 1]]
    has_next = (rank[ls] + 1 < n) & (user[next_any] == user[ls])
    has_buy = (np.append(first_buy, n)[rank[ls] + 1] < n) & (user[next_buy] == user[ls])
    # cleared within the next session's first seconds, after the cart and before its checkout
    t_clear = np.maximum(truth["t0"][next_any] + rng.integers(1, 30, len(ls)), lt + 1)
    clear = (has_next & (t_clear < truth["checkout"][next_any])
             & (rng.random(len(ls)) < ENGINE["cleanup"]))
    checkout = truth["checkout"][next_buy]
    fresh_cart = (checkout > lt) & (checkout - lt < ENGINE["cart_days"] * 86400)
    carry = np.flatnonzero(has_buy & ~clear & fresh_cart & (rng.random(len(ls)) < ENGINE["carry"]))
    # one purchase per (session, product): skip products that session buys anyway
    key = next_buy[carry] * n_products + lp[carry]
    _, once = np.unique(key, return_index=True)
    bought = cat["type"] == 3
    fresh = ~np.isin(key[once], cat["sess"][bought] * n_products + cat["prod"][bought])
    carry = carry[once[fresh]]
    parts = [(next_any[clear], t_clear[clear], 2, lp[clear], lprice[clear]),
             (next_buy[carry], checkout[carry], 3, lp[carry], lprice[carry])]
    return [{"sess": q[0], "t": q[1], "type": np.full(len(q[0]), q[2], np.int8), "prod": q[3],
             "price": q[4]} for q in parts]


def _social(leaf_buzz, brand_buzz, leaf_pop, brand_pop, leaves, brands, start_ts, n_days, lead,
            rng) -> pd.DataFrame:
    """Daily mentions per leaf category and per brand: they show today the buzz that drives
    demand ``lead`` days later, with Poisson and multiplicative noise."""
    dates = pd.date_range(start_ts, periods=n_days, freq="D")
    weekend = np.where(dates.day_of_week >= 5, 1.15, 1.0)
    frames = []
    for level, buzz, pop, names in (("category", leaf_buzz, leaf_pop, leaves),
                                    ("brand", brand_buzz, brand_pop, brands)):
        base = 20 + 2000 * pop / pop.sum()
        rate = (base[:, None] * np.exp(buzz[:, lead:lead + n_days]) * weekend[None, :]
                * rng.lognormal(0, 0.15, (len(names), n_days)))
        frames.append(pd.DataFrame({
            "date": np.tile(dates, len(names)),
            "level": level,
            "name": np.repeat(names, n_days),
            "mentions": rng.poisson(rate).ravel().astype(np.int32),
        }))
    social = pd.concat(frames, ignore_index=True)
    social["level"] = social["level"].astype("category")
    social["name"] = social["name"].astype("str")
    return social


def _reviews(products, users, per_product, start_ts, n_days, rng) -> pd.DataFrame:
    """Reviews whose words depend on the product's top category and on the rating."""
    weight = np.sqrt(products.popularity.to_numpy(float))
    lam = per_product * len(products) * weight / weight.sum()
    n = rng.poisson(lam)
    prod = np.repeat(np.arange(len(products)), n)
    m = len(prod)
    quality = products.quality.to_numpy(float)[prod]
    rating = np.clip(np.rint(4.0 + 0.6 * quality + rng.normal(0, 1.1, m)), 1, 5).astype(np.int8)
    top = products.top.to_numpy()[prod]
    top = np.where(np.isin(top, list(_REVIEW_PHRASES)), top, "skincare")

    def pick(options_by_key, keys):
        """One option per row from the list that belongs to that row's key."""
        out = np.empty(len(keys), dtype=object)
        for key, options in options_by_key.items():
            rows = np.flatnonzero(keys == key)
            out[rows] = np.asarray(options, dtype=object)[rng.integers(0, len(options),
                                                                       len(rows))]
        return out

    positive = rating >= 4
    # rating 3 mixes one good and one bad phrase; 10% of phrases disagree with the rating
    first_pos = np.where(rating == 3, True, positive) ^ (rng.random(m) < 0.1)
    second_pos = np.where(rating == 3, False, positive) ^ (rng.random(m) < 0.1)
    options = {f"{t}+": pos for t, (pos, _) in _REVIEW_PHRASES.items()}
    options.update({f"{t}-": neg for t, (_, neg) in _REVIEW_PHRASES.items()})
    phrase = {}
    for name, sign in (("a", first_pos), ("b", second_pos)):
        key = np.char.add(top.astype(str), np.where(sign, "+", "-"))
        phrase[name] = pick(options, key)
    for _ in range(5):  # redraw the second phrase where it repeats the first
        same = np.flatnonzero(phrase["a"] == phrase["b"])
        key = np.char.add(top[same].astype(str), np.where(second_pos[same], "+", "-"))
        phrase["b"][same] = pick(options, key)
    # some reviews use a generic phrase or just say "product"; openers and closers sometimes
    # belong to a neighbouring rating, so words predict the rating well but not perfectly
    generic = np.flatnonzero(rng.random(m) < 0.3)
    phrase["b"][generic] = pick({True: _GENERIC_PHRASES[0], False: _GENERIC_PHRASES[1]},
                                second_pos[generic])
    kind = products.kind.to_numpy().astype(object)[prod]
    kind[rng.random(m) < 0.3] = "product"

    def blur(r):
        return np.clip(r + rng.choice([-1, 0, 1], m, p=[0.15, 0.7, 0.15]), 1, 5)

    opener = pd.Series(pick(_REVIEW_OPENERS, blur(rating)), dtype=object)
    opener = opener.str.split("{}", expand=True)
    prefix, suffix = opener[0].to_numpy(object), opener[1].to_numpy(object)
    text = (prefix + kind + suffix + ". " + phrase["a"] + ", " + phrase["b"] + ". "
            + pick(_REVIEW_CLOSERS, blur(rating)))
    start = np.datetime64(start_ts.to_datetime64(), "s")
    submitted = start + rng.integers(0, n_days * 86400, m)
    reviews = pd.DataFrame({
        "review_id": np.arange(1, m + 1, dtype=np.int64),
        "product_id": products.product_id.to_numpy()[prod],
        "user_id": users.user_id.to_numpy()[rng.integers(0, len(users), m)],
        "submitted": pd.Series(submitted).dt.tz_localize("UTC"),
        "rating": rating,
        "text": pd.Series(text, dtype="str"),
    })
    return reviews.sort_values(["submitted", "review_id"], ignore_index=True)


# --------------------------------------------------------------------------------------------
# Benchmark
# --------------------------------------------------------------------------------------------

def bench_simulator(n_events_target: int = 1_000_000, n_days: int = 90, seed: int = 0) -> dict:
    """Time one simulation sized to about ``n_events_target`` events; report speed and memory."""
    import resource

    import psutil

    pilot = simulate_shop(n_users=3000, n_days=n_days, seed=seed)
    n_users = int(np.ceil(n_events_target * 3000 / len(pilot.events)))
    del pilot
    began = time.perf_counter()
    shop = simulate_shop(n_users=n_users, n_days=n_days, seed=seed)
    seconds = time.perf_counter() - began
    n = len(shop.events)
    return {
        "n_users": n_users, "n_days": n_days, "events": n, "seconds": round(seconds, 2),
        "events_per_second": round(n / seconds),
        "events_memory_mb": round(shop.events.memory_usage(deep=True).sum() / 2**20, 1),
        "rss_mb": round(psutil.Process().memory_info().rss / 2**20, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", action="store_true", help="time the simulator")
    parser.add_argument("--events", type=int, default=1_000_000, help="benchmark size")
    parser.add_argument("--marginals", action="store_true",
                        help="print simulated vs published marginals for a default shop")
    args = parser.parse_args()
    if args.benchmark:
        for key, value in bench_simulator(args.events).items():
            print(f"{key:>18}: {value}")
    if args.marginals or not args.benchmark:
        print(compare_marginals(simulate_shop().events).round(3).to_string())
