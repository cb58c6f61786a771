"""Gaussian diffusion for training the dr2e denoiser: schedule, forward process, hybrid loss, sampler.

Conventions are those of guided-diffusion / improved DDPM (Nichol & Dhariwal, 2021), which the
TypeScript engine assumes when it respaces the schedule:

* linear betas from ``1e-4 * 1000 / T`` to ``0.02 * 1000 / T`` (``T = 1000`` gives 1e-4..0.02),
  computed in float64;
* the network predicts the noise ``eps`` in channels 0..2 and, with a learned range, a value
  ``v`` in channels 3..5 that interpolates the log variance between the posterior variance
  ``beta~_t`` (``v = -1``) and ``beta_t`` (``v = +1``):
  ``log sigma^2 = (v + 1) / 2 * log beta_t + (1 - v) / 2 * log beta~_t`` (with ``beta~_0``
  replaced by ``beta~_1``, whose log is finite);
* the hybrid loss is ``L_simple + lambda * L_vlb`` with ``lambda = 0.001``. ``L_vlb`` is the sum
  of the ``T`` per-timestep terms, estimated by ``T * L_t`` at a uniformly drawn ``t``, so the
  weight of the sampled term is ``0.001 * T`` (= 1 for ``T = 1000``). ``L_t`` is in bits per
  dimension: the KL between the true posterior ``q(x_{t-1} | x_t, x_0)`` and the model's
  Gaussian for ``t > 0``, and the negative log-likelihood of the discretised Gaussian decoder
  (8-bit bins of width 2/255 on [-1, 1], open-ended at the edges) for ``t = 0``. The mean
  enters ``L_t`` through a stop-gradient, so ``L_vlb`` trains only the variance and
  ``L_simple`` (mean squared error of the noise) trains the mean.

All formulas here are written from those papers' equations; no code was copied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = [
    "DiffusionSchedule",
    "linear_betas",
    "respaced_timesteps",
    "normal_kl",
    "discretized_gaussian_log_likelihood",
    "hybrid_loss",
    "sample",
]

LOG2 = math.log(2.0)


def linear_betas(num_timesteps: int = 1000) -> np.ndarray:
    """guided-diffusion's linear schedule, scaled so any ``T`` spans the same total noise."""
    scale = 1000.0 / num_timesteps
    return np.linspace(scale * 1e-4, scale * 0.02, num_timesteps, dtype=np.float64)


def respaced_timesteps(num_timesteps: int, steps: int) -> list[int]:
    """Evenly spaced subset of ``0..T-1`` with ``steps`` entries, first 0 and last ``T-1``."""
    if steps == num_timesteps:
        return list(range(num_timesteps))
    if steps < 2:
        raise ValueError("need at least two steps")
    stride = (num_timesteps - 1) / (steps - 1)
    return sorted({int(round(i * stride)) for i in range(steps)})


