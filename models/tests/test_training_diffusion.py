"""Diffusion maths used for training the default prior: schedule, respacing, loss terms, sampler.

Expected values are computed by hand in float64 from the papers' formulas (improved DDPM's
hybrid loss: KL between Gaussians, the discretised Gaussian decoder), not from the code under
test.
"""

from __future__ import annotations

import math
import unittest

import numpy as np
import torch

from dr2e_models.diffusion import (
    DiffusionSchedule,
    discretized_gaussian_log_likelihood,
    hybrid_loss,
    linear_betas,
    normal_kl,
    respaced_timesteps,
    sample,
)


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


class _FixedOutput(torch.nn.Module):
    """A 'network' whose output is given: eps and v channels, whatever x and t are."""

    def __init__(self, eps: torch.Tensor, v: torch.Tensor) -> None:
        super().__init__()
        self.eps, self.v = eps, v
        self.seen_t: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.seen_t = t
        return torch.cat([self.eps.expand_as(x), self.v.expand_as(x)], dim=1)


class ScheduleTest(unittest.TestCase):
    def test_linear_schedule_spans_guided_diffusion_endpoints(self) -> None:
        # Act
        betas = linear_betas(1000)
        # Assess
        self.assertAlmostEqual(betas[0], 1e-4, places=12)
        self.assertAlmostEqual(betas[-1], 0.02, places=12)
        self.assertEqual(len(betas), 1000)

    def test_respacing_keeps_alpha_bar_at_the_kept_steps(self) -> None:
        # Prepare
        full = DiffusionSchedule.linear(1000)
        # Act
        respaced = full.respaced(100)
        # Assess
        self.assertEqual(respaced.timesteps[0], 0)
        self.assertEqual(respaced.timesteps[-1], 999)
        self.assertEqual(len(respaced.timesteps), 100)
        np.testing.assert_allclose(respaced.alphas_cumprod, full.alphas_cumprod[respaced.timesteps], rtol=1e-12)
        self.assertEqual(respaced_timesteps(1000, 100)[1], 10)


