"""Independent generator of DR2 reference fixtures, in the format of ../shared/fixtures/dr2-reference.

The TypeScript engine is checked against fixtures recorded from the official DR2 sampler. This
script writes more fixtures of the same kinds for cases those do not cover (other image sizes,
other K, tau = 0 and omega = K - 1, fixed-variance 3-channel models, batches of two), from a
separate implementation of the algorithm in that README: numpy, float64 throughout, dense
resize matrices instead of tap lists. Agreement between the two implementations is therefore
evidence that both follow the written algorithm.

Kinds (same files and case.json keys as the shared fixtures):

  trace     a tiny random-weight conv denoiser (torch, exported to ONNX, opset 17, inputs
            x float32 [B,3,S,S] and t int64 [B], output out [B,C,S,S]) driven by the sampler;
            `model.variance` is "learned_range" (C = 6) or "fixed_small" / "fixed_large" (C = 3).
  schedule  a linear respaced schedule for one K.
  lowpass   an input and its down_N / lowpass_N images.

Usage (from the repository root, with ``PYTHONPATH=models``; the system Python has torch and onnx):

  /usr/bin/python3 -m dr2e_models.make_trace_fixture trace out/dir --size 32 --steps 50 \
      --n 2 --tau 0 --omega 49 --variance learned_range --batch 1 --seed 7
  /usr/bin/python3 -m dr2e_models.make_trace_fixture schedule out/dir --steps 21
  /usr/bin/python3 -m dr2e_models.make_trace_fixture lowpass out/dir --size 48 --factors 2 4 8 16
  /usr/bin/python3 -m dr2e_models.make_trace_fixture resize out/dir

`resize` writes JSON test cases for non-power-of-two sizes (read by the tests directly; it is
not one of the shared fixture kinds).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

NUM_TIMESTEPS = 1000


# ----------------------------------------------------------------------------- schedule


def linear_betas(num_timesteps: int) -> np.ndarray:
    """guided-diffusion's linear schedule: 1e-4 .. 0.02 scaled by 1000 / T, float64."""
    scale = 1000 / num_timesteps
    return np.linspace(scale * 0.0001, scale * 0.02, num_timesteps, dtype=np.float64)


def respaced_timesteps(num_timesteps: int, steps: int) -> list[int]:
    """Single-section respacing: a float stride accumulated and rounded half to even."""
    stride = (num_timesteps - 1) / (steps - 1)
    position = 0.0
    kept = []
    for _ in range(steps):
        kept.append(round(position))  # Python's round() is half to even
        position += stride
    return kept


def respaced_schedule(steps: int, num_timesteps: int = NUM_TIMESTEPS) -> dict[str, np.ndarray]:
    betas_full = linear_betas(num_timesteps)
    alphas_cumprod_full = np.cumprod(1.0 - betas_full)
    timestep_map = respaced_timesteps(num_timesteps, steps)
    betas = []
    previous = 1.0
    for t in timestep_map:
        betas.append(1.0 - alphas_cumprod_full[t] / previous)
        previous = alphas_cumprod_full[t]
    betas = np.array(betas, dtype=np.float64)
    alphas = 1.0 - betas
    alphas_cumprod = np.cumprod(alphas)
    alphas_cumprod_prev = np.append(1.0, alphas_cumprod[:-1])
    posterior_variance = betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod)
    return {
        "timestep_map": np.array(timestep_map),
        "betas": betas,
        "alphas_cumprod": alphas_cumprod,
        "alphas_cumprod_prev": alphas_cumprod_prev,
        "posterior_variance": posterior_variance,
        "posterior_log_variance_clipped": np.log(np.append(posterior_variance[1], posterior_variance[1:])),
        "posterior_mean_coef1": betas * np.sqrt(alphas_cumprod_prev) / (1.0 - alphas_cumprod),
        "posterior_mean_coef2": (1.0 - alphas_cumprod_prev) * np.sqrt(alphas) / (1.0 - alphas_cumprod),
    }


# ----------------------------------------------------------------------------- resize


