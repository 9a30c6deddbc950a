"""Parse ``.dp`` text into a ``SpecAST`` with positions; lark errors become ``DslError`` with a caret."""

from __future__ import annotations

import functools
from pathlib import Path

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from dpdsl.errors import DslError
from dpdsl.frontend import ast as A
from dpdsl.types import Type

GRAMMAR_DIR = Path(__file__).resolve().parents[2] / "grammars"
BASE_GRAMMAR = GRAMMAR_DIR / "dp.lark"
# lark renames the base rules and terminals a user grammar does not ``%import`` by name to ``dp__name``;
# the parser strips this prefix so ``ToAST`` (and error messages) see the base names either way.
BASE_NS = BASE_GRAMMAR.stem + "__"

_READABLE = {
    "NAME": "a name",
    "RELATION": "a relation (in-edges, out-edges, neighbors, children, parent)",
    "NUMBER": "a number",
    "INT": "an integer",
    "INF": "inf",
    "CMP_OP": "a comparison (< <= > >= == !=)",
    "ADD_OP": "+ or -",
    "MUL_OP": "* or /",
    "ARROW": "-> or --",
    "SITE": "node or edge",
    "LPAR": "(",
    "RPAR": ")",
    "LSQB": "[",
    "RSQB": "]",
    "LBRACE": "{",
    "RBRACE": "}",
    "COMMA": ",",
    "COLON": ":",
    "EQUAL": "=",
    "MINUS": "-",
    "NEG": "-",
    "OR_KW": "or",
    "AND_KW": "and",
    "$END": "end of file",
}


def _readable(term: str) -> str:
    term = term.removeprefix(BASE_NS)
    if term in _READABLE:
        return _READABLE[term]
    if term.startswith("__ANON") or term.isupper():
        return term.lower()
    return term


@functools.lru_cache(maxsize=8)
def make_parser(grammar_path: str = str(BASE_GRAMMAR)) -> Lark:
    """A LALR parser for a grammar file (the base one, or a user grammar that imports it)."""
    path = Path(grammar_path)
    return Lark(
        path.read_text(),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=True,
        import_paths=[str(GRAMMAR_DIR), str(path.parent)],
    )


def _pos(x: Token | Tree | object) -> A.Pos:
    if isinstance(x, Token):
        return A.Pos(x.line or 0, x.column or 0)
    meta = getattr(x, "meta", None)
    if meta is not None and not getattr(meta, "empty", True):
        return A.Pos(meta.line, meta.column)
    return A.NOPOS


def _number(tok: Token) -> float:
    return float(tok)


