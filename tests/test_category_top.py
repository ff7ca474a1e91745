"""One function names a page's top category (issue 30): :func:`mchmc.modelconfig.top_category`, with one
tie rule, the first of the most probable in order (what ``max(probs, key=probs.get)`` did on a dict and
``np.argmax`` on an array), for the batch report, ``UpscaledPage.category``, the experiment, validation
and Grad-CAM."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("probs, categories, top", [
    ({"nature": 0.2, "manga": 0.4, "text": 0.4}, None, "manga"),  # a tie: the first in order
    ({"text": 0.4, "manga": 0.4, "nature": 0.2}, None, "text"),
    (np.array([0.3, 0.3, 0.3]), ("nature", "manga", "text"), "nature"),
    (np.array([0.1, 0.2, 0.7]), ("nature", "manga", "text"), "text"),
])
def test_the_top_category_is_the_first_of_the_most_probable(probs, categories, top):
    """One tie rule, np.argmax's (the first index) and ``max(d, key=d.get)``'s (the first key)."""
    from mchmc.modelconfig import top_category
    from mchmc.pages.meta import PageMeta, UpscaledPage

    assert top_category(probs, categories) == top
    as_dict = probs if categories is None else dict(zip(categories, map(float, probs)))
    assert top_category(as_dict) == top == max(as_dict, key=as_dict.get)
    if categories is not None:
        assert categories[int(np.argmax(probs))] == top
    meta = PageMeta(path="", format="PNG", mode="L", bits=8, width=1, height=1)
    assert UpscaledPage(np.zeros((2, 2), np.uint8), meta, meta, as_dict).category == top
