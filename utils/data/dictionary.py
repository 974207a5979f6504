"""The data dictionary: every interim table, the step that writes it, and every column with its
type and meaning.

``DICTIONARY`` holds one entry per table; ``dictionary_markdown`` renders it for the collection
notebook and for data/README.md (a test checks that they agree); ``python -m
utils.data.dictionary`` prints it. data/README.md says which notebook is which step.
"""

from __future__ import annotations

import pandas as pd

from utils.data.schema import COLUMNS, EVENT_TYPES

# The steps that write the interim tables (data/README.md names their notebooks).
COLLECTION = "the collection step"
CLEANING = "the cleaning step"

# --------------------------------------------------------------------------------------------
# The data dictionary: one entry per table, (type, description) per column
# --------------------------------------------------------------------------------------------

_EVENT_TEXT = {
    "event_time": ("timestamp (UTC, seconds)", "When the event happened."),
    "event_type": ("category", f"{', '.join(EVENT_TYPES[:-1])} or {EVENT_TYPES[-1]}."),
    "product_id": ("int64", "The product's id (joins products.product_id)."),
    "category_id": ("int64", "The product's category id: a large integer, never missing."),
    "category_code": ("category, may be missing",
                      "Dotted category path such as skincare.face.serum; missing for most "
                      "events, as in REES46."),
    "brand": ("category, may be missing",
              "Brand name; missing for about 40% of events, as in REES46."),
    "price": ("float64", "The product's price at the event, in US dollars."),
    "user_id": ("int64", "The shopper's id, the same across sessions; a keyed pseudonym of "
                         "the shop's id unless the collection step's pseudonymise_ids is off."),
    "user_session": ("category or str",
                     "Session id: a UUID in REES46 and in the simulator, then a keyed "
                     "pseudonym of it (20 hex digits) unless pseudonymise_ids is off."),
}
_EVENT_COLUMNS = {column: _EVENT_TEXT[column] for column in COLUMNS}  # in the schema's order

