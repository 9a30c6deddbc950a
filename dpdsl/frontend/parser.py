"""Parse ``.dp`` text into a ``SpecAST`` with positions; lark errors become ``DslError`` with a caret."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from types import ModuleType

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from lark.load_grammar import FromPackageLoader

from dpdsl.errors import DslError
from dpdsl.frontend import ast as A
from dpdsl.types import Type

# The base grammar is package data (``dpdsl/grammars/dp.lark``), read through lark's package loader so
# it is found wherever dpdsl is installed (wheel, zip, editable), never relative to a checkout.
GRAMMAR_PACKAGE = "dpdsl"
GRAMMAR_SUBDIR = "grammars"
BASE_GRAMMAR_NAME = "dp.lark"
# ``%import dp (...)`` in a user grammar resolves through this loader, from any directory.
GRAMMAR_LOADER = FromPackageLoader(GRAMMAR_PACKAGE, (GRAMMAR_SUBDIR,))
# lark renames the base rules and terminals a user grammar does not ``%import`` by name to ``dp__name``;
# the parser strips this prefix so ``ToAST`` (and error messages) see the base names either way.
BASE_NS = Path(BASE_GRAMMAR_NAME).stem + "__"

_LARK_OPTIONS = {"parser": "lalr", "propagate_positions": True, "maybe_placeholders": True}

_READABLE = {
    "NAME": "a name",
    "NUMBER": "a number",
    "INT": "an integer",
    "INF": "inf",
    "CMP_OP": "a comparison (< <= > >= == !=)",
    "ADD_OP": "+ or -",
    "MUL_OP": "*, /, // or %",
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


def base_grammar_text() -> str:
    """The base grammar's source, read from the installed package."""
    return resources.files(GRAMMAR_PACKAGE).joinpath(GRAMMAR_SUBDIR, BASE_GRAMMAR_NAME).read_text(encoding="utf-8")


def _readable(term: str) -> str:
    term = term.removeprefix(BASE_NS)
    if term == "RELATION":
        # read at error time, so relations a plugin registered are listed too
        from dpdsl.registry import RELATIONS

        return f"a relation ({', '.join(RELATIONS)})"
    if term in _READABLE:
        return _READABLE[term]
    if term.startswith("__ANON") or term.isupper():
        return term.lower()
    return term


@functools.lru_cache(maxsize=8)
def make_parser(grammar_path: str | None = None) -> Lark:
    """A LALR parser for the base grammar (``None``) or a user grammar file that ``%import``s it.

    A user grammar resolves ``%import dp`` through the package loader and sibling grammar files
    through its own directory.
    """
    if grammar_path is None:
        return Lark.open_from_package(GRAMMAR_PACKAGE, BASE_GRAMMAR_NAME, (GRAMMAR_SUBDIR,), **_LARK_OPTIONS)
    path = Path(grammar_path)
    return Lark(path.read_text(encoding="utf-8"), source_path=str(path),
                import_paths=[GRAMMAR_LOADER, str(path.parent)], **_LARK_OPTIONS)


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

    def idx(self, meta, c):
        return str(c[0])

    def idx_offset(self, meta, c):  # kept as text "i-1" in Index.args (dpdsl.domains.core.parse_index)
        return f"{c[0]}{c[1]}{int(c[2])}"

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

    def rel_bare(self, meta, c):
        return (str(c[0]), "", "", "", _pos(c[0]))

    def agg_expr(self, meta, c):
        agg, (rel, a, arrow, b, _rpos), body, default = c
        return A.Agg(pos=_pos(agg), agg=str(agg), relation=rel, nbr=a, me=b, arrow=arrow, body=body,
                     default=default)

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
        return A.GraphDecl(_mpos(meta), kind=str(c[0]), kind_pos=_pos(c[0]))

    def input_decl(self, meta, c):
        site, name, (ty, tpos) = c
        return A.InputDecl(_mpos(meta), str(name), _pos(name), site=str(site), type=ty, type_pos=tpos)

    def input_pos(self, meta, c):  # ``input a[i] : T``: a per-position input of a sequence axis
        name, var, (ty, tpos) = c
        return A.InputDecl(_mpos(meta), str(name), _pos(name), site="pos", type=ty, type_pos=tpos,
                           index=((str(var), _pos(var)),))

    def domain_decl(self, meta, c):
        return A.DomainDecl(_mpos(meta), kind=str(c[0]), kind_pos=_pos(c[0]))

    def param_decl(self, meta, c):
        name, (ty, tpos), expr = c
        return A.ParamDecl(_mpos(meta), str(name), _pos(name), type=ty, type_pos=tpos, expr=expr)

    def state_index(self, meta, c):
        return _mpos(meta)

    def state_decl(self, meta, c):
        name, *index, (ty, tpos) = c
        index = tuple((str(t), _pos(t)) for t in index if t is not None)
        return A.StateDecl(_mpos(meta), str(name), _pos(name), type=ty, type_pos=tpos, index=index)

    def init_decl(self, meta, c):
        return A.InitDecl(_mpos(meta), str(c[0]), _pos(c[0]), expr=c[1])

    def view_decl(self, meta, c):
        return A.ViewDecl(_mpos(meta), str(c[0]), _pos(c[0]), expr=c[1])

    def transition_decl(self, meta, c):
        args = tuple((str(t), _pos(t)) for t in c[1:] if t is not None)
        return A.TransitionDecl(_mpos(meta), str(c[0]), _pos(c[0]), args=args)

    def reference_decl(self, meta, c):
        return A.ReferenceDecl(_mpos(meta), str(c[0]), _pos(c[0]), expr=c[1])

    def fixpoint(self, meta, c):
        return True

    def rounds_decl(self, meta, c):
        return A.RoundsDecl(_mpos(meta), expr=c[0], fixpoint=bool(c[1]))

    def output_decl(self, meta, c):
        return A.OutputDecl(_mpos(meta), str(c[0]), _pos(c[0]), expr=c[1])

    def predicate_decl(self, meta, c):
        return A.PredicateDecl(_mpos(meta), str(c[0]), _pos(c[0]), expr=c[1])

    def term_decl(self, meta, c):
        return A.TermDecl(_mpos(meta), str(c[0]), _pos(c[0]), expr=c[1])

    def assume_decl(self, meta, c):
        return A.AssumeDecl(_mpos(meta), str(c[0]), _pos(c[0]), expr=c[1], end_line=meta.end_line)

    def call_args(self, meta, c):
        return tuple(a for a in c if a is not None)

    def call_arg(self, meta, c):
        return A.CallArg(None, c[0], A.Pos(meta.line, meta.column))

    def kwarg(self, meta, c):
        return A.CallArg(str(c[0]), c[1], _pos(c[0]))

    def sample_graph(self, meta, c):
        fam, args, lo, hi = c
        return A.SampleGraphDecl(_mpos(meta), family=str(fam), family_pos=_pos(fam), call_args=args or (),
                                 lo=int(lo), hi=int(hi))

    def sample_length(self, meta, c):
        return A.SampleLengthDecl(_mpos(meta), lo=int(c[0]), hi=int(c[1]))

    def sample_input(self, meta, c):
        name, dist, args = c
        return A.SampleInputDecl(_mpos(meta), str(name), _pos(name), sampler=str(dist), sampler_pos=_pos(dist),
                                 call_args=args or ())


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


