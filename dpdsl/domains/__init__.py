"""Index domains beyond nodes: pairs, sequence, grid, intervals (docs/architecture.md §12)."""
