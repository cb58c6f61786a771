"""Reading training checkpoints and checking them against an architecture.

What :func:`load_state_dict` accepts (the file is read on the CPU):

* a raw state dict (``{name: tensor}``), as guided-diffusion, ILVR, P2-weighting and
  Face-SPARNet save them;
* a dict wrapping one, under ``ema``, ``params_ema``, ``model_ema``, ``state_dict_ema``,
  ``state_dict``, ``model``, ``params``, ``netG``, ``net_g``, ``generator`` or ``G``
  (searched in that order, EMA weights first because they are the ones meant for sampling;
  nested wrappers are unwrapped too), or under a key chosen with ``key=``;
* a whole pickled ``nn.Module`` (top level or under one of those keys). Its classes do not
  need to be importable: unknown classes are replaced by inert stand-ins and the parameters
  and buffers are collected from the module tree.

TorchScript archives are refused before anything reads them: torch 1.13's ``torch.load`` hands
them to ``torch.jit.load`` (which runs the archive's code) even with ``weights_only=True``.

Files are then read with ``torch.load(weights_only=True)``. Only when that refuses (a pickled
module, a wrapper holding non-tensor objects) a restricted unpickler takes over: it resolves
only an allow-list of torch / collections / builtins / numpy names and turns every other global
into an inert stand-in class, so a checkpoint cannot run code by naming a callable.

``module.`` prefixes (DataParallel / DistributedDataParallel) are stripped, and others when asked
(``strip=``, the exporter's ``--strip-prefix``). A file that surely is not ``torch.save``'s
(empty, safetensors, HDF5, ONNX) is named for what it is before torch reads it; any other that
neither reader takes is refused with its first bytes.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
import types
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import torch

__all__ = [
    "CheckpointError",
    "CheckpointLayoutError",
    "LoadedCheckpoint",
    "load_state_dict",
    "extract_state_dict",
    "strip_prefixes",
    "check_layout",
    "fold_spectral_norm",
    "spectral_norm_layout",
    "WRAPPER_KEYS",
]

#: Keys under which training scripts commonly store the weights, most preferred first.
WRAPPER_KEYS: tuple[str, ...] = (
    "ema",
    "params_ema",
    "model_ema",
    "state_dict_ema",
    "state_dict",
    "model",
    "params",
    "netG",
    "net_g",
    "generator",
    "G",
)

Layout = Sequence[tuple[str, Sequence[int]]]


class CheckpointError(Exception):
    """A checkpoint file that cannot be read or holds no recognisable weights."""


class CheckpointLayoutError(CheckpointError):
    """A state dict whose names or shapes differ from what the architecture needs."""

    def __init__(
        self,
        architecture: str,
        missing: list[tuple[str, tuple[int, ...]]],
        unexpected: list[tuple[str, tuple[int, ...]]],
        wrong_shape: list[tuple[str, tuple[int, ...], tuple[int, ...]]],
        shown: int = 8,
        label: str | None = None,
    ) -> None:
        #: The architecture's id (``dr2-unet``, ``sparnethd``), which the hints compare against.
        self.architecture = architecture
        self.missing = missing
        self.unexpected = unexpected
        self.wrong_shape = wrong_shape

        def fmt(shape: Sequence[int]) -> str:
            return "[" + ", ".join(str(d) for d in shape) + "]"

        def listing(items: list[str]) -> str:
            more = f", ... and {len(items) - shown} more" if len(items) > shown else ""
            return ", ".join(items[:shown]) + more

        parts = []
        if missing:
            parts.append(f"{len(missing)} missing: " + listing([f"{n} {fmt(s)}" for n, s in missing]))
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected: " + listing([f"{n} {fmt(s)}" for n, s in unexpected]))
        if wrong_shape:
            parts.append(
                f"{len(wrong_shape)} with a wrong shape: "
                + listing([f"{n} is {fmt(got)}, expected {fmt(want)}" for n, got, want in wrong_shape])
            )
        hints = layout_hints(architecture, missing, unexpected, wrong_shape)
        message = f"checkpoint does not match {label or architecture}: " + "; ".join(parts)
        super().__init__(message + "".join(f"\nhint: {hint}" for hint in hints))


def layout_hints(
    architecture: str,
    missing: Sequence[tuple[str, tuple[int, ...]]],
    unexpected: Sequence[tuple[str, tuple[int, ...]]],
    wrong_shape: Sequence[tuple[str, tuple[int, ...], tuple[int, ...]]],
) -> list[str]:
    """
    The export flag a layout mismatch most likely calls for, from the shape of the mismatch: a
    list of hundreds of tensor names says what differs, not which of the flags fixes it.
    """
    hints = []
    missing_names = {name for name, _ in missing}
    unexpected_names = {name for name, _ in unexpected}

    def stems(names: set[str], suffix: str) -> set[str]:
        return {name[: -len(suffix)] for name in names if name.endswith(suffix)}

    if stems(missing_names, ".weight_orig") & stems(unexpected_names, ".weight"):
        hints.append("the checkpoint's convolutions have plain weights, without spectral norm: --spectral-norm false")
    if stems(missing_names, ".weight") & stems(unexpected_names, ".weight_orig"):
        hints.append("the checkpoint keeps spectral-norm weights (weight_orig, u, v): --spectral-norm true")
    unet_like = any(name.split(".")[0] in ("time_embed", "input_blocks", "middle_block", "output_blocks")
                    for name in unexpected_names)
    sparnet_like = any(name.split(".")[0] in ("encoder", "decoder") for name in unexpected_names)
    if architecture != "dr2-unet" and unet_like:
        hints.append("its tensors are a guided-diffusion U-Net's (time_embed, input_blocks...): --arch dr2-unet")
    if architecture != "sparnethd" and sparnet_like and not unet_like:
        hints.append("its tensors are a SPARNet's (encoder, decoder...): --arch sparnethd")
    for name, got, want in wrong_shape:
        if name.startswith("out.") and name.endswith(".weight") and got and want and {got[0], want[0]} == {3, 6}:
            flag = "--learn-sigma false" if got[0] == 3 else "--learn-sigma true"
            hints.append(f"the checkpoint's last layer gives {got[0]} channels, not {want[0]}: {flag}")
    prefix = _shared_prefix(unexpected_names, missing_names)
    if prefix:
        hints.append(f"every tensor name carries the prefix {prefix!r} (the attribute a training wrapper, such as "
                     f"a Lightning module, keeps the network under): --strip-prefix {prefix}")
    if not hints and missing and not unexpected and not wrong_shape:
        vectors = {name for name in missing_names if name.endswith(("weight_u", "weight_v"))}
        if vectors == missing_names:
            hints.append("only spectral-norm vectors (weight_u, weight_v) are missing: the checkpoint was saved "
                         "without its buffers; save the whole state_dict(), or fold the norm before saving and "
                         "pass --spectral-norm false")
        elif architecture == "sparnethd":
            hints.append("fewer tensors than the architecture has: check its size flags (--in-size, --out-size, "
                         "--min-ch, --max-ch, --res-depth...) or the wrapper key (--key)")
        else:
            hints.append("fewer tensors than the architecture has: check its size flags (--channel-mult, "
                         "--num-res-blocks, --attention-resolutions...) or the wrapper key (--key)")
    return hints


def _shared_prefix(unexpected: set[str], missing: set[str]) -> str | None:
    """
    The first name component every unexpected tensor carries (``model.``), when dropping it
    gives missing names: a wrapper's attribute in front of the network's own names.
    """
    if not unexpected or not missing:
        return None
    firsts = {name.split(".", 1)[0] for name in unexpected}
    if len(firsts) != 1 or not all("." in name for name in unexpected):
        return None
    prefix = next(iter(firsts)) + "."
    stripped = {name[len(prefix):] for name in unexpected}
    return prefix if len(stripped & missing) >= max(1, len(missing) // 2) else None


@dataclass
class LoadedCheckpoint:
    """Weights read from a file, and how they were found there."""

    state_dict: dict[str, torch.Tensor]
    #: Path of wrapper keys followed to reach the weights ("" for a raw state dict), e.g. "ema".
    container: str
    #: "state_dict" or "pickled_module".
    kind: str
    #: Whether the restricted unpickler had to be used (weights_only refused the file).
    used_restricted_unpickler: bool


def load_state_dict(path: str | Path, key: str | None = None, strip: Iterable[str] = ()) -> LoadedCheckpoint:
    """Read a checkpoint file and return its weights as a flat state dict.

    :param path: ``.pt`` / ``.pth`` / ``.pkl`` file written by ``torch.save``.
    :param key: wrapper key to use (dotted for nesting, e.g. ``"model.ema"``) instead of the
        automatic search.
    :param strip: name prefixes to remove besides ``module.`` (e.g. ``"model."`` for a
        Lightning module's weights).
    :raises CheckpointError: unreadable file or no weights found.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a folder: pass the weights file in it (.pt, .pth, .pkl)")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    foreign = _foreign_format(path)
    if foreign:
        raise CheckpointError(f"checkpoint {path} {foreign}")
    # Before torch.load: on torch 1.13 it dispatches a TorchScript zip to torch.jit.load, even
    # with weights_only=True, which would run the archive's code and return a scripted module.
    if _is_torchscript_archive(path):
        raise CheckpointError(_TORCHSCRIPT_REFUSAL.format(path=path))
    restricted = False
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any refusal means "try the tolerant reader"
        restricted = True
        try:
            obj = _restricted_torch_load(path)
        except CheckpointError:
            raise
        except Exception as error:  # noqa: BLE001
            head = _head(path)
            if head.startswith(_LEGACY_TEXT_MAGIC):
                hint = (" (a torch.save file of the legacy format in text pickle protocol 0, which the safe "
                        "readers do not take: where you trust the file, re-save it with "
                        "torch.save(torch.load(path), new_path) and convert that)")
            elif _looks_like_torch_save(head):
                hint = ""
            else:
                hint = (f" (it is not a PyTorch checkpoint: torch.save writes a zip archive or a pickle, and this "
                        f"file starts with {head[:8]!r})")
            raise CheckpointError(f"cannot read checkpoint {path}: {error}{hint}") from error
    state, container, kind = extract_state_dict(obj, key=key)
    return LoadedCheckpoint(strip_prefixes(state, ("module.", *strip)), container, kind, restricted)


def _head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(16)


#: How torch.save's legacy format begins in pickle protocol 0: its magic number as a text long.
_LEGACY_TEXT_MAGIC = b"L1195470371"


def _looks_like_torch_save(head: bytes) -> bool:
    """A zip archive (torch >= 1.6) or a binary pickle (the legacy format, protocol 2 and up)."""
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def _foreign_format(path: Path) -> str | None:
    """
    What a file is when its first bytes say for sure that ``torch.save`` did not write it, else
    ``None`` (torch.load then tries, and its failure names the first bytes): torch.load's own
    errors for these (``invalid load key``, ``Memo value not found``) do not say.
    """
    head = _head(path)
    if not head:
        return "is empty"
    if _looks_like_torch_save(head):
        return None
    if len(head) >= 10 and head[8:10] == b'{"':
        return ("is a safetensors file, which this exporter does not read: load it with "
                "safetensors.torch.load_file(path) and torch.save the dict it returns")
    if head.startswith(b"\x89HDF"):
        return "is an HDF5 file (Keras?): this exporter reads PyTorch checkpoints (torch.save)"
    if head.startswith(b"\x08"):
        return "looks like an ONNX graph (a protobuf), not a PyTorch checkpoint: nothing to export"
    return None


def extract_state_dict(obj: Any, key: str | None = None) -> tuple[dict[str, torch.Tensor], str, str]:
    """Find the weights inside an unpickled object: ``(state_dict, container path, kind)``."""
    path: list[str] = []
    if key:
        for part in key.split("."):
            if not isinstance(obj, Mapping) or part not in obj:
                available = ", ".join(map(str, obj.keys())) if isinstance(obj, Mapping) else type(obj).__name__
                raise CheckpointError(f"checkpoint has no key {key!r} (at {part!r}; available: {available})")
            obj = obj[part]
            path.append(part)
    for _ in range(4):
        if _is_module_like(obj):
            return _module_state(obj), ".".join(path), "pickled_module"
        if isinstance(obj, Mapping):
            tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
            if tensors and len(tensors) == len(obj):
                return {str(k): v for k, v in tensors.items()}, ".".join(path), "state_dict"
            chosen = next((k for k in WRAPPER_KEYS if k in obj and _holds_weights(obj[k])), None)
            if chosen is None:
                if tensors and len(tensors) >= len(obj) / 2:
                    # Mostly tensors plus bookkeeping entries (step counters...): keep the tensors.
                    return {str(k): v for k, v in tensors.items()}, ".".join(path), "state_dict"
                keys = ", ".join(map(str, list(obj.keys())[:20]))
                raise CheckpointError(f"no weights found in checkpoint (top-level keys: {keys})")
            obj = obj[chosen]
            path.append(chosen)
            continue
        break
    raise CheckpointError(f"no weights found in checkpoint (found a {type(obj).__name__})")


def _holds_weights(value: Any) -> bool:
    if _is_module_like(value):
        return True
    return isinstance(value, Mapping) and any(
        isinstance(v, torch.Tensor) or isinstance(v, Mapping) or _is_module_like(v) for v in value.values()
    )


def _is_module_like(obj: Any) -> bool:
    attributes = getattr(obj, "__dict__", None)
    return isinstance(attributes, dict) and "_parameters" in attributes and "_modules" in attributes


def _module_state(module: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    """Parameters and persistent buffers of a (possibly stand-in) module tree, by name."""
    attributes = module.__dict__
    state: dict[str, torch.Tensor] = {}
    for name, value in (attributes.get("_parameters") or {}).items():
        if isinstance(value, torch.Tensor):
            state[prefix + name] = value.detach()
    skipped = set(attributes.get("_non_persistent_buffers_set") or ())
    for name, value in (attributes.get("_buffers") or {}).items():
        if isinstance(value, torch.Tensor) and name not in skipped:
            state[prefix + name] = value.detach()
    for name, child in (attributes.get("_modules") or {}).items():
        if child is not None and _is_module_like(child):
            state.update(_module_state(child, f"{prefix}{name}."))
    return state


def strip_prefixes(state: Mapping[str, torch.Tensor],
                   prefixes: Iterable[str] = ("module.",)) -> dict[str, torch.Tensor]:
    """Remove wrapper prefixes (repeatedly, e.g. ``module.module.``) from every key."""
    prefixes = tuple(prefixes)
    result: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        changed = True
        while changed:
            changed = False
            for prefix in prefixes:
                if name.startswith(prefix):
                    name = name[len(prefix) :]
                    changed = True
        if name in result:
            raise CheckpointError(f"two tensors map to {name!r} once prefixes are stripped")
        result[name] = tensor
    return result


def check_layout(
    state: Mapping[str, torch.Tensor], expected: Layout, architecture: str, label: str | None = None
) -> None:
    """Raise :class:`CheckpointLayoutError` unless ``state`` has exactly the expected names and shapes.

    Names are compared as sets; the error lists missing, unexpected and wrongly shaped tensors
    in the expected (state-dict) order, so the first entries point at the first divergence.
    """
    wanted = {name: tuple(int(d) for d in shape) for name, shape in expected}
    missing = [(name, shape) for name, shape in wanted.items() if name not in state]
    unexpected = [(name, tuple(t.shape)) for name, t in state.items() if name not in wanted]
    wrong = [
        (name, tuple(state[name].shape), shape)
        for name, shape in wanted.items()
        if name in state and tuple(state[name].shape) != shape
    ]
    if missing or unexpected or wrong:
        raise CheckpointLayoutError(architecture, missing, unexpected, wrong, label=label)


def spectral_norm_layout(plain: Layout, conv_weights: Iterable[str]) -> list[tuple[str, tuple[int, ...]]]:
    """Translate a plain layout to the names torch's ``spectral_norm`` gives the listed weights.

    ``X.weight [o, i, k, k]`` becomes ``X.weight_orig [o, i, k, k]``, ``X.weight_u [o]`` and
    ``X.weight_v [i*k*k]``. torch re-registers ``weight_orig`` after the module's other
    parameters and ``u``/``v`` as buffers, so they come last among the module's own entries.
    """
    normalised = set(conv_weights)
    result: list[tuple[str, tuple[int, ...]]] = []
    pending: list[tuple[str, tuple[int, ...]]] = []
    current_owner: str | None = None
    for name, shape in plain:
        shape = tuple(int(d) for d in shape)
        owner = name.rsplit(".", 1)[0]
        if owner != current_owner:
            result.extend(pending)
            pending = []
            current_owner = owner
        if name in normalised:
            prefix = name[: -len("weight")]
            fan_in = 1
            for d in shape[1:]:
                fan_in *= d
            pending = [
                (prefix + "weight_orig", shape),
                (prefix + "weight_u", (shape[0],)),
                (prefix + "weight_v", (fan_in,)),
            ]
        else:
            result.append((name, shape))
    result.extend(pending)
    return result


def fold_spectral_norm(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace each ``weight_orig``/``weight_u``/``weight_v`` triple by the inference ``weight``.

    At inference (eval mode, no power iteration) torch's spectral norm uses
    ``weight = weight_orig / sigma`` with ``sigma = u . (W v)`` and ``W = weight_orig`` reshaped
    to ``(out_channels, -1)``; this computes the same, in the checkpoint's dtype.
    """
    result: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        if name.endswith(("weight_u", "weight_v")):
            continue
        if not name.endswith("weight_orig"):
            result[name] = tensor
            continue
        prefix = name[: -len("weight_orig")]
        u = state.get(prefix + "weight_u")
        v = state.get(prefix + "weight_v")
        if u is None or v is None:
            raise CheckpointError(f"{name} has no matching weight_u / weight_v")
        matrix = tensor.reshape(tensor.shape[0], -1)
        if u.shape != (matrix.shape[0],) or v.shape != (matrix.shape[1],):
            raise CheckpointError(
                f"spectral-norm vectors of {prefix}weight have shapes {tuple(u.shape)} / {tuple(v.shape)},"
                f" expected ({matrix.shape[0]},) / ({matrix.shape[1]},)"
            )
        sigma = torch.dot(u, torch.mv(matrix, v))
        result[prefix + "weight"] = tensor / sigma
    orphans = [n for n in state if n.endswith(("weight_u", "weight_v")) and n.rsplit("_", 1)[0] + "_orig" not in state]
    if orphans:
        raise CheckpointError(f"spectral-norm vectors without weight_orig: {', '.join(orphans[:5])}")
    return result


# --- restricted unpickler -------------------------------------------------------------------

_ALLOWED_BUILTINS = frozenset(
    {"object", "set", "frozenset", "dict", "list", "tuple", "int", "float", "bool", "str", "bytes",
     "bytearray", "slice", "complex", "range"}
)
_ALLOWED_MODULE_PREFIXES = (
    "torch.nn.modules.",
    "torch.nn.utils.spectral_norm",
    "torch.nn.utils.weight_norm",
)
_ALLOWED_EXACT = {
    ("collections", "OrderedDict"),
    ("collections", "defaultdict"),
    ("copyreg", "_reconstructor"),
    ("torch._utils", "_rebuild_tensor"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"),
    ("torch.nn.parameter", "Parameter"),
    ("torch", "Size"),
    ("torch", "device"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _StandIn:
    """Inert replacement for a class the restricted unpickler does not resolve."""

    qualified_name = "?"

    def __new__(cls, *_args: Any, **_kwargs: Any) -> "_StandIn":
        return object.__new__(cls)

    def __init__(self, *args: Any, **_kwargs: Any) -> None:
        self.__dict__["_stand_in_args"] = args

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict):
            state = state[0]
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__["_stand_in_state"] = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.__dict__.setdefault("_stand_in_items", {})[key] = value

    def append(self, value: Any) -> None:  # noqa: D102 - pickle APPEND support
        self.__dict__.setdefault("_stand_in_list", []).append(value)

    def extend(self, values: Iterable[Any]) -> None:  # noqa: D102 - pickle APPENDS support
        self.__dict__.setdefault("_stand_in_list", []).extend(values)


_stand_ins: dict[str, type] = {}


def _stand_in(module: str, name: str) -> type:
    qualified = f"{module}.{name}"
    if qualified not in _stand_ins:
        _stand_ins[qualified] = type(name, (_StandIn,), {"qualified_name": qualified})
    return _stand_ins[qualified]


def _is_allowed(module: str, name: str) -> bool:
    if module == "builtins":
        return name in _ALLOWED_BUILTINS
    if (module, name) in _ALLOWED_EXACT:
        return True
    if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
        return True
    if module.startswith(_ALLOWED_MODULE_PREFIXES) and name[:1].isupper():
        return True
    return False


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:  # noqa: D102
        # torch.save writes protocol 2, which names Python 2 modules (__builtin__, copy_reg).
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        if _is_allowed(module, name):
            try:
                return super().find_class(module, name)
            except (ImportError, AttributeError):
                return _stand_in(module, name)
        return _stand_in(module, name)


def _restricted_load(file: io.IOBase, **kwargs: Any) -> Any:
    return _RestrictedUnpickler(file, **kwargs).load()


# torch's loaders want a module-like object with ``Unpickler`` and ``load``.
_restricted_pickle = types.SimpleNamespace(Unpickler=_RestrictedUnpickler, load=_restricted_load, __name__="pickle")


_TORCHSCRIPT_REFUSAL = (
    "{path} is a TorchScript archive, which is refused (loading one runs its code): load it where you trust it"
    " and save its weights with torch.save(torch.jit.load(...).state_dict(), 'weights.pt'), then convert that"
)


def _is_torchscript_archive(path: Path) -> bool:
    """Whether ``path`` is a TorchScript zip, judged from the zip's directory alone.

    The same rule as torch's ``_is_torchscript_zip`` (a ``constants.pkl`` record inside the
    archive's top folder), read with :mod:`zipfile` so that nothing in the archive is unpickled
    or run and no private torch API is needed.
    """
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(name.split("/", 1)[-1] == "constants.pkl" for name in names)


def _restricted_torch_load(path: Path) -> Any:
    """``torch.load`` with the restricted unpickler.

    torch 1.13's ``torch.load`` silently replaces any ``pickle_module`` by the standard one when
    ``weights_only`` is False, so the archive readers it dispatches to are called directly.
    """
    from torch import serialization

    needed = ("_is_zipfile", "_open_zipfile_reader", "_is_torchscript_zip", "_load", "_legacy_load")
    if not all(hasattr(serialization, name) for name in needed):
        raise CheckpointError(
            f"{path}: not a plain state dict, and this torch version offers no safe way to read pickled objects;"
            " re-save the weights with torch.save(model.state_dict())"
        )
    with open(path, "rb") as handle:
        if serialization._is_zipfile(handle):
            with serialization._open_zipfile_reader(handle) as archive:
                if serialization._is_torchscript_zip(archive):
                    raise CheckpointError(_TORCHSCRIPT_REFUSAL.format(path=path))
                return serialization._load(archive, "cpu", _restricted_pickle, encoding="utf-8")
        return serialization._legacy_load(handle, "cpu", _restricted_pickle, encoding="utf-8")