@v_args(meta=True)
class ToAST(Transformer):
    """Turn lark's parse tree into ``dpdsl.frontend.ast`` nodes."""

    # --- expressions
    def number(self, meta, c):
        return A.Num(pos=_pos(c[0]), value=_number(c[0]))

    def inf(self, meta, c):
        return A.Num(pos=_pos(c[0]), value=float("inf"))

    def true(self, meta, c):
        return A.Bool(pos=A.Pos(meta.line, meta.column), value=True)

    def false(self, meta, c):
        return A.Bool(pos=A.Pos(meta.line, meta.column), value=False)

    def name(self, meta, c):
        return A.Name(pos=_pos(c[0]), name=str(c[0]))

    def index(self, meta, c):
        args = tuple(str(t) for t in c[1:] if t is not None)
        return A.Index(pos=_pos(c[0]), name=str(c[0]), args=args)

    def call(self, meta, c):
        args = tuple(a for a in c[1:] if a is not None)
        return A.Call(pos=_pos(c[0]), fn=str(c[0]), args=args)

    def neg(self, meta, c):
        return A.Unary(pos=A.Pos(meta.line, meta.column), op="-", x=c[0])

    def not_(self, meta, c):
        return A.Unary(pos=A.Pos(meta.line, meta.column), op="not", x=c[0])

    def binop(self, meta, c):
        return A.Binary(pos=_pos(c[1]), op=str(c[1]), a=c[0], b=c[2])

    cmp = binop

    def or_(self, meta, c):
        return A.Binary(pos=_pos_of(c[0]), op="or", a=c[0], b=c[1])

    def and_(self, meta, c):
        return A.Binary(pos=_pos_of(c[0]), op="and", a=c[0], b=c[1])

    def cond(self, meta, c):
        return A.Cond(pos=A.Pos(meta.line, meta.column), cond=c[0], then=c[1], other=c[2])

    def agg_name(self, meta, c):
        return c[0]

    def rel_pair(self, meta, c):
        rel, a, arrow, b = c
        return (str(rel), str(a), str(arrow), str(b), _pos(rel))

    def rel_single(self, meta, c):
        rel, a, b = c
        return (str(rel), str(a), "", str(b) if b is not None else "", _pos(rel))

    def agg_expr(self, meta, c):
        agg, (rel, a, arrow, b, _rpos), body = c
        return A.Agg(pos=_pos(agg), agg=str(agg), relation=rel, nbr=a, me=b, arrow=arrow, body=body)

    # --- types
    def scalar_type(self, meta, c):
        kind = str(c[0])
        lo = hi = None
        lo_s = hi_s = False
        rng = c[1]
        if rng is not None:
            if rng[0] == "interval":
                lo, hi = rng[1], rng[2]
            else:
                for op, val in rng[1]:
                    if op in (">", ">="):
                        lo, lo_s = val, op == ">"
                    elif op in ("<", "<="):
                        hi, hi_s = val, op == "<"
                    else:
                        raise _Positioned(f"a range bound must use < <= > >=, not {op}", _pos(c[0]))
        return (Type(kind, lo, hi, lo_s, hi_s), _pos(c[0]))

    def enum_type(self, meta, c):
        return (Type("enum", labels=tuple(str(t) for t in c)), A.Pos(meta.line, meta.column))

    def range(self, meta, c):
        return ("bounds", c)

    def interval(self, meta, c):
        return ("interval", c[0], c[1])

    def bound(self, meta, c):
        return (str(c[0]), c[1])

    def signed_number(self, meta, c):
        neg = c[0] is not None
        tok = c[1]
        val = float("inf") if tok.type == "INF" else float(tok)
        return -val if neg else val

    # --- declarations
    def problem(self, meta, c):
        return ("problem", str(c[0]), _pos(c[0]))

    def graph_decl(self, meta, c):
        return A.Decl("graph", str(c[0]), _mpos(meta), _pos(c[0]))

    def input_decl(self, meta, c):
        site, name, (ty, tpos) = c
        return A.Decl("input", str(name), _mpos(meta), _pos(name), type=ty, type_pos=tpos, site=str(site))

    def param_decl(self, meta, c):
        name, (ty, tpos), expr = c
        return A.Decl("param", str(name), _mpos(meta), _pos(name), type=ty, type_pos=tpos, expr=expr)

    def state_decl(self, meta, c):
        name, (ty, tpos) = c
        return A.Decl("state", str(name), _mpos(meta), _pos(name), type=ty, type_pos=tpos)

    def init_decl(self, meta, c):
        return A.Decl("init", str(c[0]), _mpos(meta), _pos(c[0]), expr=c[1])

    def view_decl(self, meta, c):
        return A.Decl("view", str(c[0]), _mpos(meta), _pos(c[0]), expr=c[1])

    def transition_decl(self, meta, c):
        args = tuple((str(t), _pos(t)) for t in c[1:] if t is not None)
        return A.Decl("transition", str(c[0]), _mpos(meta), _pos(c[0]), args=args)

    def reference_decl(self, meta, c):
        return A.Decl("reference", str(c[0]), _mpos(meta), _pos(c[0]), expr=c[1])

    def fixpoint(self, meta, c):
        return True

    def rounds_decl(self, meta, c):
        return A.Decl("rounds", "rounds", _mpos(meta), _pos_of(c[0]), expr=c[0], fixpoint=bool(c[1]))

    def output_decl(self, meta, c):
        return A.Decl("output", str(c[0]), _mpos(meta), _pos(c[0]), expr=c[1])

    def predicate_decl(self, meta, c):
        return A.Decl("predicate", str(c[0]), _mpos(meta), _pos(c[0]), expr=c[1])

    def term_decl(self, meta, c):
        return A.Decl("term", str(c[0]), _mpos(meta), _pos(c[0]), expr=c[1])

    def assume_decl(self, meta, c):
        return A.Decl("assume", str(c[0]), _mpos(meta), _pos(c[0]), expr=c[1], end_line=meta.end_line)

    def call_args(self, meta, c):
        return tuple(a for a in c if a is not None)

    def call_arg(self, meta, c):
        return (None, c[0], A.Pos(meta.line, meta.column))

    def kwarg(self, meta, c):
        return (str(c[0]), c[1], _pos(c[0]))

    def sample_graph(self, meta, c):
        fam, args, lo, hi = c
        return A.Decl(
            "sample_graph", str(fam), _mpos(meta), _pos(fam), call_args=args or (), lo=int(lo), hi=int(hi)
        )

    def sample_input(self, meta, c):
        name, dist, args = c
        return A.Decl(
            "sample_input", str(name), _mpos(meta), _pos(name), site=str(dist), site_pos=_pos(dist),
            call_args=args or (),
        )


