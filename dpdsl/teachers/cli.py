"""``dpdsl teacher train|eval``: thin argument handling over ``dpdsl.teachers``."""

from __future__ import annotations

from pathlib import Path

from dpdsl.errors import UserError


def main(args) -> int:
    from dpdsl.api import load_spec
    from dpdsl.fsutil import refuse_existing
    from dpdsl.teachers.checkpoint import load_teacher, save_teacher
    from dpdsl.teachers.train import evaluate_teacher, train_teacher

    if args.tcmd == "train":
        spec = load_spec(args.spec)
        out = Path(args.output)
        refuse_existing(out, args.force)  # before the slow part
        if args.hidden < 8:
            raise UserError(f"--hidden must be >= 8, got {args.hidden}")
        kw = {k: v for k, v in (("epochs", args.epochs), ("samples", args.samples)) if v is not None}
        for k, v in kw.items():
            if v < 1:
                raise UserError(f"--{k} must be >= 1, got {v}")
        if not args.value_weight > 0:
            raise UserError(f"--value-weight must be > 0, got {args.value_weight}")
        if args.arch == "aligned":
            kw.update(decoder=args.decoder, value_weight=args.value_weight)
        teacher, metrics = train_teacher(spec, arch=args.arch, hidden=args.hidden, seed=args.seed,
                                         log=print, **kw)
        path = save_teacher(teacher, out, metrics, overwrite=args.force)
        print(f"wrote {path}: {args.arch} teacher for {spec.name}, {metrics.get('parameters', '?')} parameters, "
              f"validation node accuracy {metrics.get('val_node_acc', float('nan')):.4f}")
        return 0
    spec = load_spec(args.spec)
    teacher = load_teacher(args.checkpoint, spec)
    if args.graphs < 1:
        raise UserError("--graphs must be >= 1")
    nodes = (args.nodes, args.nodes) if args.nodes else None
    if args.nodes is not None and args.nodes < 1:
        raise UserError("--nodes must be >= 1")
    res = evaluate_teacher(teacher, spec, nodes=nodes, graphs=args.graphs, seed=args.seed)
    size = f"{args.nodes} nodes" if args.nodes else "the spec's sample sizes"
    print(f"{spec.name} / {teacher.arch} teacher on {args.graphs} graphs ({size}):")
    print(f"  node accuracy  {res['node_acc']:.4f}   whole-graph accuracy {res['graph_acc']:.4f}")
    for name, acc in res["per_output"].items():
        print(f"  output {name:<12} {acc:.4f}")
    for name, acc in (res.get("state_acc") or {}).items():
        print(f"  state  {name:<12} {acc if isinstance(acc, str) else f'{acc:.4f}'}")
    return 0