def cubic(d: np.ndarray) -> np.ndarray:
    """Keys cubic kernel, a = -0.5."""
    d = np.abs(d)
    return np.where(
        d <= 1,
        1.5 * d**3 - 2.5 * d**2 + 1,
        np.where(d <= 2, -0.5 * d**3 + 2.5 * d**2 - 4 * d + 2, 0.0),
    )


def resize_matrix(in_size: int, out_size: int) -> np.ndarray:
    """Dense [out, in] matrix of MATLAB-style bicubic resizing along one axis."""
    scale = out_size / in_size
    matrix = np.zeros((out_size, in_size), dtype=np.float64)
    width = 4.0 / scale if scale < 1 else 4.0
    for o in range(1, out_size + 1):
        centre = o / scale + 0.5 * (1 - 1 / scale)
        first = math.floor(centre - width / 2)
        positions = np.arange(first, first + math.ceil(width) + 2)  # 1-based input positions
        distance = centre - positions
        weights = scale * cubic(scale * distance) if scale < 1 else cubic(distance)
        weights = weights / weights.sum()
        for position, weight in zip(positions, weights):
            index = int(position) - 1
            period = 2 * in_size
            index %= period
            if index >= in_size:
                index = period - 1 - index
            matrix[o - 1, index] += weight
    return matrix


def resize(planes: np.ndarray, out_size: int) -> np.ndarray:
    """Resize [..., S, S] planes to [..., out, out]."""
    rows = resize_matrix(planes.shape[-2], out_size)
    cols = resize_matrix(planes.shape[-1], out_size)
    return rows @ planes @ cols.T


