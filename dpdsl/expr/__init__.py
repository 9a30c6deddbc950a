"""The one expression core: nodes, the visitor base, and one backend per purpose.

``nodes`` (node kinds, ``children``/``walk``, ``Visitor``), ``ops`` (the operator table), ``torch_eval``
(evaluation), ``source`` (Python source for ``dpdsl emit``), ``fold`` (constant folding for the checker),
``unparse`` (spec text). See docs/architecture.md §3.
"""