class LossTermsTest(unittest.TestCase):
    def test_normal_kl_matches_the_closed_form(self) -> None:
        # Prepare: KL(N(0, 1) || N(1, e)) = 0.5 * (-1 + 1 - 0 + e^-1 + e^-1) nats
        mean1, logvar1 = torch.tensor(0.0), torch.tensor(0.0)
        mean2, logvar2 = torch.tensor(1.0), torch.tensor(1.0)
        expected = 0.5 * (-1.0 + 1.0 - 0.0 + math.exp(-1.0) + 1.0 * math.exp(-1.0))
        # Act
        kl = normal_kl(mean1, logvar1, mean2, logvar2)
        # Assess
        self.assertAlmostEqual(float(kl), expected, places=6)
        self.assertAlmostEqual(float(normal_kl(mean1, logvar1, mean1, logvar1)), 0.0, places=7)

    def test_discretised_decoder_uses_bins_of_width_2_over_255_and_open_edges(self) -> None:
        # Prepare
        sigma = 0.01
        log_scale = torch.tensor([math.log(sigma)] * 3)
        x = torch.tensor([0.0, -1.0, 1.0])
        mean = torch.tensor([0.002, -0.99, 0.995])
        half = 1.0 / 255.0
        expected = [
            math.log(_phi((0.0 - 0.002 + half) / sigma) - _phi((0.0 - 0.002 - half) / sigma)),
            math.log(_phi((-1.0 + 0.99 + half) / sigma)),  # lowest bin: everything below
            math.log(1.0 - _phi((1.0 - 0.995 - half) / sigma)),  # highest bin: everything above
        ]
        # Act
        log_probs = discretized_gaussian_log_likelihood(x, mean, log_scale)
        # Assess
        np.testing.assert_allclose(log_probs.numpy(), expected, rtol=1e-4)

    def test_hybrid_loss_matches_hand_computed_terms(self) -> None:
        # Prepare: one pixel, t = 5 and t = 0, a fixed network output.
        schedule = DiffusionSchedule.linear(1000)
        b = linear_betas(1000)
        abar = np.cumprod(1 - b)
        x0 = torch.tensor([0.3, -0.2]).reshape(2, 1, 1, 1)
        noise = torch.tensor([0.7, -1.1]).reshape(2, 1, 1, 1)
        eps_out, v_out = torch.tensor(0.5), torch.tensor(0.2)
        model = _FixedOutput(eps_out.reshape(1, 1, 1, 1), v_out.reshape(1, 1, 1, 1))
        t = torch.tensor([5, 0])
        expected_mse, expected_vb = [], []
        for i, step in enumerate([5, 0]):
            x0_i, n_i = float(x0[i]), float(noise[i])
            abar_t = abar[step]
            abar_prev = abar[step - 1] if step > 0 else 1.0
            x_t = math.sqrt(abar_t) * x0_i + math.sqrt(1 - abar_t) * n_i
            c1 = b[step] * math.sqrt(abar_prev) / (1 - abar_t)
            c2 = (1 - abar_prev) * math.sqrt(1 - b[step]) / (1 - abar_t)
            post_var = [b[k] * (1 - (abar[k - 1] if k > 0 else 1.0)) / (1 - abar[k]) for k in (1, step)]
            log_post = math.log(post_var[1]) if step > 0 else math.log(post_var[0])
            pred_x0 = (x_t - math.sqrt(1 - abar_t) * 0.5) / math.sqrt(abar_t)
            model_mean = c1 * pred_x0 + c2 * x_t
            frac = (0.2 + 1) / 2
            model_logvar = frac * math.log(b[step]) + (1 - frac) * log_post
            expected_mse.append((n_i - 0.5) ** 2)
            if step > 0:
                true_mean = c1 * x0_i + c2 * x_t
                kl = 0.5 * (-1 + model_logvar - log_post + math.exp(log_post - model_logvar)
                            + (true_mean - model_mean) ** 2 * math.exp(-model_logvar))
                expected_vb.append(kl / math.log(2))
            else:
                s = math.exp(0.5 * model_logvar)
                half = 1 / 255
                p = _phi((x0_i - model_mean + half) / s) - _phi((x0_i - model_mean - half) / s)
                expected_vb.append(-math.log(p) / math.log(2))
        # Act
        terms = hybrid_loss(schedule, model, x0, t, noise)
        # Assess: loss = mse + 0.001 * T * vb, with T = 1000 the weight is 1.
        np.testing.assert_allclose(terms["mse"].numpy(), expected_mse, rtol=1e-5)
        np.testing.assert_allclose(terms["vb"].numpy(), expected_vb, rtol=2e-3)
        np.testing.assert_allclose(terms["loss"].numpy(), np.add(expected_mse, expected_vb), rtol=2e-3)
        self.assertEqual(model.seen_t.tolist(), [5, 0])

    def test_vlb_term_trains_only_the_variance(self) -> None:
        # Prepare: a learnable eps and v; the vb term must not send gradient into eps.
        schedule = DiffusionSchedule.linear(1000)
        eps = torch.zeros(1, 1, 2, 2, requires_grad=True)
        v = torch.zeros(1, 1, 2, 2, requires_grad=True)
        model = _FixedOutput(eps, v)
        x0 = torch.full((1, 1, 2, 2), 0.1)
        noise = torch.ones(1, 1, 2, 2)
        # Act
        terms = hybrid_loss(schedule, model, x0, torch.tensor([300]), noise)
        terms["vb"].sum().backward()
        # Assess
        self.assertEqual(float(eps.grad.abs().sum()), 0.0)
        self.assertGreater(float(v.grad.abs().sum()), 0.0)

    def test_oracle_noise_with_posterior_variance_has_zero_kl(self) -> None:
        # Prepare: the exact noise and v = -1 (the posterior variance) make p equal to q.
        schedule = DiffusionSchedule.linear(1000)
        generator = torch.Generator().manual_seed(0)
        x0 = torch.rand(2, 3, 4, 4, generator=generator) * 2 - 1
        noise = torch.randn(2, 3, 4, 4, generator=generator)
        model = _FixedOutput(noise, torch.full((1, 3, 1, 1), -1.0))
        # Act
        terms = hybrid_loss(schedule, model, x0, torch.tensor([10, 700]), noise)
        # Assess
        np.testing.assert_allclose(terms["mse"].numpy(), [0.0, 0.0], atol=1e-7)
        np.testing.assert_allclose(terms["vb"].numpy(), [0.0, 0.0], atol=1e-4)


class SamplerTest(unittest.TestCase):
    def test_sampler_starts_at_t_999_and_walks_down_the_respaced_steps(self) -> None:
        # Prepare
        seen: list[int] = []

        class Recorder(torch.nn.Module):
            def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                seen.append(int(t[0]))
                return torch.zeros(x.shape[0], 6, *x.shape[2:])

        # Act
        out = sample(Recorder(), (2, 3, 8, 8), steps=5, generator=torch.Generator().manual_seed(0))
        # Assess
        self.assertEqual(seen, [999, 749, 500, 250, 0])
        self.assertEqual(tuple(out.shape), (2, 3, 8, 8))
        self.assertLessEqual(float(out.abs().max()), 1.0)


if __name__ == "__main__":
    unittest.main()
