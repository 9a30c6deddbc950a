"""Bring your own teacher: wrap any torch model into the ``Teacher`` contract.

You provide

* ``model`` — the class, as an import path: ``"package.module:Class"`` or ``"path/to/file.py:Class"``;
* ``init_kwargs`` — keyword arguments for its constructor;
* ``weights`` — a safetensors file with its ``state_dict`` (pickled ``.pt`` files are refused: export
  with ``safetensors.torch.save_file(model.state_dict(), path)``);
* ``embedding_modules`` — names (as in ``model.named_modules()``) of the modules whose forward outputs
  are the per-step node embeddings. Forward hooks record every call, in call order across all named
  modules: name the encoder and the (shared) processor of a recurrent model and you get step 0 from
  the encoder and one step per processor application. A hooked module must return a ``[num_nodes,
  width]`` tensor (or a tuple whose first item is one).

The model is called as ``model(graph)`` with a ``dpdsl.graphs.Graph`` (possibly a batch: a disjoint
union with ``graph.batch``), or through ``call`` (an import path of ``fn(model, graph)``) when its
forward wants something else, e.g. PyG tensors. It returns a dict ``{output name: per-node tensor}``
(bool outputs as bools or probabilities, numbers as floats, node outputs as graph-local ids) or a
tuple ``(outputs, states)`` with per-step decoded states (a list, one ``{state field: per-node
tensor}`` per step, ``states[0]`` the init); outputs left out of the dict are then computed from the
final state with the spec's output expressions (``dpdsl.teachers.outputs``; docs/teachers.md). A JSON
file with the same keys (``load_user_teacher_config``) is the CLI-friendly form. Importing the model runs its module's
code, so an adapter is code: it needs ``trust_code=True`` (``--trust-code``, or ``DPDSL_TRUST_CODE=1``), and
a JSON may only name a ``.py`` file next to it or an installed module the caller names explicitly
(``--teacher-module``). dpdsl checkpoints never name code to import.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load

from dpdsl import limits
from dpdsl.errors import CheckpointError, UserError
from dpdsl.exits import first_line
from dpdsl.graphs.core import Graph
from dpdsl.ir import SpecIR
from dpdsl.teachers.contract import TeacherOutput
from dpdsl.teachers.outputs import complete_outputs, encode_states

TRUST_ENV = "DPDSL_TRUST_CODE"
CONFIG_KEYS = ("model", "weights", "embedding_modules", "init_kwargs", "call")


def trusted(trust_code: bool | None) -> bool:
    """Whether importing user code is allowed: the flag, or ``DPDSL_TRUST_CODE=1``."""
    return bool(trust_code) or os.environ.get(TRUST_ENV, "").strip() == "1"


def _split_ref(ref: object, what: str) -> tuple[str, str]:
    if not isinstance(ref, str) or ref.count(":") != 1:
        raise UserError(f"{what} '{ref}' must look like 'file.py:Name' or 'package.module:Name'")
    mod_ref, _, attr = ref.partition(":")
    if not attr.isidentifier() or not mod_ref:
        raise UserError(f"{what} '{ref}' must look like 'file.py:Name' or 'package.module:Name'")
    return mod_ref, attr


def restrict_ref(ref: object, config: Path, modules: Sequence[str], what: str = "model") -> None:
    """An adapter JSON may only name a ``.py`` file next to it, or an installed module the user named
    on the command line (``--teacher-module``): ``"subprocess:run"`` in a JSON used to run a command."""
    mod_ref, _ = _split_ref(ref, what)
    if mod_ref.endswith(".py"):
        f = config.parent / mod_ref
        if Path(mod_ref).name != mod_ref or f.resolve().parent != config.parent.resolve():
            raise UserError(f"{config}: {what} file '{mod_ref}' must be a .py file next to the JSON "
                            "(no directories)")
        return
    if mod_ref not in modules:
        raise UserError(f"{config}: {what} module '{mod_ref}' is not allowed; an adapter imports a .py file "
                        f"next to its JSON or a module named with --teacher-module {mod_ref}")


def import_object(ref: str, base: Path | None = None, *, trust_code: bool | None = None) -> Any:
    """Resolve ``"pkg.mod:Name"`` or ``"file.py:Name"`` (relative files against ``base``).

    Importing runs the module's code, so it needs ``trust_code`` (or ``DPDSL_TRUST_CODE=1``).
    """
    mod_ref, attr = _split_ref(ref, "import path")
    if not trusted(trust_code):
        raise UserError(f"importing '{mod_ref}' runs its code; pass --trust-code (or set {TRUST_ENV}=1) "
                        "if you trust it")
    try:
        if mod_ref.endswith(".py"):
            path = Path(mod_ref)
            if not path.is_absolute() and base is not None:
                path = base / path
            if not path.is_file():
                raise UserError(f"model file {path} does not exist")
            name = f"dpdsl_user_{abs(hash(str(path.resolve())))}"
            if name not in sys.modules:
                spec = importlib.util.spec_from_file_location(name, path)
                assert spec is not None and spec.loader is not None
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    del sys.modules[name]
                    raise
            module = sys.modules[name]
        else:
            module = importlib.import_module(mod_ref)
    except UserError:
        raise
    except ImportError as err:
        raise UserError(f"cannot import '{mod_ref}': {err}") from None
    except (Exception, SystemExit) as err:  # noqa: BLE001 - the user's module failed while importing
        raise UserError(f"importing '{mod_ref}' failed: {type(err).__name__}: {first_line(str(err))}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise UserError(f"'{mod_ref}' has no attribute '{attr}'") from None


def load_safetensors_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a plain safetensors file; anything else (a pickle, a truncated file) is refused."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as err:
        raise CheckpointError(f"cannot read weights {p}: {err.strerror}") from None
    if len(data) < 9 or data[8:9] != b"{":
        raise CheckpointError(f"{p} is not a safetensors file; export weights with safetensors.torch.save_file "
                              "(pickled .pt files are never loaded)")
    try:
        tensors = st_load(data)
    except Exception as err:  # noqa: BLE001 - safetensors raises several types; all mean "bad file"
        raise CheckpointError(f"{p} is not a valid safetensors file ({str(err).splitlines()[0]})") from None
    for name, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{p}: weight '{name}' holds NaN or infinity; refusing the teacher")
    return tensors


class UserTeacher:
    """A user's ``nn.Module`` seen through the teacher contract (hooks give the embeddings)."""

    def __init__(self, spec: SpecIR, model: torch.nn.Module, embedding_modules: Sequence[str], *,
                 call: Callable[[torch.nn.Module, Graph], Any] | None = None, arch: str = "user",
                 width: int | None = None) -> None:
        if not embedding_modules:
            raise UserError("name at least one module whose outputs are the per-step embeddings")
        names = dict(model.named_modules())
        missing = [m for m in embedding_modules if m not in names]
        if missing:
            known = ", ".join(n for n in names if n) or "none"
            raise UserError(f"model has no module(s) {', '.join(missing)} (modules: {known})")
        self.spec = spec
        self.spec_name = spec.name
        self.spec_hash = spec.hash
        self.arch = arch
        self.model = model.eval()
        self.embedding_modules = list(embedding_modules)
        self.call = call
        self.width = width if width is not None else self._probe_width()

    def _probe_width(self) -> int:
        from dpdsl.sampling import sample_graphs

        if self.spec.sample is None:
            raise UserError("pass width= for a spec without a sample section")
        return int(self.run(sample_graphs(self.spec, 1, 0)[0]).embeddings[0].shape[1])

    @torch.no_grad()
    def run(self, graph: Graph) -> TeacherOutput:
        captured: list[torch.Tensor] = []

        def hook(_m: torch.nn.Module, _inp: Any, out: Any) -> None:
            t = out[0] if isinstance(out, (tuple, list)) and out else out
            if not isinstance(t, torch.Tensor):
                raise UserError(f"an embedding module returned {type(t).__name__}, not a tensor")
            captured.append(t.detach().to(torch.float32))

        handles = [self.model.get_submodule(m).register_forward_hook(hook) for m in self.embedding_modules]
        try:
            result = self.call(self.model, graph) if self.call is not None else self.model(graph)
        except UserError:
            raise
        except Exception as err:  # noqa: BLE001 - the user's model, not dpdsl, failed
            raise UserError(f"the user teacher raised {type(err).__name__}: {first_line(str(err))}") from None
        finally:
            for h in handles:
                h.remove()
        states = None
        if isinstance(result, tuple):
            if len(result) != 2:
                raise UserError(f"the model returned a tuple of {len(result)}; expected (outputs, states)")
            result, raw_states = result
            if raw_states is not None:
                if not isinstance(raw_states, (list, tuple)):
                    raise UserError(f"the model's states are {type(raw_states).__name__}; expected a list with "
                                    "one dict of state fields per step")
                states = encode_states(self.spec, raw_states, graph.num_nodes, "the user teacher")
        if not isinstance(result, dict):
            raise UserError(f"the model returned {type(result).__name__}; expected a dict of outputs")
        outputs = complete_outputs(self.spec, graph, result, states, "the user teacher")
        out = TeacherOutput(outputs, captured, states)
        try:
            out.check(graph.num_nodes)
        except ValueError as err:
            raise UserError(f"user teacher breaks the contract: {err}") from None
        return out