def _check_size(text: str, filename: str) -> None:
    """Refuse spec text over the ``spec_bytes`` limit before lark sees it."""
    from dpdsl import limits

    try:
        limits.check("spec_bytes", len(text.encode("utf-8", "surrogatepass")), f"{filename}: the spec")
    except limits.LimitError as err:
        raise DslError(str(err).removeprefix(f"{filename}: "), filename=filename) from None


def _check_depth(tree: Tree, text: str, filename: str) -> None:
    """Refuse expressions nested deeper than the ``expr_depth`` limit, pointing at the first level over.

    Counted on lark's tree (``start`` and the declaration are the two levels above an expression), by
    an iterative walk, so no recursive pass ever sees an expression deeper than the limit.
    """
    from dpdsl import limits

    depth = limits.cap("expr_depth")
    deep = limits.tree_too_deep(tree, depth + 2, lambda t: [c for c in t.children if isinstance(c, Tree)])
    if deep is not None:
        pos = _pos(deep)
        raise DslError(f"expression nests deeper than {depth} levels (limit 'expr_depth'; "
                       f"{limits.LIMITS['expr_depth'].raise_hint()})", line=pos.line or 1,
                       column=pos.column or 1, source=text, filename=filename)


def parse(text: str, filename: str = "<spec>", grammar: str | Path | None = None) -> A.SpecAST:
    """Parse spec text. Raises ``DslError`` (with line, column and caret) on any syntax error.

    Without an explicit ``grammar``, a loaded plugin's grammar (if any) is used, and the plugins'
    ``AST_RULES`` handle the rules they add.
    """
    mods = loaded()
    grammar = grammar or plugin_grammar(mods)
    rules = plugin_ast_rules(mods)
    transformer = _plugin_transformer(rules)
    parser = make_parser(None if grammar is None else str(grammar))
    _check_size(text, filename)
    try:
        tree = parser.parse(text)  # lark's LALR parser builds the tree without recursion
    except UnexpectedInput as err:
        raise _unexpected(err, text, filename) from None
    _check_depth(tree, text, filename)  # before the first recursive visitor (ToAST)
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
        rule = str(getattr(err, "rule", "")).removeprefix(BASE_NS)
        if rule in rules:  # a plugin's AST rule failed: the plugin's problem, said in one line
            raise DslError(f"plugin rule '{rule}' failed: {type(inner).__name__}: {inner}", line=1, column=1,
                           source=text, filename=filename) from None
        raise
    _, problem, ppos = items[0]
    return A.SpecAST(problem, ppos, tuple(items[1:]), text, filename)


LOADED_PLUGINS: dict[str, ModuleType] = {}
"""Plugins imported so far (``dpdsl.plugins.load_plugin`` fills this), in import order."""


def loaded() -> list[ModuleType]:
    """Plugins imported so far, in import order."""
    return list(LOADED_PLUGINS.values())


def plugin_grammar(mods: list[ModuleType]) -> str | None:
    """The grammar file of the last plugin that provides one."""
    for mod in reversed(mods):
        g = getattr(mod, "GRAMMAR", None)
        if g is not None:
            return str(g)
    return None


def plugin_ast_rules(mods: list[ModuleType]) -> dict:
    rules: dict = {}
    for mod in mods:
        rules.update(getattr(mod, "AST_RULES", {}) or {})
    return rules
