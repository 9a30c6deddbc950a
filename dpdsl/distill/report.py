"""The compile report: what users look at first — rules, LRH map (JSON + PNG heatmap), fidelity and
generalisation tables, timings — as text for the terminal and files in the student directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def report_number(x: float, nd: int = 4) -> float | None:
    """Round for the deterministic report; NaN (nothing to probe) becomes null, inf a large number."""
    if np.isnan(x):
        return None
    return float(round(float(x), nd)) if np.isfinite(x) else 1e9


def field_section(fit: Any, d: Any, rules: str, leaves: int, depth: int, tau: float) -> dict[str, Any]:
    """The report's section on one state field (``fit``: ``FieldFit``, ``d``: ``FieldData``)."""
    names = d.features.predicate_names
    return {
        "rules": rules,
        "leaves": leaves,
        "depth": depth,
        "transition_agreement": report_number(fit.agreement),
        "agreement_by_round": {str(k): v for k, v in sorted(fit.per_round.items())},
        "samples": d.size,
        "unexplained_samples": d.unexplained,
        "candidate_predicates": len(names),
        "candidate_terms": len(d.features.terms),
        "predicates_passing_lrh": int(fit.represented(tau).sum()),
        "probes": fit.n_probes,
        "lrh_scores": {p: report_number(s) for p, s in zip(names, fit.predicate_scores.tolist(), strict=True)},
    }


def render_text(report: dict[str, Any], timings: dict[str, float] | None = None) -> str:
    lines = []
    t = report["teacher"]
    lines.append(f"teacher: {t['arch']} (width {t['width']}), {t['steps']} steps, labels from {t['label_source']}, "
                 f"step-0 agreement with init {t['init_agreement']:.3f}")
    for name, f in report["fields"].items():
        lines.append("")
        lines.append(f"transition {name}  ({f['leaves']} leaves, depth {f['depth']}; agreement with the teacher "
                     f"{f['transition_agreement']:.4f} on {f['samples']} samples, {f['unexplained_samples']} "
                     "unexplained by any term)")
        for r in f["rules"].splitlines():
            lines.append(f"    {r}")
        scores = sorted(f["lrh_scores"].items(), key=lambda kv: kv[1])[:6]
        lines.append(f"  LRH (held-out 1-R^2, lower = represented; {f['predicates_passing_lrh']}/"
                     f"{f['candidate_predicates']} pass): " + ", ".join(f"{p} {s:.3f}" for p, s in scores))
    v = report["verification"]
    fid = v["fidelity"]
    lines.append("")
    lines.append(f"fidelity to the teacher ({fid['graphs']} held-out graphs, {fid['nodes']} nodes): "
                 f"{fid['node_agreement']:.4f} of nodes  " + _per(fid["per_output"]))
    if "teacher_vs_reference" in fid:
        who = (f"; of the {fid['disagreements']} nodes where student and teacher disagree, "
               f"{fid['disagreements_teacher_wrong_student_exact']} are teacher errors the student gets exactly right"
               if fid["disagreements"] else "")
        lines.append(f"    the teacher itself agrees with the reference on {fid['teacher_vs_reference']:.4f} of these "
                     f"nodes{who}")
    if "reference" in v:
        lines.append("agreement with the reference executor:")
        lines.append("    scale  nodes        graphs  node exact  graph exact  per output")
        for r in v["reference"]:
            lines.append(f"    {r['scale']:>4}x  {r['nodes']:<11}  {r['graphs']:>6}  {r['node_exact']:>10.4f}  "
                         f"{r['graph_exact']:>11.4f}  {_per(r['per_output'])}")
    if "certificate" in report:
        from dpdsl.certify.render import render_report_section

        lines.append("")
        lines += render_report_section(report["certificate"])
    if timings:
        lines.append("")
        lines.append("timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items())
                     + f"  (total {sum(timings.values()):.2f}s)")
    if report.get("warnings"):
        lines.append("")
        lines += [f"warning: {w}" for w in report["warnings"]]
    if report.get("notes"):
        lines.append("")
        lines.append("notes (the student is faithful overall; the teacher disagrees with it here):")
        lines += [f"  - {p}" for p in report["notes"]]
    if report["problems"]:
        lines.append("")
        lines.append("NOT FAITHFUL:")
        lines += [f"  - {p}" for p in report["problems"]]
    return "\n".join(lines)


def _per(d: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4f}" for k, v in d.items())


def write_lrh_png(lmap: dict[str, Any], path: Path, title: str) -> None:
    """Heatmap of teacher step x predicate probe scores (clipped to [0, 1])."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    raw = [[np.nan if x is None else x for x in row] for row in lmap["scores"]]
    scores = np.asarray(raw, dtype=float) if raw else np.zeros((0, 0))
    if scores.size == 0:
        scores = np.full((1, max(1, len(lmap["features"]))), np.nan)
    scores = np.clip(scores, 0.0, 1.0)
    h = 1.5 + 0.3 * scores.shape[0]
    w = 3 + 0.45 * scores.shape[1]
    fig, ax = plt.subplots(figsize=(min(w, 18), min(h, 12)))
    cmap = matplotlib.colormaps["viridis_r"].copy()
    cmap.set_bad("lightgray")  # predicate constant at that step: nothing to probe
    im = ax.imshow(np.ma.masked_invalid(scores), aspect="auto", cmap=cmap, vmin=0, vmax=1)
    ax.set_xticks(range(len(lmap["features"])))
    ax.set_xticklabels(lmap["features"], rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(lmap["steps"])))
    ax.set_yticklabels([str(s) for s in lmap["steps"]], fontsize=8)
    ax.set_ylabel("teacher step (= DP round)")
    ax.set_title(title + "  (gray: constant at that step)", fontsize=10)
    fig.colorbar(im, ax=ax, label="held-out 1 - R² (0 = linearly represented)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_student_dir(tmp: Path, student_text: str, report: dict[str, Any], timings: dict[str, float],
                      lmap: dict[str, Any], title: str) -> None:
    """Fill a (temporary) student directory; the caller moves it into place atomically."""
    (tmp / "student.json").write_text(student_text)
    (tmp / "report.json").write_text(json.dumps({**report, "timings": timings}, indent=2, sort_keys=True) + "\n")
    (tmp / "report.txt").write_text(render_text(report, timings) + "\n")
    (tmp / "lrh_map.json").write_text(json.dumps(lmap, indent=2) + "\n")
    write_lrh_png(lmap, tmp / "lrh_map.png", title)
