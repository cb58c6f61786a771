"""Recover a U-Net's PyTorch weights from an ONNX file this project exported, to train it further.

The default prior's training checkpoint is not kept in the repository (only its export is), so a
longer run starts from the weights inside ``gpu-task/models/default/denoiser.onnx``. ONNX export
with constant folding renames and reshapes some parameters (the U-Net's GroupNorm scales and shifts
become ``onnx::Mul_*`` / ``onnx::Add_*`` constants of shape [C, 1, 1]), so the initialisers cannot
be read by name alone. This module re-exports the same architecture at the manifest's opset, with
every parameter set to distinct random values, finds each parameter among that file's
initialisers (as-is or reshaped), and reads the file's initialiser of the same name back.

Limits, and what guards them: the pairing is by initialiser name, and those names are numbered
by the exporter, so the file must come from the same torch version and opset (the manifest's
``tooling.torch`` and ``opset`` are compared with this machine's). Parameters with equal values
(e.g. freshly initialised, untrained ones) are merged into one initialiser by the exporter, so
such a file is refused. Any parameter not found is an error, so the result is always the complete
state dict, and the command line compares the recovered model's outputs with the file's through
onnxruntime-node before writing anything (``--no-check`` skips that).

From the repository root, with ``PYTHONPATH=models`` (see models/README.md):

    /usr/bin/python3 -m dr2e_models.onnx_weights gpu-task/models/default/denoiser.onnx \\
        --out models/runs/default-prior.pt --check

The output holds ``config`` (the manifest's architecture), ``state_dict`` and ``source`` (the
ONNX file's path and SHA-256 and its manifest's training record), which ``train_ddpm --init``
reads.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from .manifest import sha256_file
from .onnx_export import DEFAULT_OPSET, export_onnx, measure_parity
from .unet import UNetConfig, build_unet

__all__ = ["WeightRecoveryError", "recover_unet_weights", "unet_config_of_manifest", "main"]


class WeightRecoveryError(RuntimeError):
    """The ONNX file's initialisers do not correspond to the architecture's parameters."""


def unet_config_of_manifest(manifest: dict[str, Any]) -> UNetConfig:
    """The U-Net configuration recorded in a denoiser manifest's provenance."""
    architecture = dict(manifest.get("provenance", {}).get("architecture") or {})
    if architecture.pop("arch", None) != "dr2-unet":
        raise WeightRecoveryError("the manifest records no dr2-unet architecture (provenance.architecture)")
    return UNetConfig.from_dict(architecture)


def _initialisers(path: Path) -> dict[str, np.ndarray]:
    return {item.name: numpy_helper.to_array(item) for item in onnx.load(str(path)).graph.initializer}


def _locate(value: np.ndarray, probes: dict[str, np.ndarray]) -> str | None:
    """The initialiser of the probe export that holds a distinct-valued parameter (as-is or reshaped)."""
    for name, probe in probes.items():
        if probe.size == value.size and np.array_equal(probe.reshape(-1), value.reshape(-1)):
            return name
    return None


def recover_unet_weights(onnx_path: Path, config: UNetConfig, opset: int = DEFAULT_OPSET) -> dict[str, torch.Tensor]:
    """The state dict of ``config``'s U-Net whose export is ``onnx_path``.

    :raises WeightRecoveryError: the file has other initialisers than this architecture's export,
        or a parameter cannot be found in it.
    """
    model = build_unet(config).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            # distinct values, so that each parameter is found in one place only
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    reference = {key: tensor.detach().numpy().copy() for key, tensor in model.named_parameters()}
    size = config.image_size
    with tempfile.TemporaryDirectory() as folder:
        probe_path = Path(folder) / "probe.onnx"
        example = (torch.zeros(1, config.in_channels, size, size), torch.tensor([1]))
        export_onnx(model, example, probe_path, ["x", "t"], ["out"], opset=opset)
        probes = _initialisers(probe_path)
    shipped = _initialisers(onnx_path)
    missing, unexpected = sorted(set(probes) - set(shipped)), sorted(set(shipped) - set(probes))
    if missing or unexpected:
        raise WeightRecoveryError(
            f"{onnx_path} does not hold this architecture's initialisers: missing {missing[:5]}, unexpected "
            f"{unexpected[:5]} (another architecture or exporter, or equal-valued parameters merged on export)")
    reshaped = [name for name in probes if probes[name].shape != shipped[name].shape]
    if reshaped:
        raise WeightRecoveryError(f"{onnx_path}: initialisers of other shapes than this architecture's: {reshaped[:5]}")
    state: dict[str, torch.Tensor] = {}
    for key, value in reference.items():
        name = _locate(value, probes)
        if name is None:
            raise WeightRecoveryError(f"parameter {key} {tuple(value.shape)} not found among the initialisers")
        state[key] = torch.from_numpy(np.ascontiguousarray(shipped[name].reshape(value.shape), dtype=value.dtype))
    buffers = {key: tensor for key, tensor in model.state_dict().items() if key not in state}
    model.load_state_dict({**state, **buffers}, strict=True)
    return {**state, **buffers}


def max_output_difference(onnx_path: Path, config: UNetConfig, state: dict[str, torch.Tensor]) -> float:
    """max |PyTorch - onnxruntime-node| over a batch of noise at several timesteps, relative to max |PyTorch|."""
    model = build_unet(config).eval()
    model.load_state_dict(state, strict=True)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(3, config.in_channels, config.image_size, config.image_size, generator=generator)
    t = torch.tensor([3, 300, 900])
    return measure_parity(model, onnx_path, {"x": x, "t": t}, "out").relative_error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("onnx", type=Path, help="a denoiser .onnx with its manifest (.json) beside it")
    parser.add_argument("--out", type=Path, required=True, help="where to write the weights (.pt)")
    parser.add_argument("--check", action=argparse.BooleanOptionalAction, default=True,
                        help="compare the recovered model's outputs with the file's (onnxruntime-node) before writing")
    args = parser.parse_args(argv)
    manifest_path = args.onnx.with_suffix(".json")
    if not args.onnx.is_file() or not manifest_path.is_file():
        print(f"need {args.onnx} and its manifest {manifest_path}", file=sys.stderr)
        return 2
    manifest = json.loads(manifest_path.read_text())
    provenance = manifest.get("provenance", {})
    recorded_torch = (provenance.get("tooling") or {}).get("torch")
    if recorded_torch and recorded_torch.split("+")[0] != torch.__version__.split("+")[0]:
        print(f"refused: {args.onnx} was exported by torch {recorded_torch}, this is torch {torch.__version__}: "
              "the exporter's initialiser names differ between versions", file=sys.stderr)
        return 3
    try:
        config = unet_config_of_manifest(manifest)
        state = recover_unet_weights(args.onnx, config, int(provenance.get("opset", DEFAULT_OPSET)))
    except WeightRecoveryError as error:
        print(f"refused: {error}", file=sys.stderr)
        return 3
    source = {"onnx": str(args.onnx), "onnxSha256": sha256_file(args.onnx), "name": manifest.get("name"),
              "training": provenance.get("training")}
    report: dict[str, Any] = {"parameters": len(state), "source": source}
    if args.check:
        report["relativeDifference"] = max_output_difference(args.onnx, config, state)
        if report["relativeDifference"] > 1e-4:
            difference = report["relativeDifference"]
            print(f"refused: the recovered model's outputs differ from the file's by {difference:.2e} "
                  "(relative, > 1e-4); nothing written", file=sys.stderr)
            return 4
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": config.to_dict(), "state_dict": state, "source": source}, args.out)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
