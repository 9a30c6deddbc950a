"""Certificates for students (``dpdsl verify``): proofs with z3 that a distilled tree equals its spec's
reference transition for every input, counterexamples when it does not, ``assume`` invariants, rule
simplification and a PAC bound where there is no reference. docs/certificates.md."""
