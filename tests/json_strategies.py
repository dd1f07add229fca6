"""Hypothesis strategies for JSON the fuzz tests feed to parsers (carriers, tool arguments).

Why shared: every parser of peer JSON is fuzzed with the same two shapes, nested JSON values and
`{"event": …}` messages with some of the expected keys holding any of them; only the sizes and
the key names differ per parser.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from hypothesis import strategies as st


def json_values(
    *, floats: bool = True, text_size: int = 20, key_size: int = 10, size: int = 4, leaves: int = 12
) -> st.SearchStrategy:
    """Nested JSON values: scalars, lists and objects of at most `size` items, `leaves` leaves."""
    scalars = [st.none(), st.booleans(), st.integers()]
    if floats:
        scalars.append(st.floats(allow_nan=False))
    scalars.append(st.text(max_size=text_size))
    return st.recursive(
        st.one_of(scalars),
        lambda inner: (
            st.lists(inner, max_size=size)
            | st.dictionaries(st.text(max_size=key_size), inner, max_size=size)
        ),
        max_leaves=leaves,
    )


def event_messages(
    events: Sequence[str | None], keys: Sequence[str], values: st.SearchStrategy, max_keys: int
) -> st.SearchStrategy[str]:
    """`{"event": one of events, …}` as JSON text, with up to `max_keys` of `keys` set to values."""
    return st.builds(
        lambda e, body: json.dumps({"event": e, **body}),
        st.sampled_from(list(events)),
        st.dictionaries(st.sampled_from(list(keys)), values, max_size=max_keys),
    )
