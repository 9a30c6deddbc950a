"""``dpdsl teacher train|eval``: thin argument handling over ``dpdsl.teachers``."""

from __future__ import annotations

from dpdsl.errors import UserError


def main(args) -> int:
    from dpdsl.api import load_spec
    from dpdsl.preflight import check_teacher_eval_args, output_file
    from dpdsl.teachers.checkpoint import non_finite_weight, save_teacher
    from dpdsl.teachers.config import TeacherConfig
    from dpdsl.teachers.contract import fixed_instances
    from dpdsl.teachers.load import open_teacher
    from dpdsl.teachers.train import evaluate_teacher, train_teacher

    if args.tcmd == "train":
        spec = load_spec(args.spec)
        # flags (validated by the config) and the output path before the slow part
        given = {k: getattr(args, k) for k in ("epochs", "samples", "lr", "batch_size", "decoder", "value_weight")}
        cfg = TeacherConfig(arch=args.arch, hidden=args.hidden, seed=args.seed,
                            **{k: v for k, v in given.items() if v is not None}).resolved(spec)
        out = output_file(args.output, force=args.force)
        print(f"{spec.name}: {cfg.arch} teacher, " + ", ".join(f"{k} {v}" for k, v in cfg.to_json().items()
                                                                 if k not in ("arch", "nodes")))
        teacher, metrics = train_teacher(spec, cfg, log=print)
        bad = non_finite_weight(teacher.net.state_dict())
        if bad is not None:
            raise UserError(f"training diverged: weight '{bad}' is not finite; nothing written "
                            "(try a smaller --value-weight or another --seed)")
        path = save_teacher(teacher, out, metrics, overwrite=args.force)
        print(f"wrote {path}: {args.arch} teacher for {spec.name}, {metrics.get('parameters', '?')} parameters, "
              f"validation node accuracy {metrics.get('val_node_acc', float('nan')):.4f}")
        return 0
    spec = load_spec(args.spec)
    check_teacher_eval_args(args)
    teacher = open_teacher(args.checkpoint, spec, trust_code=args.trust_code, modules=args.teacher_module)
    fixed = fixed_instances(teacher)
    if fixed is not None:  # recorded traces run only on their own instances: score those
        graphs = fixed.distill + fixed.held_out
        res = evaluate_teacher(teacher, spec, instances=graphs)
        size = "the recorded instances"
    else:
        nodes = (args.nodes, args.nodes) if args.nodes else None
        res = evaluate_teacher(teacher, spec, nodes=nodes, graphs=args.graphs, seed=args.seed)
        size = f"{args.nodes} nodes" if args.nodes else "the spec's sample sizes"
    print(f"{spec.name} / {teacher.arch} teacher on {res['graphs']} graphs ({size}):")
    print(f"  node accuracy  {res['node_acc']:.4f}   whole-graph accuracy {res['graph_acc']:.4f}")
    for name, acc in res["per_output"].items():
        print(f"  output {name:<12} {acc:.4f}")
    for name, acc in (res.get("state_acc") or {}).items():
        print(f"  state  {name:<12} {acc if isinstance(acc, str) else f'{acc:.4f}'}")
    return 0