DICTIONARY: dict[str, dict] = {
    "events": {
        "file": "interim/events.parquet",
        "step": COLLECTION,
        "about": "Every event, in the REES46 schema, as the simulator or the REES46 loader "
                 "gives it (every source).",
        "columns": _EVENT_COLUMNS,
    },
    "products": {
        "file": "interim/products.parquet",
        "step": COLLECTION,
        "about": "One row per product. Simulated: the catalogue the shop sells. REES46: derived "
                 "from the events (only product_id, category_id, category_code, brand, price).",
        "columns": {
            "product_id": ("int64", "The product's id (Sephora: its id without the 'P')."),
            "product_name": ("str", "Product name (simulated only; real names with Sephora)."),
            "brand": ("str, may be missing",
                      "Brand (REES46: the product's most frequent brand in the events)."),
            "category_id": ("int64",
                            "Category id (REES46: the product's most frequent category_id)."),
            "category_code": ("str, may be missing",
                              "Dotted category path; the simulated catalogue always has one even "
                              "where the events hide it (REES46: most frequent non-missing code)."),
            "top": ("str", "Top-level category: skincare, makeup, fragrance, hair, bath_body or "
                           "tools (simulated only)."),
            "kind": ("str", "Product kind such as serum or shampoo; it sets the replenishment "
                            "cycle and the words of reviews (simulated only)."),
            "price": ("float64", "List price in US dollars (REES46: the median price of the "
                                 "product's events)."),
            "consumable": ("bool", "The product runs out and is bought again (simulated only)."),
            "cycle_days": ("float64, may be missing",
                           "Typical days until a consumable runs out; missing for durables "
                           "(simulated only)."),
            "popularity": ("float64", "How often the simulator shows the product, a relative "
                                      "weight (Sephora: loves_count + 1); a simulator input, not "
                                      "something a real shop records (simulated only)."),
            "quality": ("float64", "Standardised quality that drives ratings (Sephora: the "
                                   "standardised rating; simulated only)."),
            "brand_listed": ("bool", "The events show this product's brand; False means brand "
                                     "is missing in its events (simulated only)."),
            "code_listed": ("bool", "The events show its category_code (simulated only)."),
        },
    },
    "users": {
        "file": "interim/users.parquet",
        "step": COLLECTION,
        "about": "Registered shoppers' demographics (simulated only).",
        "columns": {
            "user_id": ("int64", "The shopper's id (joins events.user_id)."),
            "age": ("int16", "Age in years (16-75)."),
            "gender": ("category", "F, M or U (unknown)."),
            "region": ("category", "capital, north, south, east, west or central."),
        },
    },
    "reviews": {
        "file": "interim/reviews.parquet",
        "step": COLLECTION,
        "about": "Product reviews whose words depend on the category and the rating "
                 "(simulated only).",
        "columns": {
            "review_id": ("int64", "The review's id."),
            "product_id": ("int64", "The reviewed product (joins products.product_id)."),
            "user_id": ("int64", "The reviewer, a registered user (not necessarily a buyer)."),
            "submitted": ("timestamp (UTC, seconds)", "When the review was written."),
            "rating": ("int8", "Stars, 1-5."),
            "text": ("str", "The review text."),
        },
    },
    "social": {
        "file": "interim/social.parquet",
        "step": COLLECTION,
        "about": "Daily social-media mentions per category and per brand; they lead demand by "
                 "the simulator's social_lead_days (7 by default) (simulated only).",
        "columns": {
            "date": ("datetime (day)", "The day (a UTC day)."),
            "level": ("category", "category or brand: what ``name`` is."),
            "name": ("str", "A category_code or a brand."),
            "mentions": ("int32", "Mentions that day."),
        },
    },
    "calendar": {
        "file": "interim/calendar.parquet",
        "step": COLLECTION,
        "about": "One row per day of the window: traffic, promotions and seasonal events "
                 "(simulated only).",
        "columns": {
            "date": ("datetime (day)", "The day (a UTC day)."),
            "weekday": ("str", "Monday ... Sunday."),
            "traffic": ("float64", "Relative traffic (1 = an ordinary weekday)."),
            "conversion_shift": ("float64", "Shift of the purchase log-odds that day."),
            "discount": ("float64", "Promotion discount as a share of the price (0 = none)."),
            "promo_scope": ("str", "What the promotion covers: all, a top-level category, or "
                                   "empty."),
            "event": ("str", "black_friday, cyber_weekend, christmas_runup, holiday, valentines or "
                             "empty."),
        },
    },
    "session_truth": {
        "file": "interim/truth/session_truth.parquet",
        "step": COLLECTION,
        "about": "Ground truth per session that real data never has; kept apart from the "
                 "events, for checking models only (simulated only).",
        "columns": {
            "user_session": ("str", "The session (joins events.user_session)."),
            "user_id": ("int64", "The shopper."),
            "session_start": ("timestamp (UTC, seconds)", "When the session started."),
            "target_category": ("category", "The category_code the shopper came for."),
            "replenishment": ("bool", "A visit to buy again a consumable that ran out."),
            "discount": ("float64", "Discount on the target category that day."),
            "intent": ("float64", "Latent purchase intent."),
            "true_purchase_prob": ("float64", "The probability of buying that the simulator "
                                              "drew the outcome from (the ceiling for a model)."),
            "purchased": ("bool", "The session checked out."),
        },
    },
    "user_truth": {
        "file": "interim/truth/user_truth.parquet",
        "step": COLLECTION,
        "about": "Each shopper's latent segment and tastes (simulated only).",
        "columns": {
            "user_id": ("int64", "The shopper."),
            "segment": ("category", "bargain hunter, loyal skincare, trend follower, window "
                                    "shopper or makeup enthusiast."),
            "activity": ("float64", "Organic sessions per 30 days."),
            "buy_bias": ("float64", "Shift of the purchase log-odds."),
            "price_sensitivity": ("float64", "How much prices above comfort_price put them off."),
            "brand_loyalty": ("float64", "Chance to pick the favourite brand (0-1)."),
            "favourite_brand": ("int64", "Position of the favourite brand in the sorted list of "
                                         "the catalogue's brands."),
            "promo_sensitivity": ("float64", "How much discounts raise the purchase log-odds."),
            "trend_following": ("float64", "Chance a session follows the current buzz."),
            "depth": ("float64", "Multiplier of the number of products viewed per session."),
            "replenish_prob": ("float64", "Chance to come back when a consumable runs out."),
            "affinity_skincare": ("float64", "Share of interest in skincare."),
            "affinity_makeup": ("float64", "Share of interest in makeup."),
            "affinity_fragrance": ("float64", "Share of interest in fragrance."),
            "affinity_hair": ("float64", "Share of interest in hair."),
            "affinity_bath_body": ("float64", "Share of interest in bath_body."),
            "affinity_tools": ("float64", "Share of interest in tools."),
            "comfort_price": ("float64", "The price in US dollars the shopper is comfortable "
                                         "with."),
        },
    },
    "clean_events": {
        "file": "interim/clean_events.parquet",
        "step": CLEANING,
        "about": "The events after cleaning: the same nine columns and dtypes as "
                 "events.parquet, without invalid rows, exact duplicates, price errors and "
                 "bot-like sessions, and every row has a user_session.",
        "columns": _EVENT_COLUMNS | {
            "user_session": ("category or str",
                             "Session id: the data's own, or '<user_id>-<n>' (n = 0, 1, ... in "
                             "time order) where it was missing: a new session after 30 minutes "
                             "without an event."),
        },
    },
    "quarantine": {
        "file": "interim/quarantine.parquet",
        "step": CLEANING,
        "about": "Every row the cleaning step set aside, with the reason (all values as text). "
                 "The REES46 conversion keeps its own file of this shape, with the raw ids, "
                 "raw/rees46_events_quarantine.parquet.",
        "columns": {
            "source_file": ("str", "Where the row came from: the events file, or the rows "
                                   "the cleaning step injected on purpose (a CSV path for the "
                                   "REES46 conversion)."),
            "line": ("int64", "0-based row of events.parquet (injected rows follow its last "
                              "row); in the REES46 conversion's file, the CSV line (1 = header)."),
            "reason": ("str", "Why the row was set aside."),
            **{c: ("str", f"The row's raw {c}.") for c in COLUMNS},
            "extra_fields": ("str, may be missing",
                             "Fields beyond the ninth (rows with too many fields only)."),
        },
    },
}


def dictionary_markdown(tables=None) -> str:
    """The data dictionary as Markdown, one section per table (all tables by default)."""
    parts = []
    for name in tables or DICTIONARY:
        entry = DICTIONARY[name]
        rows = [f"| `{col}` | {kind} | {text} |" for col, (kind, text) in entry["columns"].items()]
        about = f"{entry['about']} Written by {entry['step']}."
        parts.append("\n".join([f"### {name}: `data/{entry['file']}`", "", about, "",
                                "| column | type | description |", "|---|---|---|", *rows]))
    return "\n\n".join(parts) + "\n"


def undocumented_columns(tables: dict[str, pd.DataFrame]) -> dict[str, list[str]]:
    """Columns of the given tables that the dictionary does not describe (empty = all good)."""
    out = {}
    for name, frame in tables.items():
        known = DICTIONARY.get(name, {}).get("columns", {})
        missing = [c for c in frame.columns if c not in known]
        if missing:
            out[name] = missing
    return out


if __name__ == "__main__":
    print(dictionary_markdown(), end="")
