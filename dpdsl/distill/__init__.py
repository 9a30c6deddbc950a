"""LRH decision-tree distillation core (DESIGN §5): probes, conjunction search, tree selection."""
