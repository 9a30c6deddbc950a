"""Plugins: Python modules that extend dpdsl's registries and, optionally, its grammar.

A plugin is imported by path or module name (``dpdsl --plugin FILE_OR_MODULE ...``). On import it calls
``dpdsl.registry.register_*`` / ``dpdsl.graphs.generators.register_*``. If it defines ``GRAMMAR`` (a
path to a ``.lark`` file that ``%import``s the base grammar), specs are parsed with that grammar; if it
defines ``AST_RULES`` (rule name -> ``fn(meta, children)``), the parser uses them for the new rules.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from dpdsl.errors import UserError

_LOADED: dict[str, ModuleType] = {}


def load_plugin(ref: str) -> ModuleType:
    """Import a plugin once, by file path or dotted module name."""
    if ref in _LOADED:
        return _LOADED[ref]
    path = Path(ref)
    try:
        if path.suffix == ".py":
            if not path.is_file():
                raise UserError(f"plugin {ref} does not exist")
            name = f"dpdsl_plugin_{path.stem}"
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            mod = importlib.util.module_from_spec(spec)
            sys.modules[name] = mod
            spec.loader.exec_module(mod)
        else:
            mod = importlib.import_module(ref)
    except UserError:
        raise
    except ImportError as err:
        raise UserError(f"cannot import plugin {ref}: {err}") from None
    _LOADED[ref] = mod
    return mod


def loaded() -> list[ModuleType]:
    """Plugins imported so far, in import order."""
    return list(_LOADED.values())


def plugin_grammar(mods: list[ModuleType]) -> str | None:
    """The grammar file of the last plugin that provides one."""
    for mod in reversed(mods):
        g = getattr(mod, "GRAMMAR", None)
        if g is not None:
            return str(g)
    return None


def plugin_ast_rules(mods: list[ModuleType]) -> dict:
    rules: dict = {}
    for mod in mods:
        rules.update(getattr(mod, "AST_RULES", {}) or {})
    return rules