def load_user_teacher(spec: SpecIR, model: str | type, weights: str | Path | None, *,
                      embedding_modules: Sequence[str], init_kwargs: dict | None = None,
                      call: str | None = None, base: str | Path | None = None, strict: bool = True,
                      trust_code: bool | None = None) -> UserTeacher:
    """Instantiate ``model(**init_kwargs)``, load safetensors ``weights`` and wrap it (see module doc).

    ``model`` is a class, or an import path; importing one needs ``trust_code`` (or the env var).
    """
    b = Path(base) if base is not None else None
    cls = model if isinstance(model, type) else import_object(model, b, trust_code=trust_code)
    name = cls.__name__ if isinstance(model, type) else str(model)
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise UserError(f"model '{name}' is not a torch.nn.Module class")
    try:
        net = cls(**(init_kwargs or {}))
    except Exception as err:  # noqa: BLE001 - the user's constructor
        raise UserError(f"cannot build {name} with {init_kwargs or {}}: {type(err).__name__}: "
                        f"{first_line(str(err))}") from None
    if weights is not None:
        wp = Path(weights)
        if not wp.is_absolute() and b is not None:
            wp = b / wp
        try:
            net.load_state_dict(load_safetensors_weights(wp), strict=strict)
        except RuntimeError as err:
            raise CheckpointError(f"{wp}: weights do not fit {name} ({str(err).splitlines()[0]})") from None
    fn = import_object(call, b, trust_code=trust_code) if call else None
    if fn is not None and not inspect.isfunction(fn):
        raise UserError(f"call '{call}' is not a function")
    return UserTeacher(spec, net, embedding_modules, call=fn, arch=f"user:{name.rpartition(':')[2]}")


