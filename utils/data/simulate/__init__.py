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

Modules: ``calibration`` (published marginals, ``marginals``), ``catalogue`` (kinds, synthetic and
Sephora catalogues), ``world`` (users, calendar), ``engine`` (sessions, replenishment, the event
log), ``reviews`` (reviews, social mentions), ``shop`` (the ``Shop`` and its Parquet files),
``simulator`` (``simulate_shop``), ``benchmark``. The event columns and types are those of
``utils.data.schema``.
"""

from utils.data.schema import COLUMNS as EVENT_COLUMNS
from utils.data.schema import EVENT_TYPES
from utils.data.simulate.benchmark import bench_simulator
from utils.data.simulate.calibration import (
    MARGINAL_RANGES,
    PUBLISHED_MARGINALS,
    compare_marginals,
    marginals,
)
from utils.data.simulate.catalogue import (
    CATALOGUE_COLUMNS,
    KINDS,
    TOPS,
    catalogue_from_sephora,
)
from utils.data.simulate.engine import ENGINE
from utils.data.simulate.shop import Shop, read_shop, write_shop
from utils.data.simulate.simulator import simulate_shop
from utils.data.simulate.world import REGIONS, SEGMENTS

__all__ = [
    "CATALOGUE_COLUMNS", "ENGINE", "EVENT_COLUMNS", "EVENT_TYPES", "KINDS", "MARGINAL_RANGES",
    "PUBLISHED_MARGINALS", "REGIONS", "SEGMENTS", "TOPS", "Shop", "bench_simulator",
    "catalogue_from_sephora", "compare_marginals", "marginals", "read_shop", "simulate_shop",
    "write_shop",
]
