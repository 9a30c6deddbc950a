"""Named random streams from one seed (docs/architecture.md §2): ``numpy.random.SeedSequence`` children.

A config lists its streams once, in a fixed order (append only: a stream's index is its key), and asks
for ``stream_seed(seed, STREAMS, "name")``. Streams are independent by construction, so adding one at
the end changes no other; this replaces ad-hoc offsets such as ``seed + 7919``.
"""

from __future__ import annotations

import numpy as np


def stream_seed(seed: int, streams: tuple[str, ...], name: str, *key: int) -> int:
    """The 32-bit seed of stream ``name`` of ``streams`` under ``seed`` (optionally sub-keyed)."""
    ss = np.random.SeedSequence(seed, spawn_key=(streams.index(name), *key))
    return int(ss.generate_state(1, np.uint32)[0])
