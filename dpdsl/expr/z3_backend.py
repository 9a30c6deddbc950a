"""The z3 backend: a typed expression encoded as an SMT term over symbolic local arguments.

What ``dpdsl verify`` proves with (``dpdsl.certify``). Two numeric *domains* share one visitor:

``ExtReal`` (the default; docs/certificates.md §2)
    A number is a *tagged* pair ``(tag, r)``: ``tag`` is one of ``FIN``, ``PINF``, ``NINF``, ``NAN`` (a z3
    Int) and ``r`` a z3 Real that matters only when ``tag == FIN``. Finite arithmetic is exact rational
    arithmetic (float64 rounding and overflow are not modelled); the infinities and NaN follow torch's
    IEEE rules exactly: ``inf - inf``, ``0 * inf``, ``inf / inf`` and anything with a NaN operand are NaN,
    every comparison with a NaN is false except ``!=``, ``min``/``max`` propagate NaN as
    ``torch.minimum``/``torch.maximum`` do. Signed zeros are not modelled, so the one place their sign is
    observable, division by zero (``1 / -0 = -inf``), is *excluded*: each divisor contributes an
    exclusion "divisor != 0" (:attr:`Z3Encoder.exclusions`) that the certificate states.
    Literals are the exact rationals of their float64 values, so ``0.1`` means what torch computes with.

``Float64``
    A number is a z3 IEEE-754 binary64 term with round-to-nearest-even: bit-exact torch CPU semantics of
    ``+ - * /``, comparisons, ``abs`` and ``-``, signed zeros and NaN included, with nothing excluded.
    The one thing torch itself leaves open is which zero ``torch.minimum(-0.0, 0.0)`` returns (its
    scalar and vectorised kernels differ); the encoding leaves that choice free, so a proof holds for
    either.

Both domains: arguments never take NaN (no value of a dpdsl type is NaN, ``Type.admits``; graph inputs
are validated) but intermediate results may; ``int`` arguments are integers or ``±inf`` within their
declared range, ``node`` arguments non-negative integers, enums label indices ``0..len-1``; bools are z3
Bools. Every operator of ``dpdsl.expr.ops`` and the registry functions ``min``/``max``/``abs`` are
encoded; anything else (an aggregate, an ``x[u]`` index, a builtin, a plugin's function or operator) is
refused with :class:`Unencodable`, naming it.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import z3

from dpdsl.expr import nodes as N
from dpdsl.expr.ops import BINARY, UNARY
from dpdsl.registry import FUNCTIONS
from dpdsl.types import BOOL, ENUM, INT, NODE, REAL, Type

FIN, PINF, NINF, NAN = 0, 1, 2, 3


class Unencodable(Exception):
    """An expression the z3 backend cannot encode (the message names what and why)."""


@dataclass(frozen=True)
class XR:
    """An extended real: ``tag`` (FIN/PINF/NINF/NAN) and the finite value ``r`` (meaningful iff FIN)."""

    tag: z3.ArithRef
    r: z3.ArithRef


Num = XR | z3.FPRef
Val = z3.BoolRef | XR | z3.FPRef


def _rational(x: float) -> z3.RatNumRef:
    f = Fraction(x)
    return z3.RealVal(f"{f.numerator}/{f.denominator}") if f.denominator != 1 else z3.RealVal(f.numerator)


class Domain:
    """Numeric semantics: constants, symbolic arguments, operators, output equality, model values."""

    name = ""

    def __init__(self) -> None:
        self.exclusions: list[tuple[z3.BoolRef, str]] = []  # (condition assumed false, what it is)

    # constants and variables
    def const(self, x: float) -> Num: raise NotImplementedError
    def var(self, name: str, ty: Type, nan_ok: bool = False) -> tuple[Num, list[z3.BoolRef]]:
        raise NotImplementedError
    # operators
    def add(self, a: Num, b: Num) -> Num: raise NotImplementedError
    def neg(self, a: Num) -> Num: raise NotImplementedError
    def mul(self, a: Num, b: Num) -> Num: raise NotImplementedError
    def div(self, a: Num, b: Num, where: str) -> Num: raise NotImplementedError
    def lt(self, a: Num, b: Num) -> z3.BoolRef: raise NotImplementedError
    def eq(self, a: Num, b: Num) -> z3.BoolRef: raise NotImplementedError
    def is_nan(self, a: Num) -> z3.BoolRef: raise NotImplementedError
    def ite(self, c: z3.BoolRef, a: Num, b: Num) -> Num: raise NotImplementedError
    def absval(self, a: Num) -> Num: raise NotImplementedError
    def floor(self, a: Num) -> Num: raise NotImplementedError
    def nan(self) -> Num: raise NotImplementedError
    def value(self, model: z3.ModelRef, a: Num) -> float: raise NotImplementedError

    def sub(self, a: Num, b: Num) -> Num:
        return self.add(a, self.neg(b))  # exact in both domains: a - b == a + (-b) in IEEE too

    def floordiv(self, a: Num, b: Num, where: str) -> Num:
        """``a // b`` = ``floor(a / b)`` (``dpdsl.runtime.floor_div``)."""
        return self.floor(self.div(a, b, where))

    def floormod(self, a: Num, b: Num, where: str) -> Num:
        """``a % b`` = ``a - b * floor(a / b)`` (``dpdsl.runtime.floor_mod``), the same operations."""
        return self.sub(a, self.mul(b, self.floordiv(a, b, where)))

    def le(self, a: Num, b: Num) -> z3.BoolRef:
        return z3.Or(self.lt(a, b), self.eq(a, b))

    def same(self, a: Num, b: Num) -> z3.BoolRef:
        """Output equality: equal as numbers (``-0 == 0``), or both NaN (as the executor's fixpoint test)."""
        return z3.Or(self.eq(a, b), z3.And(self.is_nan(a), self.is_nan(b)))

    def tie(self, a: Num, b: Num) -> Num:
        """What ``torch.minimum``/``maximum`` return when neither operand is smaller: ``a``."""
        return a

    def minimum(self, a: Num, b: Num) -> Num:
        """``torch.minimum``: NaN if either is NaN, else the smaller (``tie`` when equal)."""
        either = z3.Or(self.is_nan(a), self.is_nan(b))
        return self.ite(either, self.nan(), self.ite(self.lt(b, a), b, self.ite(self.lt(a, b), a, self.tie(a, b))))

    def maximum(self, a: Num, b: Num) -> Num:
        either = z3.Or(self.is_nan(a), self.is_nan(b))
        return self.ite(either, self.nan(), self.ite(self.lt(a, b), b, self.ite(self.lt(b, a), a, self.tie(a, b))))

    def in_type(self, x: Num, ty: Type, nan_ok: bool = False) -> z3.BoolRef:
        """``x`` is a value of ``ty`` (range, integrality, no NaN unless ``nan_ok``): a certificate's domain."""
        raise NotImplementedError

    def _range(self, x: Num, ty: Type) -> list[z3.BoolRef]:
        cons = []
        if ty.lo is not None:
            lo = self.const(ty.lo)
            cons.append(self.lt(lo, x) if ty.lo_strict else self.le(lo, x))
        if ty.hi is not None:
            hi = self.const(ty.hi)
            cons.append(self.lt(x, hi) if ty.hi_strict else self.le(x, hi))
        return cons


