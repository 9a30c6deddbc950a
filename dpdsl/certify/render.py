"""Certificates as text: what ``dpdsl verify`` prints and the compile report's "certificate" section."""

from __future__ import annotations

from typing import Any

from dpdsl.certify.prove import CERTIFIED, NO_REFERENCE, SCOPE, Certificate


def render_certificate(cert: Certificate, *, timings: bool = True) -> str:
    lines = []
    for name, f in cert.fields.items():
        lines.append(f"{name} = {_one_line(f.rule)}")
        if f.reference is not None:
            lines.append(f"    reference: {f.reference}")
        lines.append(f"  {f.headline}")
        lines += [f"    {d}" for d in f.details]
        if f.simplified:
            lines.append(f"  simplest equivalent rule (proved equal to the tree for every NaN-free input): "
                         f"{name} = {f.simplified}")
        for p in f.properties:
            lines.append(f"  proved for every input: {p}")
        if f.status == NO_REFERENCE:
            lines.append("  nothing else is proven: there is no reference to compare with")
            if f.pac is not None:
                lines.append(f"  PAC: {f.pac.statement(name)}")
        if timings:
            lines.append(f"  ({f.seconds:.2f} s)")
    lines.append("")
    if cert.certified:
        nan = any("without NaN" in f.headline for f in cert.fields.values())
        lines.append(f"{cert.spec}: certified: every field equals its reference for every input"
                     + (" satisfying its assume lines" if any(f.assumptions for f in cert.fields.values()) else "")
                     + (" (NaN-free inputs only where marked above)" if nan else ""))
        lines.append(f"  (scope: {SCOPE})")
    elif cert.exit_code == 0:
        lines.append(f"{cert.spec}: not certified equal to anything: fields without a reference have only the "
                     "properties above")
    else:
        bad = [n for n, f in cert.fields.items() if f.status not in (CERTIFIED, NO_REFERENCE)]
        lines.append(f"{cert.spec}: NOT certified ({', '.join(bad)})")
    if timings:
        lines.append(f"verify: {cert.seconds:.2f} s")
    return "\n".join(lines)


def render_report_section(section: dict[str, Any]) -> list[str]:
    """The compile report's certificate section (``Certificate.to_json``) as text lines."""
    lines = ["certificate (dpdsl verify):"]
    for name, f in section["fields"].items():
        lines.append(f"    {name}: {f['headline']}")
        if f.get("suggested_assume"):
            lines.append(f"        suggested: {f['suggested_assume']}")
        if f.get("simplified_rule"):
            lines.append(f"        simplest equivalent rule: {name} = {f['simplified_rule']}")
        for p in f.get("properties", []):
            lines.append(f"        proved: {p}")
        if f.get("pac"):
            lines.append(f"        PAC: {f['pac']}")
    return lines


def _one_line(rule: str) -> str:
    return " ".join(s.strip() for s in rule.splitlines())
