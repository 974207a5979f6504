"""Which events of a simulated session truly raised its purchase probability.

The session engine (``engine._run_sessions``) sets a session's purchase logit from the user's
hidden context, plus ``ENGINE["buy_kept"]`` x log1p(items kept in the cart), minus
``ENGINE["buy_removed"]`` x items removed, plus a dwell term (long pauses between views).
The truth here is the cart term: the cart events that put an item into the cart which stays there
raise the logit by construction. The dwell term is left out (it belongs to the pauses, not to one
event), so this is the truth about carts, not every event's full effect. Real data has no such
truth; this is what lets notebooks check attributions against it.
"""

from __future__ import annotations

import numpy as np

from utils.data.features import EVENT_CODES

CART, REMOVE = EVENT_CODES["cart"], EVENT_CODES["remove_from_cart"]


def raising_events(event_type: np.ndarray, item: np.ndarray, length: np.ndarray, cart: int = CART,
                   remove: int = REMOVE) -> np.ndarray:
    """(sessions, time) booleans: within each session's first ``length`` events, the cart events
    that put an ``item`` into the cart where it stays until event ``length``. A remove of the
    item cancels its cart event; a second cart of an item already in the cart (a larger
    quantity) adds no item, so it is not counted; an item carted again after a remove counts
    at its new cart event. Removes of items carted before the session (a cart kept from an
    earlier visit) change nothing here. ``event_type`` holds the encoded types of the sequences
    (utils.data.features.EVENT_CODES, 0 = padding); ``item`` any id of the product of each event."""
    event_type, item = np.asarray(event_type), np.asarray(item)
    if event_type.shape != item.shape:
        raise ValueError(f"event_type has shape {event_type.shape} and item {item.shape}: "
                         "give one item id per event")
    truth = np.zeros(event_type.shape, bool)
    for row, n in enumerate(np.asarray(length)):
        in_cart = {}  # item -> the position of the cart event that put it there
        for position in range(int(n)):
            kind, product = event_type[row, position], item[row, position]
            if kind == cart and product not in in_cart:
                in_cart[product] = position
            elif kind == remove:
                in_cart.pop(product, None)
        truth[row, list(in_cart.values())] = True
    return truth