class ExtReal(Domain):
    """Reals with ``±inf`` and NaN as tags; exact rational arithmetic on the finite part."""

    name = "extended reals"

    def _mk(self, tag: Any, r: Any) -> XR:
        return XR(tag if isinstance(tag, z3.ExprRef) else z3.IntVal(tag),
                  r if isinstance(r, z3.ExprRef) else z3.RealVal(r))

    def const(self, x: float) -> XR:
        if math.isnan(x):
            return self._mk(NAN, 0)
        if math.isinf(x):
            return self._mk(PINF if x > 0 else NINF, 0)
        return XR(z3.IntVal(FIN), _rational(x))

    def nan(self) -> XR:
        return self._mk(NAN, 0)

    def var(self, name: str, ty: Type, nan_ok: bool = False) -> tuple[XR, list[z3.BoolRef]]:
        x = XR(z3.Int(f"{name}.tag"), z3.Real(name))
        return x, [self.in_type(x, ty, nan_ok), z3.Implies(x.tag != FIN, x.r == 0)]  # r pinned: unique models

    def in_type(self, x: XR, ty: Type, nan_ok: bool = False) -> z3.BoolRef:
        base = z3.And([x.tag >= FIN, x.tag <= NINF] + self._in_type_rest(x, ty))
        return z3.Or(x.tag == NAN, base) if nan_ok else base  # the range applies to the non-NaN values

    def _in_type_rest(self, x: XR, ty: Type) -> list[z3.BoolRef]:
        cons = []
        if ty.kind in (NODE, ENUM):
            cons.append(x.tag == FIN)
        if ty.kind in (INT, NODE, ENUM):
            cons.append(z3.Implies(x.tag == FIN, z3.IsInt(x.r)))
        if ty.kind == NODE:
            cons.append(x.r >= 0)
        if ty.kind == ENUM:
            cons += [x.r >= 0, x.r <= len(ty.labels) - 1]
        return cons + self._range(x, ty)

    def is_nan(self, a: XR) -> z3.BoolRef:
        return a.tag == NAN

    def ite(self, c: z3.BoolRef, a: XR, b: XR) -> XR:
        return XR(z3.If(c, a.tag, b.tag), z3.If(c, a.r, b.r))

    def add(self, a: XR, b: XR) -> XR:
        nan = z3.Or(a.tag == NAN, b.tag == NAN, z3.And(a.tag == PINF, b.tag == NINF),
                    z3.And(a.tag == NINF, b.tag == PINF))
        pinf = z3.Or(a.tag == PINF, b.tag == PINF)
        ninf = z3.Or(a.tag == NINF, b.tag == NINF)
        tag = z3.If(nan, NAN, z3.If(pinf, PINF, z3.If(ninf, NINF, FIN)))
        return XR(tag, z3.If(tag == FIN, a.r + b.r, 0))

    def neg(self, a: XR) -> XR:
        tag = z3.If(a.tag == PINF, NINF, z3.If(a.tag == NINF, PINF, a.tag))
        return XR(tag, -a.r)

    def _sign(self, a: XR) -> z3.ArithRef:
        """-1, 0 or 1 (for non-NaN values)."""
        return z3.If(a.tag == PINF, 1, z3.If(a.tag == NINF, -1, z3.If(a.r > 0, 1, z3.If(a.r < 0, -1, 0))))

    def mul(self, a: XR, b: XR) -> XR:
        inf = z3.Or(a.tag == PINF, a.tag == NINF, b.tag == PINF, b.tag == NINF)
        sa, sb = self._sign(a), self._sign(b)
        nan = z3.Or(a.tag == NAN, b.tag == NAN, z3.And(inf, z3.Or(sa == 0, sb == 0)))
        tag = z3.If(nan, NAN, z3.If(inf, z3.If(sa == sb, PINF, NINF), FIN))
        return XR(tag, z3.If(tag == FIN, a.r * b.r, 0))

    def div(self, a: XR, b: XR, where: str) -> XR:
        b_zero = z3.And(b.tag == FIN, b.r == 0)
        self.exclusions.append((b_zero, f"the divisor of '{where}' is 0 (the sign of a zero is not modelled)"))
        a_inf = z3.Or(a.tag == PINF, a.tag == NINF)
        b_inf = z3.Or(b.tag == PINF, b.tag == NINF)
        nan = z3.Or(a.tag == NAN, b.tag == NAN, z3.And(a_inf, b_inf))
        sa, sb = self._sign(a), self._sign(b)
        # inf / finite: the sign of the quotient (b = 0 is excluded)
        tag = z3.If(nan, NAN, z3.If(a_inf, z3.If(sa == sb, PINF, NINF), FIN))
        # finite / inf is 0; finite / nonzero finite is the quotient (b = 0 is excluded above)
        r = z3.If(b_inf, z3.RealVal(0), a.r / z3.If(b_zero, z3.RealVal(1), b.r))
        return XR(tag, z3.If(tag == FIN, r, 0))

    def lt(self, a: XR, b: XR) -> z3.BoolRef:
        return z3.Or(z3.And(a.tag == NINF, z3.Or(b.tag == FIN, b.tag == PINF)),
                     z3.And(a.tag == FIN, b.tag == PINF),
                     z3.And(a.tag == FIN, b.tag == FIN, a.r < b.r))

    def eq(self, a: XR, b: XR) -> z3.BoolRef:
        return z3.And(a.tag != NAN, a.tag == b.tag, z3.Implies(a.tag == FIN, a.r == b.r))

    def absval(self, a: XR) -> XR:
        tag = z3.If(a.tag == NINF, PINF, a.tag)
        return XR(tag, z3.If(a.r < 0, -a.r, a.r))

    def floor(self, a: XR) -> XR:
        return XR(a.tag, z3.If(a.tag == FIN, z3.ToReal(z3.ToInt(a.r)), 0))  # ToInt is the floor

    def value(self, model: z3.ModelRef, a: XR) -> float:
        tag = model.eval(a.tag, model_completion=True).as_long()
        if tag != FIN:
            return {PINF: math.inf, NINF: -math.inf}.get(tag, math.nan)
        return float(exact_value(model, a))


