"""The catalogue: product kinds and their vocabulary, a synthetic catalogue, and real Sephora
products mapped onto the same schema (``catalogue_from_sephora``)."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from utils.data.schema import ValidationError, require_columns

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


def _category_id(codes: pd.Series) -> np.ndarray:
    """REES46-style large integer id per category code, stable across seeds (a CRC of the code)."""
    crc = np.array([zlib.crc32(c.encode()) for c in codes], dtype=np.int64)
    return 1_487_580_000_000_000_000 + crc * 1000


def _finish_catalogue(cat: pd.DataFrame) -> pd.DataFrame:
    """Add derived columns (category_id, consumable) and fix dtypes and column order."""
    required = ["product_id", "product_name", "brand", "category_code", "top", "kind", "price",
                "cycle_days"]
    require_columns(cat, required, "the catalogue",
                    fix="Popularity and quality are optional. Add the missing columns, or build "
                        "the catalogue with catalogue_from_sephora.")
    cat = cat.assign(popularity=cat.get("popularity", 1.0), quality=cat.get("quality", 0.0))
    unique_codes = pd.Series(cat["category_code"].unique())
    ids = pd.Series(_category_id(unique_codes), index=unique_codes.values)
    if ids.duplicated().any():
        raise ValidationError("two category codes share a category_id; rename one of them")
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
    require_columns(product_info, needed, "product_info",
                    fix="Expected Sephora's product_info.csv (Kaggle "
                        "nadyinky/sephora-products-and-skincare-reviews), as "
                        "utils.data.sources.load_sephora_products reads it.")
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
        raise ValidationError("product_info has duplicate product_id values after removing the 'P'")
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