def load_user_teacher_config(path: str | Path, spec: SpecIR, *, trust_code: bool | None = None,
                             modules: Sequence[str] = ()) -> UserTeacher:
    """Read ``{"model", "weights", "embedding_modules", "init_kwargs"?, "call"?}`` from a JSON file;
    relative paths are relative to that file. ``model`` and ``call`` must live in a ``.py`` file next
    to the JSON or in one of ``modules``, and importing them needs ``trust_code``."""
    p = Path(path)
    limits.check_file_size(p, "artifact_bytes", f"{p}: the adapter config")
    try:
        cfg = limits.loads_json(p.read_bytes(), str(p))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"cannot read user-teacher config {p}: {first_line(str(err))}") from None
    if not isinstance(cfg, dict):
        raise UserError(f"{p}: expected a JSON object")
    for key in ("model", "embedding_modules"):
        if key not in cfg:
            raise UserError(f"{p}: missing key '{key}'")
    unknown = sorted(set(cfg) - set(CONFIG_KEYS))
    if unknown:
        raise UserError(f"{p}: unknown key '{unknown[0]}' (allowed: {', '.join(CONFIG_KEYS)})")
    _check_config_types(p, cfg)
    restrict_ref(cfg["model"], p, modules, "model")
    if cfg.get("call") is not None:
        restrict_ref(cfg["call"], p, modules, "call")
    return load_user_teacher(spec, cfg["model"], cfg.get("weights"), embedding_modules=cfg["embedding_modules"],
                             init_kwargs=cfg.get("init_kwargs"), call=cfg.get("call"), base=p.parent,
                             trust_code=trust_code)


def _check_config_types(p: Path, cfg: dict) -> None:
    """The adapter JSON's value types, before any is used."""
    mods = cfg["embedding_modules"]
    if not isinstance(mods, list) or not all(isinstance(m, str) for m in mods):
        raise UserError(f"{p}: embedding_modules must be a list of module names")
    if not isinstance(cfg.get("weights"), (str, type(None))):
        raise UserError(f"{p}: weights must be a file name")
    if not isinstance(cfg.get("init_kwargs"), (dict, type(None))):
        raise UserError(f"{p}: init_kwargs must be an object")
    if not isinstance(cfg.get("call"), (str, type(None))):
        raise UserError(f"{p}: call must be an import path 'file.py:fn'")
