"""Front end: grammar-driven parser producing a positioned syntax tree."""