def exact_value(model: z3.ModelRef, a: XR) -> Fraction:
    """The exact rational finite part of an extended real in a model."""
    v = model.eval(a.r, model_completion=True)
    if z3.is_algebraic_value(v):
        v = v.approx(40)
    return Fraction(v.numerator_as_long(), v.denominator_as_long())


F64 = z3.Float64()


class Float64(Domain):
    """IEEE-754 binary64, round-to-nearest-even: torch's float64 semantics bit for bit."""

    name = "float64"

    def __init__(self) -> None:
        super().__init__()
        self._ties: dict[tuple[int, int], z3.BoolRef] = {}
        self.rm = z3.RNE()

    def const(self, x: float) -> z3.FPRef:
        return z3.FPVal(x, F64) if not math.isnan(x) else z3.fpNaN(F64)

    def nan(self) -> z3.FPRef:
        return z3.fpNaN(F64)

    def var(self, name: str, ty: Type, nan_ok: bool = False) -> tuple[z3.FPRef, list[z3.BoolRef]]:
        x = z3.FP(name, F64)
        return x, [self.in_type(x, ty, nan_ok)]

    def in_type(self, x: z3.FPRef, ty: Type, nan_ok: bool = False) -> z3.BoolRef:
        cons: list[z3.BoolRef] = []
        integral = z3.fpEQ(z3.fpRoundToIntegral(self.rm, x), x)
        if ty.kind in (INT,):
            cons.append(z3.Or(z3.fpIsInf(x), integral))
        if ty.kind in (NODE, ENUM):
            cons += [z3.Not(z3.fpIsInf(x)), integral, z3.fpGEQ(x, self.const(0.0))]
        if ty.kind == ENUM:
            cons.append(z3.fpLEQ(x, self.const(float(len(ty.labels) - 1))))
        rest = z3.And(cons + self._range(x, ty))
        return z3.Or(z3.fpIsNaN(x), rest) if nan_ok else z3.And(z3.Not(z3.fpIsNaN(x)), rest)

    def is_nan(self, a: z3.FPRef) -> z3.BoolRef:
        return z3.fpIsNaN(a)

    def ite(self, c: z3.BoolRef, a: z3.FPRef, b: z3.FPRef) -> z3.FPRef:
        return z3.If(c, a, b)

    def add(self, a: z3.FPRef, b: z3.FPRef) -> z3.FPRef:
        return z3.fpAdd(self.rm, a, b)

    def sub(self, a: z3.FPRef, b: z3.FPRef) -> z3.FPRef:
        return z3.fpSub(self.rm, a, b)

    def neg(self, a: z3.FPRef) -> z3.FPRef:
        return z3.fpNeg(a)

    def mul(self, a: z3.FPRef, b: z3.FPRef) -> z3.FPRef:
        return z3.fpMul(self.rm, a, b)

    def div(self, a: z3.FPRef, b: z3.FPRef, where: str) -> z3.FPRef:
        return z3.fpDiv(self.rm, a, b)

    def lt(self, a: z3.FPRef, b: z3.FPRef) -> z3.BoolRef:
        return z3.fpLT(a, b)

    def le(self, a: z3.FPRef, b: z3.FPRef) -> z3.BoolRef:
        return z3.fpLEQ(a, b)

    def eq(self, a: z3.FPRef, b: z3.FPRef) -> z3.BoolRef:
        return z3.fpEQ(a, b)

    def absval(self, a: z3.FPRef) -> z3.FPRef:
        return z3.fpAbs(a)

    def floor(self, a: z3.FPRef) -> z3.FPRef:
        return z3.fpRoundToIntegral(z3.RTN(), a)  # torch.floor: exact, keeps signed zeros, inf and NaN

    def tie(self, a: z3.FPRef, b: z3.FPRef) -> z3.FPRef:
        # equal operands differ at most in the sign of a zero, which torch leaves to the kernel: a free
        # choice, shared by identical calls (z3 hash-conses terms) so min(a, b) stays equal to itself
        key = (a.get_id(), b.get_id())
        if key not in self._ties:
            self._ties[key] = z3.Bool(f"tie!{len(self._ties)}")
        return z3.If(self._ties[key], a, b)

    def value(self, model: z3.ModelRef, a: z3.FPRef) -> float:
        if z3.is_true(model.eval(z3.fpIsNaN(a), model_completion=True)):
            return math.nan  # fpToIEEEBV leaves a NaN's bits unspecified (z3 may say 0)
        bits = model.eval(z3.fpToIEEEBV(a), model_completion=True).as_long()
        return struct.unpack("<d", struct.pack("<Q", bits))[0]


