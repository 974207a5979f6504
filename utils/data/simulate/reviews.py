"""What people say about the shop: product reviews whose words depend on the category and the
rating, and daily social-media mentions that lead demand."""

from __future__ import annotations

import numpy as np
import pandas as pd

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
