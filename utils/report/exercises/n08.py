"""Checks of notebook 08 (precision marketing): the break-even contact cost, a
class-transformation uplift model and the budget under a homogeneous effect."""

from __future__ import annotations

import numpy as np

from utils.report.exercises import close, one_of
from utils.tasks import marketing


def break_even_cost(answer, *, y_test, margin) -> tuple[bool, str]:
    """The contact cost above which contacting every test session realises a loss:
    margin x buyers = n x cost, so cost = margin x (share of sessions that buy)."""
    expected = margin * float(np.mean(y_test))
    passed, message = close(answer, expected, 0.01, "the break-even contact cost ($ per contact)")
    if passed:
        message += (" Above it, contacting everyone loses money; the budget rule then contacts only "
                    "sessions with p above cost / margin.")
    return passed, message


def class_transformation(answer, *, x_all, train, campaign, learner, seed,
                         t_learner_qini) -> tuple[bool, str]:
    """The Qini coefficient, on the held-out users, of the class-transformation uplift
    2 P(z = 1 | x) - 1, with z = 1 for contacted buyers and not-contacted non-buyers, the
    classifier ``marketing.make_classifier(learner, seed)`` fitted on the training half."""
    z = (campaign["treated"] == campaign["outcome"]).astype(int).to_numpy()
    model = marketing.make_classifier(learner, seed).fit(x_all[train], z[train])
    uplift = 2 * model.predict_proba(x_all[~train])[:, 1] - 1
    held = campaign[~train]
    curve = marketing.qini_curve(held["outcome"], held["treated"], uplift)
    expected = float(marketing.qini_coefficient(curve))
    passed, message = close(answer, expected, 1e-5, "the Qini coefficient of the class-transformation model")
    if passed:
        message += (f" The T-learner's is {t_learner_qini:.4g}: the one-model estimate "
                    f"{'beats' if expected > t_learner_qini else 'does not beat'} it on this campaign.")
    elif abs(float(answer) - t_learner_qini) <= 1e-5:
        message = "that is the T-learner's Qini coefficient: rank the held-out users by 2 P(z = 1 | x) - 1."
    return passed, message


def homogeneous_budget(answer, *, margin, contact_cost, effect) -> tuple[bool, str]:
    """The best budget when every user gains the same ``effect`` from a contact: all or nothing,
    as margin x effect is above or below the contact cost."""
    worth = margin * effect > contact_cost
    choices = {
        "a": ("nobody: right, a contact brings margin x effect = "
              f"${margin * effect:.2f} of extra orders, less than its ${contact_cost:.2f}."
              if not worth else
              f"not nobody: a contact brings ${margin * effect:.2f} of extra orders, more than its "
              f"${contact_cost:.2f}."),
        "b": ("not a top share: every user gains the same, so no ranking can pick better users; "
              "the incremental profit is a straight line in the budget."),
        "c": (f"everyone: right, each contact brings ${margin * effect:.2f} of extra orders, more "
              f"than its ${contact_cost:.2f}; with one effect for all, ranking does not matter."
              if worth else
              f"not everyone: a contact brings ${margin * effect:.2f} of extra orders, less than its "
              f"${contact_cost:.2f}; each one loses money."),
    }
    return one_of(answer, choices, "c" if worth else "a", "the best budget")


CHECKS = {"08.1": break_even_cost, "08.2": class_transformation, "08.3": homogeneous_budget}