@dataclass
class DiffusionSchedule:
    """Per-timestep coefficients (float64 numpy) of one beta schedule.

    ``timesteps`` maps each schedule index to the model's timestep on the training scale
    (the identity for the full schedule, the kept subset after respacing).
    """

    betas: np.ndarray
    timesteps: np.ndarray

    @classmethod
    def linear(cls, num_timesteps: int = 1000) -> "DiffusionSchedule":
        betas = linear_betas(num_timesteps)
        return cls(betas, np.arange(num_timesteps))

    def respaced(self, steps: int) -> "DiffusionSchedule":
        """The schedule restricted to ``steps`` timesteps, with betas that keep ``alpha_bar``."""
        kept = respaced_timesteps(len(self.betas), steps)
        alpha_bar = self.alphas_cumprod
        betas, previous = [], 1.0
        for t in kept:
            betas.append(1.0 - alpha_bar[t] / previous)
            previous = alpha_bar[t]
        return DiffusionSchedule(np.asarray(betas, dtype=np.float64), self.timesteps[np.asarray(kept)])

    def __post_init__(self) -> None:
        b = np.asarray(self.betas, dtype=np.float64)
        self.betas = b
        self.num_timesteps = len(b)
        alphas = 1.0 - b
        self.alphas_cumprod = np.cumprod(alphas)
        self.alphas_cumprod_prev = np.append(1.0, self.alphas_cumprod[:-1])
        self.sqrt_alphas_cumprod = np.sqrt(self.alphas_cumprod)
        self.sqrt_one_minus_alphas_cumprod = np.sqrt(1.0 - self.alphas_cumprod)
        self.sqrt_recip_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod)
        self.sqrt_recipm1_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod - 1.0)
        self.posterior_variance = b * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        # beta~_0 is 0; its log is replaced by that of beta~_1 (the decoder's variance floor).
        floor = self.posterior_variance[1] if len(b) > 1 else b[0]
        self.posterior_log_variance_clipped = np.log(np.append(floor, self.posterior_variance[1:]))
        self.posterior_mean_coef1 = b * np.sqrt(self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        self.posterior_mean_coef2 = (1.0 - self.alphas_cumprod_prev) * np.sqrt(alphas) / (1.0 - self.alphas_cumprod)
        self.log_betas = np.log(b)

    def gather(self, name: str, index: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Coefficient ``name`` at schedule indices ``index`` [B], shaped to broadcast over ``like``."""
        table = torch.as_tensor(getattr(self, name), dtype=torch.float32, device=like.device)
        values = table[index]
        return values.reshape(-1, *([1] * (like.dim() - 1)))

    def q_sample(self, x_start: torch.Tensor, index: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Draw ``x_t ~ q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)``."""
        return (self.gather("sqrt_alphas_cumprod", index, x_start) * x_start
                + self.gather("sqrt_one_minus_alphas_cumprod", index, x_start) * noise)

    def q_posterior(self, x_start: torch.Tensor, x_t: torch.Tensor,
                    index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and clipped log variance of ``q(x_{t-1} | x_t, x_0)``."""
        mean = (self.gather("posterior_mean_coef1", index, x_t) * x_start
                + self.gather("posterior_mean_coef2", index, x_t) * x_t)
        return mean, self.gather("posterior_log_variance_clipped", index, x_t).expand_as(x_t)

    def predict_x_start(self, x_t: torch.Tensor, index: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """``x_0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)``."""
        return (self.gather("sqrt_recip_alphas_cumprod", index, x_t) * x_t
                - self.gather("sqrt_recipm1_alphas_cumprod", index, x_t) * eps)

    def model_log_variance(self, v: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Learned-range log variance from the network's ``v`` in [-1, 1]."""
        fraction = (v + 1.0) / 2.0
        max_log = self.gather("log_betas", index, v)
        min_log = self.gather("posterior_log_variance_clipped", index, v)
        return fraction * max_log + (1.0 - fraction) * min_log

    def p_mean_variance(self, output: torch.Tensor, x_t: torch.Tensor, index: torch.Tensor,
                        clip: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Model mean, log variance and predicted ``x_0`` from a 6-channel output."""
        eps, v = output.chunk(2, dim=1)
        x_start = self.predict_x_start(x_t, index, eps)
        if clip:
            x_start = x_start.clamp(-1.0, 1.0)
        mean, _ = self.q_posterior(x_start, x_t, index)
        return mean, self.model_log_variance(v, index), x_start


def normal_kl(mean1: torch.Tensor, logvar1: torch.Tensor, mean2: torch.Tensor, logvar2: torch.Tensor) -> torch.Tensor:
    """Elementwise ``KL(N(mean1, e^logvar1) || N(mean2, e^logvar2))`` in nats."""
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2)
                  + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def _standard_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def discretized_gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Elementwise log-probability (nats) of 8-bit data ``x`` in [-1, 1] under a discretised Gaussian.

    Each value owns the bin ``[x - 1/255, x + 1/255]``; the lowest bin extends to -inf and the
    highest to +inf, so the probabilities of the 256 levels sum to 1.
    """
    inverse_std = torch.exp(-log_scale)
    centred = x - mean
    cdf_upper = _standard_normal_cdf(inverse_std * (centred + 1.0 / 255.0))
    cdf_lower = _standard_normal_cdf(inverse_std * (centred - 1.0 / 255.0))
    tiny = 1e-12
    log_cdf_upper = torch.log(cdf_upper.clamp(min=tiny))
    log_survival_lower = torch.log((1.0 - cdf_lower).clamp(min=tiny))
    log_bin = torch.log((cdf_upper - cdf_lower).clamp(min=tiny))
    return torch.where(x < -0.999, log_cdf_upper, torch.where(x > 0.999, log_survival_lower, log_bin))


def _mean_over_pixels(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1).mean(dim=1)


def vlb_terms(schedule: DiffusionSchedule, output: torch.Tensor, x_start: torch.Tensor, x_t: torch.Tensor,
              index: torch.Tensor) -> torch.Tensor:
    """Per-sample ``L_t`` in bits per dimension (KL for ``t > 0``, decoder NLL for ``t = 0``)."""
    true_mean, true_log_variance = schedule.q_posterior(x_start, x_t, index)
    mean, log_variance, _ = schedule.p_mean_variance(output, x_t, index)
    kl = _mean_over_pixels(normal_kl(true_mean, true_log_variance, mean, log_variance)) / LOG2
    nll = -_mean_over_pixels(discretized_gaussian_log_likelihood(x_start, mean, 0.5 * log_variance)) / LOG2
    return torch.where(index == 0, nll, kl)


def hybrid_loss(schedule: DiffusionSchedule, model: nn.Module, x_start: torch.Tensor, index: torch.Tensor,
                noise: torch.Tensor, vlb_weight: float = 0.001) -> dict[str, torch.Tensor]:
    """Per-sample improved-DDPM hybrid loss of a learned-range model at timesteps ``index`` [B].

    Returns ``{"loss", "mse", "vb"}`` (each ``[B]``): ``loss = mse + vlb_weight * T * vb``,
    where the mean is detached inside ``vb``.
    """
    x_t = schedule.q_sample(x_start, index, noise)
    output = model(x_t, torch.as_tensor(schedule.timesteps, device=x_t.device)[index])
    eps, v = output.chunk(2, dim=1)
    mse = _mean_over_pixels((noise - eps) ** 2)
    frozen = torch.cat([eps.detach(), v], dim=1)
    vb = vlb_terms(schedule, frozen, x_start, x_t, index)
    return {"loss": mse + vlb_weight * schedule.num_timesteps * vb, "mse": mse, "vb": vb}


@torch.no_grad()
def sample(model: nn.Module, shape: tuple[int, ...], steps: int = 100, generator: torch.Generator | None = None,
           schedule: DiffusionSchedule | None = None, clip: bool = True) -> torch.Tensor:
    """Unconditional ancestral sampling from pure noise at ``t = T - 1`` with ``steps`` respaced steps."""
    full = schedule or DiffusionSchedule.linear(1000)
    respaced = full.respaced(steps) if steps != full.num_timesteps else full
    x = torch.randn(shape, generator=generator)
    model_t = torch.as_tensor(respaced.timesteps, dtype=torch.int64)
    for i in reversed(range(respaced.num_timesteps)):
        index = torch.full((shape[0],), i, dtype=torch.int64)
        output = model(x, model_t[index])
        mean, log_variance, _ = respaced.p_mean_variance(output, x, index, clip=clip)
        if i > 0:
            x = mean + torch.exp(0.5 * log_variance) * torch.randn(shape, generator=generator)
        else:
            x = mean
    return x.clamp(-1.0, 1.0)
