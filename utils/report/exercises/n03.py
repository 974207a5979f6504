"""Checks of 03_preprocessing: choosing the inactivity gap of sessionisation, the fastest human
shoppers, and how closely the 30-minute rule rebuilds the shop's own sessions."""

from __future__ import annotations

import pandas as pd

from utils.data import clean as cleaning
from utils.report.exercises import close


def rebuilt_sessions(events, gap_minutes):
    """Every event's session as the inactivity rule rebuilds it, ignoring user_session."""
    filled, _ = cleaning.sessionise(events.assign(user_session=pd.NA), gap_minutes)
    return filled


def closest_gap(answer, clean, gaps):
    """The gap (minutes, among ``gaps``) whose rebuilt sessions of the clean events are closest in
    number to the data's own sessions; any gap tied for closest is right."""
    own = clean["user_session"].nunique()
    counts = {gap: rebuilt_sessions(clean, gap).nunique() for gap in gaps}
    distance = {gap: abs(n - own) for gap, n in counts.items()}
    best = [gap for gap, d in distance.items() if d == min(distance.values())]
    table = ", ".join(f"{gap} min: {n:,}" for gap, n in counts.items())
    if answer in best:
        return True, f"the data has {own:,} sessions; the rule gives {table}. {answer} minutes comes closest."
    return False, (f"{answer!r} is not the closest: the data has {own:,} sessions. Rebuild the sessions with "
                   "each gap and compare their numbers.")


def fastest_human(answer, sessions, bots, min_events, max_per_minute):
    """The highest rate, (events - 1) per minute from first to last event, among sessions that are
    not bot-like and have at least ``min_events`` events; the message sets it against the bot
    rule's ``max_per_minute``."""
    human = sessions[~sessions.index.isin(bots.index) & (sessions["events"] >= min_events)]
    if human.empty:
        return False, f"no human session has {min_events} events or more: there is no rate to compare."
    rate = (human["events"] - 1) / (human["duration_s"] / 60)
    expected = float(rate.max())
    passed, message = close(answer, expected, 0.01 * expected,
                            f"the fastest human session with {min_events}+ events (events per minute)")
    if passed:
        message += (f" The bot rule starts at {max_per_minute:g} a minute, "
                    f"{max_per_minute / expected:.1f} times faster; the median of these {len(human):,} "
                    f"sessions runs at {rate.median():.1f} a minute.")
    return passed, message


def agreement(answer, clean, gap_minutes):
    """The share of the data's sessions that the ``gap_minutes`` rule rebuilds exactly: all their
    events in one rebuilt session, which holds no event of another session."""
    pairs = pd.DataFrame({"own": clean["user_session"].astype("str").to_numpy(),
                          "rule": rebuilt_sessions(clean, gap_minutes).to_numpy()}).drop_duplicates()
    whole = pairs.groupby("own")["rule"].transform("size").eq(1)  # one rebuilt session per own one
    alone = pairs.groupby("rule")["own"].transform("size").eq(1)  # ... holding nothing else
    expected = float((whole & alone).sum() / pairs["own"].nunique())
    passed, message = close(answer, expected, 0.001,
                            f"the share of sessions the {gap_minutes:g}-minute rule rebuilds exactly")
    if passed:
        message += (" The others are cut in two by a pause longer than the gap, or merged with another "
                    "session of the same shopper that started within it.")
    else:
        message += " A session counts only if it maps to one rebuilt session and that one to it alone."
    return passed, message


CHECKS = {"03.1": closest_gap, "03.2": fastest_human, "03.3": agreement}
