"""benchmarks/token_content.py: exact entropies and lookups on hand-made tokens, the rare-code
report of a voice the training split never targets, and the phone table from corpus times."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import token_content  # benchmarks/token_content.py (tests/benchmarks/conftest.py)

from soundstorm.data import ShardWriter, TokenUtterance, write_manifest
from soundstorm.data.shards import SHARDS_DIRNAME
from soundstorm.semantic.phones import phone_id

CODEC = {"name": "fake", "sample_rate": 16000, "frame_rate": 10.0, "num_levels": 1,
         "codebook_size": 8}  # fmt: skip
SEMANTIC = {"name": "fake-sem", "frame_rate": 10.0, "vocab_size": 4}


def test_entropies_and_majority_maps_are_exact():
    keys = np.array([0, 0, 1, 1, 1, 1])
    values = np.array([5, 6, 7, 7, 7, 7])
    assert token_content.entropy_bits(np.array([1, 1, 2])) == pytest.approx(1.5)
    # H(v | k) = 2/6 x 1 bit (key 0: two values) + 4/6 x 0
    assert token_content.conditional_entropy_bits(keys, values) == pytest.approx(1 / 3)
    mapping = token_content.majority_map(keys, values)
    assert mapping == {0: 5, 1: 7}  # a tie goes to the smaller value
    assert token_content.map_accuracy(mapping, np.array([0, 1, 2]), np.array([5, 6, 9])) == (
        pytest.approx(1 / 3)  # key 2 was never seen: a miss
    )


def write_tokens(root, rows):
    """rows: (split, id, semantic ids, first-level codes)."""
    names = []
    for split in sorted({r[0] for r in rows}):
        writer = ShardWriter(root / SHARDS_DIRNAME / f"{split}-00000", CODEC, SEMANTIC)
        for _, uid, semantic, codes in (r for r in rows if r[0] == split):
            codes = np.asarray(codes, dtype=np.uint16)[None]
            writer.add(
                TokenUtterance(uid, codes, np.asarray(semantic, np.int32), codes.shape[1] / 10)
            )
        writer.write()
        names.append((f"{split}-00000", split))
    write_manifest(root, names, codec_path="codec")
    return root


def test_lookup_rare_codes_and_phones(tmp_path):
    # voice a: code = semantic id; voice b: code = semantic id + 4 (the voice matters)
    rows = [
        ("train", "a_1", [0, 1, 2, 3], [0, 1, 2, 3]),
        ("train", "b_1", [0, 1, 2, 3], [4, 5, 6, 7]),
        ("train", "a_2", [3, 2, 1, 0], [3, 2, 1, 0]),
        ("valid", "a_3", [1, 1, 2, 2], [1, 1, 2, 2]),
        ("valid", "b_2", [1, 1, 2, 2], [5, 5, 6, 6]),
        ("test", "c_1", [0, 1, 2, 3], [7, 7, 7, 0]),  # held out: code 7 has 1 training frame
    ]
    tokens = write_tokens(tmp_path / "tokens", rows)
    corpus = tmp_path / "corpus"
    (corpus / "phones").mkdir(parents=True)
    with open(corpus / "manifest.jsonl", "w") as handle:
        for uid in ("a_1", "b_1"):  # 4 frames at 10 frames/s: centres 0.05 .. 0.35 s
            record = {"phone_set": "cmu", "phones": [["pau", 0, 0.2], ["aa", 0.2, 0.4]]}
            (corpus / "phones" / f"{uid}.json").write_text(json.dumps(record))
            handle.write(json.dumps({"id": uid, "phones": f"phones/{uid}.json"}) + "\n")
        handle.write(json.dumps({"id": "a_2", "phones": ""}) + "\n")  # no times: left out
    report = token_content.analyse(str(tokens), str(corpus))
    lookup = {row["key"]: row for row in report["lookup"]}
    assert lookup["voice + semantic id"]["H(code | key) bits"] == pytest.approx(0.0)
    assert lookup["voice + semantic id"]["accuracy valid"] == 1.0
    assert lookup["voice + semantic id"]["accuracy test"] == 0.0  # voice c: unseen keys
    assert lookup["semantic id"]["accuracy valid"] == pytest.approx(0.5)  # a's codes win ties
    assert lookup["semantic id"]["H(code | key) bits"] > 0.5
    rare = {row["voice"]: row for row in report["rare_codes"]}
    assert rare["c"]["in training"] is False and rare["c"]["frames"] == 4
    assert rare["c"]["share of codes with < 10 training frames"] == 1.0  # every code is rare
    phones = report["phones"]
    assert phones["frames"] == 8  # a_1 and b_1 only
    # semantic ids 0,1 -> pau and 2,3 -> aa in both: the phone follows from the id
    assert phones["H(phone | semantic id) bits"] == pytest.approx(0.0)
    assert phones["mutual information bits"] == pytest.approx(1.0)
    assert phones["phone accuracy of the majority map"] == 1.0
    assert phone_id("pau") != phone_id("aa")


def test_missing_corpus_manifest_is_one_line(tmp_path, capsys):
    tokens = write_tokens(tmp_path / "tokens", [("train", "a_1", [0, 1], [0, 1])])
    assert token_content.main(["--tokens", str(tokens), "--corpus", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "manifest.jsonl" in err
    assert not math.isnan(token_content.analyse(str(tokens), None)["first_level_entropy_bits"])
