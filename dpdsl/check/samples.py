"""Samples pass: the ``sample`` section (a graph family and one distribution per input) is optional,
but when present it must be able to draw every input, so ``dpdsl run --sample`` and teacher training
never fail half-way.
"""

from __future__ import annotations

from dpdsl import limits
from dpdsl import sampling as S
from dpdsl.check.state import CheckState, did_you_mean
from dpdsl.frontend import ast as A
from dpdsl.graphs import generators as G
from dpdsl.ir import SampleIR
from dpdsl.types import ENUM, INT, Type

MAX_SAMPLE_NODES = 2**31 - 1  # node ids stay exact in int32 / float64 and numpy's int64 draws


def check_samples(st: CheckState) -> None:
    """A ``sample graph`` clause, a valid sampler for every input, or no sample section at all."""
    gs, ins = st.take(A.SampleGraphDecl), st.take(A.SampleInputDecl)
    lengths = st.take(A.SampleLengthDecl)
    if st.domain not in ("nodes", "pairs"):
        _sequence_samples(st, gs, ins, lengths)
        return
    if lengths:
        raise st.err("'sample length' is for sequence domains; graph specs use 'sample graph ...'", lengths[0].pos)
    if not gs and not ins:
        return
    if not gs:
        raise st.err("sample clauses need a 'sample graph FAMILY nodes LO..HI' clause", ins[0].pos)
    family_args = _graph_clause(st, gs[0])
    samples = tuple(_input_clause(st, d) for d in ins)
    seen = {d.name for d in ins}
    for name in st.inputs:
        if name not in seen:  # pointed at the input lacking one, as a state lacking an init is
            raise st.err(f"input '{name}' has no sample clause; add 'sample {name} ...' to the sample section",
                         st.names[name].name_pos)
    g = gs[0]
    st.sample = SampleIR(g.family, family_args, (g.lo, g.hi), samples)


def _sequence_samples(st: CheckState, gs: list[A.SampleGraphDecl], ins: list[A.SampleInputDecl],
                      lengths: list[A.SampleLengthDecl]) -> None:
    """A sequence domain samples a total length and one per-position distribution per input (§12)."""
    if gs:
        raise st.err(f"a {st.domain} spec has no graph; sample 'length LO..HI' instead", gs[0].pos)
    if not lengths and not ins:
        return
    if not lengths:
        raise st.err("sample clauses need a 'sample length LO..HI' clause", ins[0].pos)
    g = lengths[0]
    lo_min = 2 if st.domain == "grid" else 1  # a grid needs one position in each sequence
    if g.lo < lo_min or g.lo > g.hi or g.hi > limits.cap("nodes"):
        raise st.err(f"bad length range {g.lo}..{g.hi}; need {lo_min} <= lo <= hi", g.pos)
    samples = tuple(_input_clause(st, d) for d in ins)
    seen = {d.name for d in ins}
    for name in st.inputs:
        if name not in seen:
            raise st.err(f"input '{name}' has no sample clause; add 'sample {name} ...'", g.pos)
    st.sample = SampleIR("", (), (g.lo, g.hi), samples)


def _graph_clause(st: CheckState, g: A.SampleGraphDecl) -> tuple[tuple[str, float], ...]:
    """The family exists, fits the graph kind, takes these named arguments; the node range is sane."""
    fam = G.FAMILIES.get(g.family)
    if fam is None:
        raise st.err(f"unknown graph family '{g.family}'; expected one of {', '.join(G.FAMILIES)}"
                     + did_you_mean(g.family, G.FAMILIES), g.family_pos)
    if not S.family_fits(fam, st.kind):
        raise st.err(f"graph family '{g.family}' does not produce {st.kind} graphs", g.family_pos)
    kwargs = []
    for a in g.call_args:
        if a.keyword is None:
            raise st.err("graph family arguments are named, e.g. er(p = 0.5)", a.pos)
        problem = S.check_family_arg(fam, a.keyword, a.value)
        if problem:
            raise st.err(problem, a.pos)
        kwargs.append((a.keyword, a.value))
    if g.lo < 1 or g.lo > g.hi or g.hi > MAX_SAMPLE_NODES:
        raise st.err(f"bad node range {g.lo}..{g.hi}; need 1 <= lo <= hi <= {MAX_SAMPLE_NODES}", g.family_pos)
    if g.hi > limits.cap("nodes"):  # refused here, not after a failed allocation at run time
        raise st.err(str(limits.exceeded("nodes", g.hi, "the largest sampled graph")), g.family_pos)
    return tuple(kwargs)


def _input_clause(st: CheckState, d: A.SampleInputDecl) -> tuple[str, str, tuple[float, ...]]:
    """The input exists and the sampler, with these positional arguments, only draws values it admits."""
    if d.name not in st.inputs:
        raise st.err(f"'sample {d.name}' names no declared input" + did_you_mean(d.name, st.inputs), d.name_pos)
    inp = st.inputs[d.name]
    for a in d.call_args:
        if a.keyword is not None:
            raise st.err("sampler arguments are positional, e.g. uniform(0, 1)", a.pos)
    args = tuple(a.value for a in d.call_args)
    ty = inp.type  # an enum value is a label index: check the sampler against 0..len-1
    if ty.kind == ENUM:
        ty = Type(INT, 0.0, float(len(ty.labels) - 1))
    problem = S.check_sampler(d.sampler, args, ty, "node" if inp.site == "pos" else inp.site)
    if problem:  # an unknown sampler is pointed at; a bad draw at the input it is for
        if d.sampler not in G.SAMPLERS:
            raise st.err(problem + did_you_mean(d.sampler, G.SAMPLERS), d.sampler_pos)
        raise st.err(problem, d.name_pos)
    return d.name, d.sampler, args
