"""The one encoder of the big documents: the JSON the standard library wrote, faster."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from runwatch import json_out

_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_values)
def test_same_document_as_the_standard_library(value):
    assert json.loads(json_out.dumps(value)) == json.loads(json.dumps(value))
    assert json.loads(json_out.dumps(value, indent=True, ascii=True)) == json.loads(json.dumps(value, indent=2))
    assert json_out.dumps(value, ascii=True).isascii()


def test_ascii_output_escapes_like_json_dumps():
    doc = {"run": "a/\u202ebidi/\u009b/\U0001f600/\x1b[31m", "n": [1, 2.5, None, True]}
    assert json_out.dumps(doc, indent=True, ascii=True) == json.dumps(doc, indent=2)


def test_non_finite_numbers_never_become_bare_tokens():
    text = json_out.dumps({"a": math.nan, "b": [math.inf, -math.inf], "safe": "NaN"})
    assert "NaN," not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [None, None], "safe": "NaN"}


def test_what_orjson_cannot_write_goes_to_the_standard_library():
    assert json.loads(json_out.dumps({"big": 2**80, 3: "int key"})) == {"big": 2**80, "3": "int key"}
    assert json_out.dumps({"x": object()}, default=lambda o: "obj") == '{"x":"obj"}'
