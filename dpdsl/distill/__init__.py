"""LRH decision-tree distillation core (docs/architecture.md §6): probes, conjunction search, tree selection."""
