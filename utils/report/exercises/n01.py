"""Checks of 01_data_collection: returning shoppers, what a purchase costs, and why the ground
truth lives in a folder of its own."""

from __future__ import annotations

from utils.report.exercises import close, one_of, same_integer


def returning_shoppers(answer, events):
    """The number of shoppers with events in at least two sessions of the log."""
    per_user = events.groupby("user_id")["user_session"].nunique()
    expected = int((per_user >= 2).sum())
    passed, message = same_integer(answer, expected, "shoppers with two or more sessions")
    if passed:
        message += f" That is {expected / len(per_user):.0%} of the {len(per_user):,} shoppers in the log."
    else:
        message += " Count distinct user_session values per user_id, then the users with at least two."
    return passed, message


def median_purchase_price(answer, events):
    """The median price (US dollars) of the purchase events, to the cent."""
    kind = events["event_type"].astype("str")
    expected = float(events.loc[kind.eq("purchase"), "price"].median())
    passed, message = close(answer, expected, 0.01, "the median price of a purchase (US dollars)")
    if passed:
        overall = float(events["price"].median())
        side = "below" if expected < overall else "above" if expected > overall else "equal to"
        message += f" That is {side} the ${overall:.2f} of the median event of any type."
    return passed, message


TRUTH_FOLDER = {
    "a": "Right: the models build their inputs from data/interim/; kept there, a column such as "
         "true_purchase_prob would leak the answer into the features. In truth/, only evaluations open it.",
    "b": "No: a Parquet file holds columns of any mix of types; events.parquet already mixes "
         "categories, integers, floats and times.",
    "c": "Not the reason: a per-session value could be repeated on every event of its session, as "
         "user_session is. The folder exists to keep the truth away from the models' inputs.",
}


def truth_folder(answer, truth):
    """A choice: the ground truth is written apart so that no model reads it as input (a); the
    message names the columns this run keeps apart."""
    passed, message = one_of(answer, TRUTH_FOLDER, "a", "this question")
    if passed and truth:
        message += " Kept apart in this run: " + "; ".join(
            f"{name} ({', '.join(map(str, frame.columns[:6]))}, ...)" for name, frame in truth.items()) + "."
    return passed, message


CHECKS = {"01.1": returning_shoppers, "01.2": median_purchase_price, "01.3": truth_folder}