def _strip_namespace(tree: Tree) -> Tree:
    """Rename ``dp__rule`` / ``dp__TERM`` (base names imported indirectly by a user grammar) back."""
    for sub in tree.iter_subtrees():
        if sub.data.startswith(BASE_NS):
            sub.data = sub.data[len(BASE_NS):]
        for c in sub.children:
            if isinstance(c, Token) and c.type.startswith(BASE_NS):
                c.type = c.type[len(BASE_NS):]
    return tree


def _plugin_transformer(rules: dict) -> type[ToAST]:
    """``ToAST`` plus a plugin's rules, each ``fn(meta, children)`` like the methods above."""
    if not rules:
        return ToAST
    def method(fn):
        return lambda self, meta, children: fn(meta, children)

    ns = {k: method(f) for k, f in rules.items()}
    return v_args(meta=True)(type("PluginAST", (ToAST,), ns))


def _mpos(meta) -> A.Pos:
    return A.Pos(meta.line, meta.column)


def _pos_of(e: object) -> A.Pos:
    return getattr(e, "pos", A.NOPOS)


class _Positioned(Exception):
    def __init__(self, msg: str, pos: A.Pos) -> None:
        super().__init__(msg)
        self.msg, self.pos = msg, pos


def _unexpected(err: UnexpectedInput, text: str, filename: str) -> DslError:
    line, col = err.line, err.column
    if isinstance(err, UnexpectedToken):
        tok = err.token
        got = "end of file" if tok.type == "$END" else repr(str(tok))
        expected = sorted({_readable(t) for t in err.expected})
        if tok.type == "$END":
            lines = text.splitlines() or [""]
            line, col = len(lines), len(lines[-1]) + 1
        msg = f"unexpected {got}; expected {_join(expected)}"
    elif isinstance(err, UnexpectedCharacters):
        ch = text[err.pos_in_stream] if err.pos_in_stream < len(text) else "?"
        msg = f"unexpected character {ch!r}"
        allowed = sorted({_readable(t) for t in (err.allowed or ())})
        if allowed:
            msg += f"; expected {_join(allowed)}"
    elif isinstance(err, UnexpectedEOF):
        lines = text.splitlines() or [""]
        line, col = len(lines), len(lines[-1]) + 1
        msg = f"unexpected end of file; expected {_join(sorted({_readable(t) for t in err.expected}))}"
    else:  # pragma: no cover - lark has no other subclasses today
        msg = str(err).splitlines()[0]
    if line is None or line < 1:
        line, col = 1, 1
    return DslError(msg, line=line, column=col, source=text, filename=filename)


def _join(items: list[str]) -> str:
    if len(items) > 8:
        items = items[:8] + ["..."]
    return ", ".join(items) if items else "something else"


def parse(text: str, filename: str = "<spec>", grammar: str | Path | None = None) -> A.SpecAST:
    """Parse spec text. Raises ``DslError`` (with line, column and caret) on any syntax error.

    Without an explicit ``grammar``, a loaded plugin's grammar (if any) is used, and the plugins'
    ``AST_RULES`` handle the rules they add.
    """
    from dpdsl import plugins

    mods = plugins.loaded()
    grammar = grammar or plugins.plugin_grammar(mods)
    rules = plugins.plugin_ast_rules(mods)
    transformer = _plugin_transformer(rules)
    parser = make_parser(str(grammar or BASE_GRAMMAR))
    try:
        tree = parser.parse(text)
    except UnexpectedInput as err:
        raise _unexpected(err, text, filename) from None
    if grammar is not None:
        tree = _strip_namespace(tree)
    try:
        items = transformer().transform(tree).children
    except VisitError as err:
        inner = err.orig_exc
        if isinstance(inner, _Positioned):
            raise DslError(inner.msg, line=inner.pos.line, column=inner.pos.column, source=text,
                           filename=filename) from None
        if isinstance(inner, ValueError):
            raise DslError(str(inner), line=1, column=1, source=text, filename=filename) from None
        raise
    _, problem, ppos = items[0]
    return A.SpecAST(problem, ppos, tuple(items[1:]), text, filename)
