"""Token data: the token file format, memory-mapped shards, the dataset, ``prepare``.

    from soundstorm.data import TokenShardDataset
    ds = TokenShardDataset("data/tokens", split="train")
    ds[0]  # {"id", "codes" uint16 [Q, T], "semantic" int64 [T], "duration"}

See docs/data.md for the on-disk layout.
"""

from soundstorm.data.dataset import TokenShardDataset
from soundstorm.data.shards import ShardWriter, open_shard, read_manifest, write_manifest
from soundstorm.data.token_format import (
    FORMAT_VERSION,
    TokenFile,
    TokenUtterance,
    load_tokens,
    save_tokens,
)

__all__ = [
    "FORMAT_VERSION",
    "ShardWriter",
    "TokenFile",
    "TokenShardDataset",
    "TokenUtterance",
    "load_tokens",
    "open_shard",
    "read_manifest",
    "save_tokens",
    "write_manifest",
]