DOMAINS: dict[str, Callable[[], Domain]] = {"real": ExtReal, "float64": Float64}

# the registry functions this backend knows, by identity: a plugin that re-registers ``min`` with other
# semantics must not be proved with these
_KNOWN_FUNCTIONS = {name: FUNCTIONS[name].torch_fn for name in ("min", "max", "abs")}


class Z3Encoder(N.Visitor[Val]):
    """Encode typed node-local expressions over symbolic arguments (``variables``, by name).

    ``params`` are folded in by value and enum labels become their indices, as in the torch backend.
    """

    def __init__(self, domain: Domain, params: Mapping[str, float], variables: Mapping[str, Val]) -> None:
        self.d = domain
        self.params = params
        self.variables = dict(variables)

    @property
    def exclusions(self) -> list[tuple[z3.BoolRef, str]]:
        return self.d.exclusions

    def encode(self, e: N.Expr) -> Val:
        return self.visit(e)

    def visit_Num(self, e: N.Num) -> Val:
        return self.d.const(float(e.value))

    def visit_Bool(self, e: N.Bool) -> Val:
        return z3.BoolVal(bool(e.value))

    def visit_Name(self, e: N.Name) -> Val:
        if e.kind == "param":
            return self.d.const(float(self.params[e.name]))
        if e.kind == "label":
            assert e.type is not None
            return self.d.const(float(e.type.labels.index(e.name)))
        if e.name in self.variables:
            return self.variables[e.name]
        raise Unencodable(f"'{e.name}' ({e.kind or 'unresolved name'}) is not an argument of this transition")

    def visit_Index(self, e: N.Index) -> Val:
        key = f"{e.name}[{', '.join(e.args)}]"
        if key in self.variables:
            return self.variables[key]
        raise Unencodable(f"'{key}' reads a neighbour or an edge: only node-local expressions can be encoded")

    def visit_Agg(self, e: N.Agg) -> Val:
        raise Unencodable(f"an aggregate ('{e.agg} over {e.relation}') is not a node-local expression")

    def visit_Unary(self, e: N.Unary) -> Val:
        if e.op not in UNARY:
            raise Unencodable(f"unary operator '{e.op}' has no z3 encoding")
        x = self.visit(e.x)
        if e.op == "not":
            return z3.Not(x)
        if e.op == "-":
            return self.d.neg(x)
        raise Unencodable(f"unary operator '{e.op}' has no z3 encoding")

    def visit_Binary(self, e: N.Binary) -> Val:
        if e.op not in BINARY:
            raise Unencodable(f"operator '{e.op}' has no z3 encoding")
        a, b = self.visit(e.a), self.visit(e.b)
        d, op = self.d, e.op
        if op == "and":
            return z3.And(a, b)
        if op == "or":
            return z3.Or(a, b)
        if op in ("==", "!=") and isinstance(a, z3.BoolRef):
            return a == b if op == "==" else a != b
        table: dict[str, Callable[[], Val]] = {
            "<": lambda: d.lt(a, b), "<=": lambda: d.le(a, b), ">": lambda: d.lt(b, a), ">=": lambda: d.le(b, a),
            "==": lambda: d.eq(a, b), "!=": lambda: z3.Not(d.eq(a, b)),
            "+": lambda: d.add(a, b), "-": lambda: d.sub(a, b), "*": lambda: d.mul(a, b),
            "/": lambda: d.div(a, b, _text(e)),
            "//": lambda: d.floordiv(a, b, _text(e)), "%": lambda: d.floormod(a, b, _text(e)),
        }
        if op not in table:
            raise Unencodable(f"operator '{op}' has no z3 encoding")
        return table[op]()

    def visit_Cond(self, e: N.Cond) -> Val:
        c, a, b = self.visit(e.cond), self.visit(e.then), self.visit(e.other)
        if isinstance(a, z3.BoolRef):
            return z3.If(c, a, b)
        return self.d.ite(c, a, b)

    def visit_Call(self, e: N.Call) -> Val:
        fn = FUNCTIONS.get(e.fn)
        if e.fn not in _KNOWN_FUNCTIONS or fn is None or fn.torch_fn is not _KNOWN_FUNCTIONS[e.fn]:
            raise Unencodable(f"function '{e.fn}' has no z3 encoding (known: {', '.join(_KNOWN_FUNCTIONS)}); "
                              "expressions that call it cannot be proved")
        args = [self.visit(a) for a in e.args]
        if e.fn == "abs":
            return self.d.absval(args[0])
        pair = self.d.minimum if e.fn == "min" else self.d.maximum
        out = args[0]
        for x in args[1:]:  # left to right, as the registry's pairwise reduction
            out = pair(out, x)
        return out


