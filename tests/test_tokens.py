"""One range rule and one message for token ids, whatever their container and their source."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from soundstorm.errors import SoundStormError
from soundstorm.tokens import check_token_range, id_bounds, out_of_range_message


def test_message_names_the_value_the_range_and_where_the_limit_comes_from():
    message = out_of_range_message("code", 0, 1030, 1024, source="codebook_size", where="x.tokens")
    assert message == (
        "x.tokens: code 1030 out of range: codes must be in [0, 1024) (codebook_size)"
    )
    assert out_of_range_message("semantic id", -1, 900, 500) == (
        "semantic id -1 out of range: semantic ids must be in [0, 500)"
    ), "a negative id is named first"
    assert out_of_range_message("cond id", 0, 499, 500) is None
    assert out_of_range_message("index", 3, 3, 3, plural="indices").endswith(
        "indices must be in [0, 3)"
    )


@pytest.mark.parametrize("container", [np.asarray, torch.as_tensor])
def test_check_reads_numpy_and_tensors_and_raises_the_asked_type(container):
    ids = container(np.array([[0, 5], [7, 2]], dtype=np.int64))
    assert id_bounds(ids) == (0, 7)
    check_token_range(ids, 8, "code")
    with pytest.raises(
        SoundStormError, match=r"^u1: code 7 out of range: codes must be in \[0, 7\)"
    ):
        check_token_range(ids, 7, "code", where="u1")
    with pytest.raises(ValueError, match=r"\(no mask id\)$"):
        check_token_range(ids, 7, "code", source="no mask id", error=ValueError)
    empty = container(np.zeros((2, 0), dtype=np.int64))
    assert id_bounds(empty) is None
    check_token_range(empty, 1, "code")  # nothing to check