def lowpass(planes: np.ndarray, factor: int) -> np.ndarray:
    """Phi_N = up_N(down_N(x)); identity for N = 1."""
    if factor == 1:
        return planes.copy()
    size = planes.shape[-1]
    return resize(resize(planes, size // factor), size)


# ----------------------------------------------------------------------------- model


def build_denoiser(output_channels: int, seed: int):
    import torch
    from torch import nn

    torch.manual_seed(seed)

    class TinyDenoiser(nn.Module):
        """Random conv net with a sinusoidal timestep embedding; only a stand-in for a U-Net."""

        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("frequencies", torch.exp(-math.log(1000.0) * torch.arange(8) / 8))
            self.embed = nn.Linear(16, 16)
            self.conv_in = nn.Conv2d(3, 16, 3, padding=1)
            self.conv_mid = nn.Conv2d(16, 16, 3, padding=1)
            self.conv_out = nn.Conv2d(16, output_channels, 3, padding=1)
            with torch.no_grad():
                self.conv_out.weight.mul_(0.5)

        def forward(self, x, t):
            angles = t.float()[:, None] * self.frequencies[None, :]
            embedding = self.embed(torch.cat([torch.sin(angles), torch.cos(angles)], dim=1))
            h = nn.functional.silu(self.conv_in(x) + embedding[:, :, None, None])
            h = nn.functional.silu(self.conv_mid(h))
            out = self.conv_out(h)
            if output_channels == 6:
                out = torch.cat([out[:, :3], torch.tanh(out[:, 3:])], dim=1)
            return out

    return TinyDenoiser().eval()


def export_onnx(model, path: Path, size: int) -> None:
    import torch

    example = (torch.zeros(1, 3, size, size), torch.zeros(1, dtype=torch.int64))
    torch.onnx.export(
        model,
        example,
        str(path),
        input_names=["x", "t"],
        output_names=["out"],
        dynamic_axes={"x": {0: "batch"}, "t": {0: "batch"}, "out": {0: "batch"}},
        opset_version=17,
    )


# ----------------------------------------------------------------------------- writers


def write_tensor(directory: Path, name: str, array: np.ndarray) -> dict:
    data = np.ascontiguousarray(array, dtype="<f4")
    (directory / name).write_bytes(data.tobytes())
    return {"file": name, "shape": list(data.shape)}


def make_trace(args: argparse.Namespace) -> None:
    import torch

    size, steps, n, tau, omega, batch = args.size, args.steps, args.n, args.tau, args.omega, args.batch
    if not 0 <= tau < omega <= steps - 1:
        raise SystemExit("need 0 <= tau < omega <= steps - 1")
    if size % n != 0 or n & (n - 1):
        raise SystemExit("N must be a power of two dividing the size")
    output_channels = 6 if args.variance == "learned_range" else 3
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    schedule = respaced_schedule(steps)
    abar = schedule["alphas_cumprod"]
    betas = schedule["betas"]
    if args.variance == "fixed_large":
        fixed_log_variance = np.log(np.append(schedule["posterior_variance"][1], betas[1:]))
    else:
        fixed_log_variance = schedule["posterior_log_variance_clipped"]

    model = build_denoiser(output_channels, args.seed)
    export_onnx(model, out_dir / "denoiser.onnx", size)

    rng = np.random.default_rng(args.seed)
    # A smooth degraded input in [-1, 1] plus a little texture, so every N has something to keep.
    grid = np.linspace(-1, 1, size)
    base = np.stack([np.outer(np.sin(2 * grid + c), np.cos(3 * grid - c)) for c in range(3)])
    y = np.clip(0.8 * base[None] + 0.1 * rng.standard_normal((batch, 3, size, size)), -1, 1).astype(np.float32)
    y64 = y.astype(np.float64)

    draws: list[np.ndarray] = []
    labels: list[str] = []

    def draw(label: str) -> np.ndarray:
        sample = rng.standard_normal((batch, 3, size, size)).astype(np.float32)
        draws.append(sample)
        labels.append(label)
        return sample.astype(np.float64)

    def predict(x: np.ndarray, index: int) -> np.ndarray:
        with torch.no_grad():
            timesteps = torch.full((batch,), int(schedule["timestep_map"][index]), dtype=torch.int64)
            return model(torch.from_numpy(x.astype(np.float32)), timesteps).numpy().astype(np.float64)

    x = np.sqrt(abar[omega]) * y64 + np.sqrt(1 - abar[omega]) * draw(f"forward(y, t={omega})")
    model_inputs = []
    model_timesteps = []
    expected = None
    for i in range(omega, tau - 1, -1):
        model_inputs.append(x.astype(np.float32))
        model_timesteps.append(int(schedule["timestep_map"][i]))
        out = predict(x, i)
        eps = out[:, :3]
        x0 = np.clip(np.sqrt(1 / abar[i]) * x - np.sqrt(1 / abar[i] - 1) * eps, -1, 1)
        if i == tau:
            expected = x0
            break
        mean = schedule["posterior_mean_coef1"][i] * x0 + schedule["posterior_mean_coef2"][i] * x
        if output_channels == 6:
            fraction = (out[:, 3:] + 1) / 2
            log_variance = (
                fraction * np.log(betas[i]) + (1 - fraction) * schedule["posterior_log_variance_clipped"][i]
            )
        else:
            log_variance = np.full_like(mean, fixed_log_variance[i])
        sample = mean + np.exp(0.5 * log_variance) * draw(f"posterior(t={i})")
        y_prev = np.sqrt(abar[i - 1]) * y64 + np.sqrt(1 - abar[i - 1]) * draw(f"forward(y, t={i - 1})")
        if n == 1:
            x = y_prev
        else:
            x = sample - lowpass(sample, n) + lowpass(y_prev, n)

    tensors = {
        "y": write_tensor(out_dir, "y.f32", y),
        "noise": {**write_tensor(out_dir, "noise.f32", np.stack(draws)), "labels": labels},
        "model_inputs": {
            **write_tensor(out_dir, "model_inputs.f32", np.stack(model_inputs)),
            "model_timesteps": model_timesteps,
        },
        "expected_x0": write_tensor(out_dir, "expected_x0.f32", expected),
    }
    case = {
        "image_size": size,
        "N": n,
        "tau": tau,
        "omega": omega,
        "schedule": {"name": "linear", "num_timesteps": NUM_TIMESTEPS, "sections": [steps]},
        "model": {
            "file": "denoiser.onnx",
            "inputs": ["x", "t"],
            "output": "out",
            "output_channels": output_channels,
            "variance": args.variance,
        },
        "clip_denoised": True,
        "tensors": tensors,
        "generator": "models/dr2e_models/make_trace_fixture.py (numpy float64 re-implementation)",
    }
    (out_dir / "case.json").write_text(json.dumps(case, indent=1) + "\n")


def make_schedule(args: argparse.Namespace) -> None:
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    schedule = respaced_schedule(args.steps)
    case = {
        "kind": "schedule",
        "name": "linear",
        "num_timesteps": NUM_TIMESTEPS,
        "sections": [args.steps],
        **{key: value.tolist() for key, value in schedule.items()},
        "generator": "models/dr2e_models/make_trace_fixture.py (numpy float64 re-implementation)",
    }
    (out_dir / "case.json").write_text(json.dumps(case, indent=1) + "\n")


def make_lowpass(args: argparse.Namespace) -> None:
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    size = args.size
    x = rng.uniform(-1, 1, (1, 3, size, size)).astype(np.float32)
    factors = []
    for n in args.factors:
        down = resize(x.astype(np.float64), size // n)
        factors.append(
            {
                "N": n,
                "down": write_tensor(out_dir, f"down_{n}.f32", down),
                "lowpass": write_tensor(out_dir, f"lowpass_{n}.f32", resize(down, size)),
            }
        )
    case = {
        "kind": "lowpass",
        "x": write_tensor(out_dir, "x.f32", x),
        "factors": factors,
        "generator": "models/dr2e_models/make_trace_fixture.py (numpy float64 re-implementation)",
    }
    (out_dir / "case.json").write_text(json.dumps(case, indent=1) + "\n")


def make_resize(args: argparse.Namespace) -> None:
    """General (non-power-of-two) resizes, as JSON: `cases[i]` has `input` [H][W] and `expected`."""
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    cases = []
    for in_h, in_w, out_h, out_w in [(10, 10, 7, 7), (6, 6, 13, 13), (9, 12, 16, 5), (100, 100, 64, 64)]:
        image = rng.uniform(-1, 1, (in_h, in_w)).astype(np.float32)
        expected = resize_matrix(in_h, out_h) @ image.astype(np.float64) @ resize_matrix(in_w, out_w).T
        cases.append(
            {
                "in_size": [in_h, in_w],
                "out_size": [out_h, out_w],
                "input": image.tolist(),
                "expected": expected.tolist(),
            }
        )
    case = {
        "kind": "resize",
        "cases": cases,
        "generator": "models/dr2e_models/make_trace_fixture.py (numpy float64 re-implementation)",
    }
    (out_dir / "case.json").write_text(json.dumps(case) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    kinds = parser.add_subparsers(dest="kind", required=True)

    trace = kinds.add_parser("trace", help="a DR2 run with a tiny ONNX denoiser")
    trace.add_argument("out")
    trace.add_argument("--size", type=int, default=32)
    trace.add_argument("--steps", type=int, default=50, help="K, the respaced steps")
    trace.add_argument("--n", type=int, default=2)
    trace.add_argument("--tau", type=int, default=0)
    trace.add_argument("--omega", type=int, default=None, help="default K - 1")
    trace.add_argument("--batch", type=int, default=1)
    trace.add_argument(
        "--variance", choices=["learned_range", "fixed_small", "fixed_large"], default="learned_range"
    )
    trace.add_argument("--seed", type=int, default=7)

    schedule = kinds.add_parser("schedule", help="a linear respaced schedule")
    schedule.add_argument("out")
    schedule.add_argument("--steps", type=int, required=True)

    low = kinds.add_parser("lowpass", help="down_N and Phi_N of a random image")
    low.add_argument("out")
    low.add_argument("--size", type=int, default=48)
    low.add_argument("--factors", type=int, nargs="+", default=[2, 4, 8, 16])
    low.add_argument("--seed", type=int, default=3)

    sizes = kinds.add_parser("resize", help="general bicubic resizes (JSON only; not a shared fixture kind)")
    sizes.add_argument("out")
    sizes.add_argument("--seed", type=int, default=5)

    args = parser.parse_args()
    if args.kind == "trace":
        if args.omega is None:
            args.omega = args.steps - 1
        make_trace(args)
    elif args.kind == "schedule":
        make_schedule(args)
    elif args.kind == "lowpass":
        make_lowpass(args)
    else:
        make_resize(args)


if __name__ == "__main__":
    main()