def _text(e: N.Expr) -> str:
    from dpdsl.expr.unparse import unparse

    return unparse(e)


def declare(domain: Domain, name: str, ty: Type, nan_ok: bool = False) -> tuple[Val, list[z3.BoolRef]]:
    """A symbolic argument of type ``ty`` and the constraints that keep it a value of that type (or NaN,
    with ``nan_ok``: for arguments the DP may feed NaN, ``dpdsl.certify.nan``)."""
    if ty.kind == BOOL:
        return z3.Bool(name), []
    if ty.kind not in (INT, REAL, NODE, ENUM):
        raise Unencodable(f"argument '{name}' has type {ty}, which has no z3 encoding")
    return domain.var(name, ty, nan_ok)


def same(domain: Domain, a: Val, b: Val) -> z3.BoolRef:
    """Output equality (bools: equal; numbers: equal as numbers, or both NaN)."""
    if isinstance(a, z3.BoolRef):
        return a == b
    return domain.same(a, b)


def model_value(domain: Domain, model: z3.ModelRef, v: Val) -> bool | float:
    """A symbolic value's concrete value in a model (bool or float64)."""
    if isinstance(v, z3.BoolRef):
        return bool(z3.is_true(model.eval(v, model_completion=True)))
    return domain.value(model, v)
