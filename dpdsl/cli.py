"""``dpdsl`` command line: a thin layer over the library API.

Exit codes (``dpdsl.exits``): 0 success; 1 ``compile`` found the student unfaithful (without
``--keep-unfaithful``); 2 any user error (bad spec, graph, checkpoint, student, flag, output path or a
resource limit) with a one-line message on stderr (plus the caret block for spec errors); 3 an
internal error — a bug — in one line, with the traceback under ``--debug``. ``verify`` exits 1 when
it cannot certify a student.
"""

from __future__ import annotations

import argparse
import os
import sys

from dpdsl import exits


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add_plugin_flag(p: argparse.ArgumentParser) -> None:
    """The global flags: ``--plugin`` and ``--debug``."""
    p.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                   help="import a plugin that extends the registries / grammar (repeatable)")
    p.add_argument("--debug", action="store_true", help="print tracebacks and library warnings (or DPDSL_DEBUG=1)")


def _add_allow_modified(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-modified", action="store_true",
                   help="load a student whose student.json was edited after compilation")


def _add_trust_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trust-code", action="store_true",
                   help="allow an adapter teacher (.json) to import its model code (or DPDSL_TRUST_CODE=1)")
    p.add_argument("--teacher-module", action="append", default=[], metavar="MODULE",
                   help="an installed module an adapter teacher may import its model from (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: one ``_add_<command>`` per subcommand, in the order ``dpdsl --help`` lists them."""
    ap = _Parser(prog="dpdsl", description="Compile DP specs into DP-aligned GNN students.",
                 epilog=exits.HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_plugin_flag(ap)
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    for add in (_add_check, _add_emit, _add_run, _add_teacher, _add_compile, _add_verify, _add_export, _add_eval):
        add(sub)
    return ap


def _add_check(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="parse and check a spec; print its summary")
    p.add_argument("spec")


def _add_emit(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("emit", help="write the torch-geometric skeleton of a spec as Python source")
    p.add_argument("spec")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--force", action="store_true", help="overwrite an existing file")


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a spec's reference DP, or a compiled student directory")
    p.add_argument("target", help="a .dp spec (reference executor) or a student directory")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--graph", help="graph file (.json, .graphml, edge list, .npz)")
    src.add_argument("--instance", help="sequence instance file (JSON) for a sequence/grid/intervals spec")
    src.add_argument("--sample", type=int, metavar="N", help="draw N graphs from the spec's sample section")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--symmetrize", action="store_true",
                   help="accept a directed graph for an undirected spec by symmetrising it")
    p.add_argument("--max-rounds", type=int, default=None, metavar="N",
                   help="run at most N rounds (needed for huge round counts without 'until fixpoint')")
    p.add_argument("--engine", choices=["torch", "spark"], default="torch",
                   help="torch (default) or PySpark DataFrames (pip install 'dpdsl[spark]'; one graph per run)")
    p.add_argument("--spark-master", default="local[2]", metavar="URL", help="Spark master (default local[2])")
    _add_allow_modified(p)


def _add_teacher(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("teacher", help="train or evaluate teachers").add_subparsers(
        dest="tcmd", required=True, parser_class=_Parser)
    p = t.add_parser("train", help="train a teacher on a spec's reference trajectories")
    p.add_argument("spec")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--arch", default="aligned", help="aligned (default) or transformer (docs/teachers.md)")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--epochs", type=int, default=None, help="default 30")
    p.add_argument("--samples", type=int, default=None, help="training graphs (default 1000)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default 1e-3)")
    p.add_argument("--batch-size", type=int, default=None, help="default 32")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--decoder", default=None, choices=["wide", "embedding"],
                   help="aligned only: 'embedding' makes every head a linear read-out of the embedding "
                        "(default: embedding if a state is real-valued, else wide)")
    p.add_argument("--value-weight", type=float, default=None,
                   help="aligned only: weight of the numeric value loss (default: 100 if a state is "
                        "real-valued, else 1)")
    p.add_argument("--force", action="store_true")
    p = t.add_parser("eval", help="accuracy of a teacher against the reference executor")
    p.add_argument("checkpoint")
    p.add_argument("--spec", required=True)
    p.add_argument("--nodes", type=int, default=None, help="graph size (default: the spec's sample range)")
    p.add_argument("--graphs", type=int, default=64)
    p.add_argument("--seed", type=int, default=1)
    _add_trust_flags(p)


def _add_compile(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compile", help="distil a teacher into a decision-tree student")
    p.add_argument("spec")
    p.add_argument("--teacher", required=True)
    p.add_argument("-o", "--output", default=None, help="student directory (default: out/<problem>)")
    p.add_argument("--method", choices=["lrh", "cart"], default="lrh")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples", type=int, default=256, help="distillation graphs to draw")
    p.add_argument("--beam", type=int, default=32, help="conjunctions kept per depth (the paper's k)")
    p.add_argument("--max-depth", type=int, default=3)
    p.add_argument("--tau", type=float, default=0.5,
                   help="LRH threshold on held-out 1 - R^2 for a feature to count as represented")
    p.add_argument("--fidelity", type=float, default=0.99,
                   help="agreement with the teacher that needs no explanation (below it: see --faithfulness)")
    p.add_argument("--faithfulness", choices=["noise-aware", "strict"], default="noise-aware",
                   help="noise-aware: lower fidelity passes when the residual is teacher noise (no represented "
                        "pattern, at most --max-noise); strict: lower fidelity fails")
    p.add_argument("--max-noise", type=float, default=0.1,
                   help="noise-aware: the most teacher noise (upper 95%% bound of the disagreement rate) allowed")
    p.add_argument("--keep-unfaithful", action="store_true")
    p.add_argument("--force", action="store_true")
    p.add_argument("--quiet", action="store_true")
    _add_trust_flags(p)


def _add_verify(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="prove a compiled student equal to its spec's reference (z3)")
    p.add_argument("student", help="a student directory (from dpdsl compile)")
    p.add_argument("--spec", default=None,
                   help="prove under this spec's assume lines (the student's spec plus assume lines)")
    p.add_argument("--json", action="store_true", help="print the certificate as JSON")
    p.add_argument("--no-search", action="store_true",
                   help="skip the invariant and simplest-rule searches (proofs only)")


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a compiled student as a model another runtime runs (ONNX)")
    p.add_argument("student", help="a student directory (from dpdsl compile)")
    p.add_argument("--format", choices=["onnx"], default="onnx")
    p.add_argument("-o", "--output", required=True, help="the model file to write")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    _add_allow_modified(p)


def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="accuracy of a student against the reference executor per size")
    p.add_argument("student")
    p.add_argument("--sizes", default="16,64,256,1024")
    p.add_argument("--family", default=None)
    p.add_argument("--graphs", type=int, default=8)
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--teacher", default=None, help="also evaluate this teacher checkpoint")
    p.add_argument("--json", action="store_true")
    _add_allow_modified(p)
    _add_trust_flags(p)


def _print_check(spec) -> None:
    from dpdsl.expr.unparse import unparse

    print(f"problem {spec.name}  ({spec.graph_kind} graph)  sha256 {spec.hash[:12]}")
    for name, inp in {**spec.node_inputs, **spec.edge_inputs}.items():
        print(f"  input  {inp.site:4} {name} : {inp.type}")
    for name, p in spec.params.items():
        print(f"  param  {name} : {p.type} = {p.value:g}")
    for name, st in spec.states.items():
        ref = f"   reference: {unparse(st.reference)}" if st.reference is not None else ""
        print(f"  state  {name} : {st.type}   unknown({', '.join(st.args)}){ref}")
    for name, v in spec.views.items():
        print(f"  view   {name} : {v.type}   {v.agg.agg} over {v.agg.relation}   = {unparse(v.agg)}")
    r = spec.rounds
    print(f"  rounds {unparse(r.expr)}{' until fixpoint' if r.fixpoint else ''}")
    for name, o in spec.outputs.items():
        print(f"  output {name} : {o.type} = {unparse(o.expr)}")
    if spec.sample is not None:
        s = spec.sample
        args = ", ".join(f"{k} = {v:g}" for k, v in s.family_args)
        print(f"  sample graph {s.family}({args}) nodes {s.nodes[0]}..{s.nodes[1]}; "
              + "; ".join(f"{n} {d}{tuple(a) if a else ''}" for n, d, a in s.inputs))


def _dispatch(args) -> int:
    from dpdsl.api import load_spec

    if args.cmd == "check":
        _print_check(load_spec(args.spec))
        return 0
    if args.cmd == "emit":
        from dpdsl.codegen import emit
        from dpdsl.fsutil import write_text_atomic
        from dpdsl.preflight import output_file

        spec = load_spec(args.spec)
        output_file(args.output, force=args.force)
        path = write_text_atomic(args.output, emit(spec), force=args.force)
        print(f"wrote {path}: skeleton of {spec.name} ({len(spec.views)} views; transition slot for "
              f"{', '.join(spec.states)})")
        return 0
    if args.cmd == "run":
        from dpdsl.commands.run import run_main

        return run_main(args)
    if args.cmd == "teacher":
        from dpdsl.commands import teacher as tcli

        return tcli.main(args)
    if args.cmd == "compile":
        from dpdsl.commands import compile as dcli

        return dcli.compile_main(args)
    if args.cmd == "verify":
        from dpdsl.certify.cli import verify_main

        return verify_main(args)
    if args.cmd == "export":
        from dpdsl.commands.export import export_main

        return export_main(args)
    if args.cmd == "eval":
        from dpdsl.evaluate import cli_main

        return cli_main(args)
    raise AssertionError(args.cmd)


def _run(args: argparse.Namespace) -> int:
    from dpdsl.plugins import load_plugin

    for ref in args.plugin:
        load_plugin(ref)
    return _dispatch(args)


def main(argv: list[str] | None = None) -> int:
    """Parse flags and run one command; returns the exit code (see ``dpdsl.exits``)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as err:  # --help (0) or a bad flag (2, one line already printed)
        return err.code if isinstance(err.code, int) else exits.USER_ERROR
    debug = args.debug or os.environ.get("DPDSL_DEBUG", "") not in ("", "0")
    return exits.guarded(lambda: _run(args), debug=debug)


if __name__ == "__main__":
    sys.exit(main())
