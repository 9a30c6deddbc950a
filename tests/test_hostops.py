"""The numpy host-side helpers give torch's answers (``dpdsl.hostops``): the frontier and the fixpoint
tests rely on them being the same values, bit for bit, including signed zeros, infinities and NaN."""

from __future__ import annotations

import math
import struct

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dpdsl import hostops
from dpdsl.runtime import differs

SPECIAL = st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan, 1.0, -2.5, 5e-324])
VALUES = st.lists(st.one_of(SPECIAL, st.floats(allow_nan=True, allow_infinity=True)), max_size=40)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(xs=VALUES, ys=VALUES)
def test_helpers_agree_with_torch(xs: list[float], ys: list[float]) -> None:
    k = min(len(xs), len(ys))
    a = torch.tensor(xs[:k], dtype=torch.float64)
    b = torch.tensor(ys[:k], dtype=torch.float64)
    mask = a < b
    assert hostops.any_true(mask) == bool(mask.any())
    assert hostops.all_ordered(a, b, down=True) == bool((a <= b).all())
    assert hostops.all_ordered(a, b, down=False) == bool((a >= b).all())
    assert hostops.zero_or_nan(a) == bool(((a == 0) | torch.isnan(a)).any())
    assert torch.equal(hostops.select(torch.arange(k), mask), torch.arange(k)[mask])
    assert torch.equal(hostops.flatnonzero(mask), mask.nonzero().flatten())


def test_zero_or_nan_edges() -> None:
    """Either zero, a NaN among infinities, a subnormal (not zero) and the empty tensor."""
    def f(xs: list[float]) -> torch.Tensor:
        return torch.tensor(xs, dtype=torch.float64)

    assert hostops.zero_or_nan(f([1.0, -0.0]))
    assert hostops.zero_or_nan(f([math.inf, math.nan, -math.inf]))
    assert not hostops.zero_or_nan(f([5e-324, -math.inf]))
    assert not hostops.zero_or_nan(torch.zeros(0, dtype=torch.float64))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(xs=VALUES, ys=VALUES, keep=st.lists(st.booleans(), min_size=40, max_size=40))
def test_round_change_tests(xs: list[float], ys: list[float], keep: list[bool]) -> None:
    """``bit_changes`` is a per-element comparison of the IEEE bit patterns (signed zeros and NaN
    payloads count); ``field_changes`` gives the same mask, ``all_ordered``'s directions and
    ``runtime.differs(...).any()`` (NaN equals NaN, -0 equals 0). Half the old values are copies of the
    new ones, so unchanged elements are common."""
    k = min(len(xs), len(ys))
    new = torch.tensor(xs[:k], dtype=torch.float64)
    old = torch.tensor([x if c else y for x, y, c in zip(xs[:k], ys[:k], keep, strict=False)],
                       dtype=torch.float64)
    bits = hostops.bit_changes(new, old)
    assert bits.tolist() == [struct.pack("<d", a) != struct.pack("<d", b)
                             for a, b in zip(new.tolist(), old.tolist(), strict=True)]
    same, held, changed = hostops.field_changes(new, old, (-1, 1), value=True)
    assert same.tolist() == bits.tolist() and changed == bool(differs(new, old).any())
    assert held == {d for d in (-1, 1) if hostops.all_ordered(new, old, down=d < 0)}
    assert hostops.field_changes(new, old, (-1,), value=False)[1:] == (held & {-1}, False)
    for other in (new > 0, new.to(torch.long)):  # bool and integer states compare by value
        moved = torch.roll(other, 1)
        assert hostops.field_changes(other, moved, value=True)[2] == (not torch.equal(other, moved))
