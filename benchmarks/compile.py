"""Time `dpdsl compile` for every shipped spec with its shipped aligned teacher; print a table.

Usage: python benchmarks/compile.py [--specs bellman_ford,reachability] [--out DIR] [--threads 2]
Each compile runs as its own process (what a user runs), so the time includes start-up.
Target (issue 4): <= 60 s per spec on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--specs", default="", help="comma-separated spec names (default: all in specs/)")
    ap.add_argument("--out", default=None, help="where to keep the students (default: a temp dir)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--extra", default="", help="extra flags for dpdsl compile")
    args = ap.parse_args()
    names = [s for s in args.specs.split(",") if s] or sorted(p.stem for p in (ROOT / "specs").glob("*.dp"))
    out = Path(args.out or tempfile.mkdtemp(prefix="dpdsl-compile-"))
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    rows = []
    for name in names:
        teacher = ROOT / "teachers" / f"{name}.safetensors"
        if not teacher.exists():
            rows.append((name, None, "no shipped teacher", "", ""))
            continue
        cmd = [sys.executable, "-m", "dpdsl", "compile", str(ROOT / "specs" / f"{name}.dp"), "--teacher",
               str(teacher), "-o", str(out / name), "--force", "--quiet", *args.extra.split()]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        dt = time.perf_counter() - t0
        rep_path = out / name / "report.json"
        if proc.returncode not in (0, 1) or not rep_path.exists():
            status = "unfaithful (not written)" if proc.returncode == 1 else f"exit {proc.returncode}"
            rows.append((name, dt, status, "", proc.stderr.strip().splitlines()[-1:] or ""))
            continue
        rep = json.loads(rep_path.read_text())
        rules = "; ".join(f"{k} = {v['rules'].replace(chr(10), ' ')}" for k, v in rep["fields"].items())
        ref = rep["verification"].get("reference", [])
        exact = " ".join(f"{r['scale']}x:{r['node_exact']:.4f}" for r in ref)
        rows.append((name, dt, f"fidelity {rep['verification']['fidelity']['node_agreement']:.4f}", exact, rules))
    print("| spec | compile s | fidelity to teacher | exact vs reference (node) | rules |")
    print("|---|---|---|---|---|")
    for name, dt, fid, exact, rules in rows:
        print(f"| {name} | {'' if dt is None else f'{dt:.1f}'} | {fid} | {exact} | `{rules}` |")
    print(f"\nstudents in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
