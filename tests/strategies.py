"""Hypothesis strategies shared by the tests: any JSON value, and steer-like control requests."""

from __future__ import annotations

from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5),
    max_leaves=30,
)
steer_like = st.fixed_dictionaries(
    {"type": st.just("steer")},
    optional={
        "id": json_values, "prompt": json_values, "seed": json_values, "denoising": json_values,
        "guidance": json_values, "transition_chunks": json_values, "negative_prompt": json_values,
        "prompts": st.lists(st.dictionaries(st.sampled_from(["text", "weight", "x"]), json_values, max_size=3), max_size=10),
    },
)
