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
from dpdsl.exits import first_line

# the parser owns the table of loaded plugins (it reads their GRAMMAR and AST_RULES); this module fills it
from dpdsl.frontend.parser import LOADED_PLUGINS as _LOADED
from dpdsl.frontend.parser import loaded, make_parser, plugin_ast_rules, plugin_grammar  # noqa: F401  (re-exported)


def load_plugin(ref: str) -> ModuleType:
    """Import a plugin once, by file path or dotted module name.

    A plugin is code: anything it raises while importing (a syntax error, NUL bytes, an exception,
    ``sys.exit``) is a one-line ``UserError`` naming the plugin, and so is a ``GRAMMAR`` that does not
    exist or does not build, or ``AST_RULES`` that are not a mapping of callables.
    """
    if ref in _LOADED:
        return _LOADED[ref]
    if not ref.strip():
        raise UserError("--plugin needs a file path or a module name, got an empty string")
    mod = _import(ref)
    _check_plugin(ref, mod)
    _LOADED[ref] = mod
    return mod


def _import(ref: str) -> ModuleType:
    """Import the plugin; whatever its code raises becomes a one-line ``UserError``."""
    path = Path(ref)
    name = f"dpdsl_plugin_{path.stem}" if path.suffix == ".py" else ref
    try:
        if path.suffix == ".py":
            if not path.is_file():
                raise UserError(f"plugin {ref} does not exist")
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            mod = importlib.util.module_from_spec(spec)
            sys.modules[name] = mod
            spec.loader.exec_module(mod)
            return mod
        return importlib.import_module(ref)
    except UserError:
        raise
    except ImportError as err:
        raise UserError(f"cannot import plugin {ref}: {first_line(str(err))}") from None
    except SystemExit as err:
        sys.modules.pop(name, None)
        raise UserError(f"plugin {ref} called sys.exit({err.code!r}) while importing") from None
    except Exception as err:  # noqa: BLE001 - a plugin's own failure, reported as the user's input
        sys.modules.pop(name, None)
        raise UserError(f"plugin {ref} failed to import: {type(err).__name__}: {first_line(str(err))}") from None


def _check_plugin(ref: str, mod: ModuleType) -> None:
    """Validate what the parser will read from the plugin, now rather than at the first spec."""
    rules = getattr(mod, "AST_RULES", {}) or {}
    if not isinstance(rules, dict) or not all(isinstance(k, str) and callable(v) for k, v in rules.items()):
        raise UserError(f"plugin {ref}: AST_RULES must map rule names to functions")
    g = getattr(mod, "GRAMMAR", None)
    if g is None:
        return
    if not isinstance(g, (str, Path)) or not Path(g).is_file():
        raise UserError(f"plugin {ref}: GRAMMAR must name an existing .lark file, got {first_line(repr(g))[:80]}")
    try:
        make_parser(str(g))
    except Exception as err:  # noqa: BLE001 - lark's GrammarError and friends
        raise UserError(f"plugin {ref}: its grammar {g} does not build: {type(err).__name__}: "
                        f"{first_line(str(err))}") from None
