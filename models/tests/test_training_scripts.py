"""Smoke tests of the training tools on tiny synthetic data: a few steps run, checkpoints resume
to the same state as an uninterrupted run, the data cache and the framing measurement work.

Everything here is synthetic and small (16x16 images, a few thousand parameters), so the module
runs in seconds and needs neither ../shared nor a GPU.
"""

from __future__ import annotations

import io
import json
import math
import shutil
import tarfile
import tempfile
import unittest
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dr2e_models import data, measure_framing, train_ddpm, train_enhancer

TINY_DDPM = ["--image-size", "16", "--model-channels", "8", "--channel-mult", "1,2", "--num-res-blocks", "1",
             "--attention-rates", "2", "--head-channels", "8", "--norm-groups", "4", "--batch-size", "2",
             "--threads", "1", "--log-every", "1", "--warmup-steps", "2"]
TINY_ENHANCER = ["--in-size", "16", "--out-size", "32", "--min-feat-size", "8", "--min-ch", "4", "--max-ch", "8",
                 "--res-depth", "1", "--attention-channels", "4", "--bottleneck-size", "16", "--batch-size", "2",
                 "--threads", "1", "--log-every", "1", "--holdout", "0.2", "--sigma-max", "1.0"]


def _quiet(function, *args):  # type: ignore[no-untyped-def]
    with redirect_stdout(io.StringIO()):
        return function(*args)


def _assert_same_state(test: unittest.TestCase, a: dict, b: dict) -> None:
    test.assertEqual(a["step"], b["step"])
    test.assertEqual(a["images_seen"], b["images_seen"])
    for key in ("model", "ema"):
        for name, tensor in a[key].items():
            torch.testing.assert_close(tensor, b[key][name], rtol=1e-5, atol=1e-6, msg=f"{key}.{name}")


class DdpmTrainingTest(unittest.TestCase):
    def setUp(self) -> None:
        torch.set_num_threads(1)
        self.dir = Path(tempfile.mkdtemp(prefix="dr2e-ddpm-test-"))
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        faces = np.random.default_rng(0).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
        self.faces = self.dir / "faces.npy"
        np.save(self.faces, faces)

    def _run(self, run: str, *extra: str) -> dict:
        args = ["--data", str(self.faces), "--run-dir", str(self.dir / run), *TINY_DDPM, *extra]
        self.assertEqual(_quiet(train_ddpm.main, args), 0)
        return torch.load(self.dir / run / "checkpoint.pt")

    def test_a_few_steps_train_log_and_checkpoint(self) -> None:
        # Act
        state = self._run("a", "--max-steps", "2")
        # Assess
        self.assertEqual(state["step"], 2)
        self.assertEqual(state["images_seen"], 4)
        metrics = [json.loads(line) for line in (self.dir / "a" / "metrics.jsonl").read_text().splitlines()]
        self.assertEqual([m["step"] for m in metrics], [1, 2])
        self.assertTrue(all(math.isfinite(m["loss"]) and m["vb"] >= 0 for m in metrics))
        self.assertEqual(state["config"]["out_channels"], 6)
        changed = any(not torch.equal(state["model"][k], state["ema"][k]) for k in state["model"])
        self.assertTrue(changed, "EMA should lag the trained weights")

    def test_resume_continues_to_the_same_state_as_an_uninterrupted_run(self) -> None:
        # Prepare
        straight = self._run("straight", "--max-steps", "3")
        self._run("resumed", "--max-steps", "2")
        # Act
        resumed = self._run("resumed", "--max-steps", "3", "--resume")
        # Assess
        _assert_same_state(self, straight, resumed)

    def test_init_starts_model_and_ema_from_given_weights_and_records_their_source(self) -> None:
        # Prepare: weights of the tiny architecture, as dr2e_models.onnx_weights writes them
        config = train_ddpm.model_config(train_ddpm.parse_args(TINY_DDPM))
        weights = {k: torch.randn_like(v) for k, v in train_ddpm.build_unet(config).state_dict().items()}
        init = self.dir / "init.pt"
        torch.save({"config": config.to_dict(), "state_dict": weights, "source": {"onnxSha256": "ab" * 32}}, init)
        # Act: a step at learning rate 0 leaves the weights where they started
        state = self._run("init", "--init", str(init), "--max-steps", "1", "--lr", "0")
        # Assess
        self.assertEqual(state["init"], {"onnxSha256": "ab" * 32})
        for name, tensor in weights.items():
            torch.testing.assert_close(state["model"][name], tensor, msg=name)
            torch.testing.assert_close(state["ema"][name], tensor, msg=name)

    def test_a_resumed_init_run_keeps_its_origin_and_init_cannot_be_given_with_resume(self) -> None:
        # Prepare
        config = train_ddpm.model_config(train_ddpm.parse_args(TINY_DDPM))
        init = self.dir / "init.pt"
        torch.save({"config": config.to_dict(), "state_dict": train_ddpm.build_unet(config).state_dict(),
                    "source": {"onnxSha256": "ef" * 32}}, init)
        self._run("cont", "--init", str(init), "--max-steps", "1")
        # Act
        resumed = self._run("cont", "--max-steps", "2", "--resume")
        # Assess
        self.assertEqual(resumed["init"], {"onnxSha256": "ef" * 32})
        self.assertEqual(resumed["args"]["init"], str(init))
        with self.assertRaisesRegex(SystemExit, "--init starts a new run"):
            _quiet(train_ddpm.main, ["--data", str(self.faces), "--run-dir", str(self.dir / "cont"), *TINY_DDPM,
                                     "--init", str(init), "--resume"])

    def test_init_of_another_architecture_is_refused(self) -> None:
        # Prepare
        init = self.dir / "other.pt"
        torch.save({"config": {"image_size": 32}, "state_dict": {}, "source": {}}, init)
        # Act / Assess
        with self.assertRaises(SystemExit) as refused:
            _quiet(train_ddpm.main, ["--data", str(self.faces), "--run-dir", str(self.dir / "x"), *TINY_DDPM,
                                     "--init", str(init)])
        self.assertIn("another architecture", str(refused.exception))

    def test_refuses_to_overwrite_a_run_without_resume(self) -> None:
        # Prepare
        self._run("once", "--max-steps", "1")
        # Act / Assess
        with self.assertRaises(SystemExit):
            _quiet(train_ddpm.main, ["--data", str(self.faces), "--run-dir", str(self.dir / "once"), *TINY_DDPM])

    def test_each_epoch_visits_every_image_once_and_batches_are_reproducible(self) -> None:
        # Act
        plans = [train_ddpm.batch_for_step(step, 7, 5, 2) for step in range(5)]  # 10 draws = 2 epochs
        again = train_ddpm.batch_for_step(3, 7, 5, 2)
        # Assess
        drawn = np.concatenate([p["indices"] for p in plans])
        self.assertEqual(sorted(drawn[:5].tolist()), [0, 1, 2, 3, 4])
        self.assertEqual(sorted(drawn[5:].tolist()), [0, 1, 2, 3, 4])
        np.testing.assert_array_equal(again["indices"], plans[3]["indices"])
        np.testing.assert_array_equal(again["t"], plans[3]["t"])
        self.assertEqual(again["noise_seed"], plans[3]["noise_seed"])

    def test_dr2_timestep_sampling_favours_t_below_700_but_keeps_the_top(self) -> None:
        # Act
        t = np.concatenate([train_ddpm.batch_for_step(s, 1, 100, 100, "dr2", 0.75)["t"] for s in range(20)])
        # Assess: expected share below 700 is 0.75 + 0.25 * 0.7 = 0.925
        self.assertAlmostEqual(float((t < 700).mean()), 0.925, delta=0.03)
        self.assertGreater(int(t.max()), 950)

    def test_ema_decay_warms_up_then_caps(self) -> None:
        self.assertAlmostEqual(train_ddpm.ema_decay(0, 0.999), 0.1)
        self.assertAlmostEqual(train_ddpm.ema_decay(90, 0.999), 0.91)
        self.assertEqual(train_ddpm.ema_decay(10**6, 0.999), 0.999)


class EnhancerTrainingTest(unittest.TestCase):
    def setUp(self) -> None:
        torch.set_num_threads(1)
        self.dir = Path(tempfile.mkdtemp(prefix="dr2e-enhancer-test-"))
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        rng = np.random.default_rng(1)
        targets = rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
        self.targets = self.dir / "targets.npy"
        np.save(self.targets, targets)
        pool = self.dir / "pool"
        pool.mkdir()
        rows = [{"face": face, "tau": 5 * (1 + face % 4), "seed": face} for face in (6, 1, 3, 0, 7)]
        np.save(pool / "dr2.npy", rng.uniform(-1, 1, (len(rows), 3, 16, 16)).astype(np.float32))
        (pool / "index.json").write_text(json.dumps({"rows": rows, "done": len(rows), "n": 4, "taus": [5, 10, 15, 20],
                                                     "steps": 100, "seed": 1, "model": "test"}))
        self.pool = pool

    def _run(self, run: str, *extra: str) -> dict:
        args = ["--pool-dir", str(self.pool), "--targets", str(self.targets), "--run-dir", str(self.dir / run),
                *TINY_ENHANCER, *extra]
        self.assertEqual(_quiet(train_enhancer.main, args), 0)
        return torch.load(self.dir / run / "checkpoint.pt")

    def test_pool_rows_are_paired_with_their_own_clean_faces(self) -> None:
        # Act
        inputs, targets, index = train_enhancer.load_pool(self.pool, self.targets, 32)
        # Assess
        original = np.load(self.targets)
        self.assertEqual(inputs.shape, (5, 3, 16, 16))
        np.testing.assert_array_equal(targets[0], original[6])
        np.testing.assert_array_equal(targets[4], original[7])

    def test_a_few_steps_log_holdout_metrics_against_bicubic(self) -> None:
        # Act
        state = self._run("a", "--max-steps", "2")
        # Assess
        self.assertEqual(state["step"], 2)
        metrics = [json.loads(line) for line in (self.dir / "a" / "metrics.jsonl").read_text().splitlines()]
        self.assertEqual(len(metrics), 2)
        for key in ("l1", "holdout_l1", "holdout_psnr", "bicubic_psnr"):
            self.assertTrue(math.isfinite(metrics[-1][key]), key)

    def test_resume_continues_to_the_same_state_as_an_uninterrupted_run(self) -> None:
        # Prepare
        straight = self._run("straight", "--max-steps", "3")
        self._run("resumed", "--max-steps", "2")
        # Act
        resumed = self._run("resumed", "--max-steps", "3", "--resume")
        # Assess
        _assert_same_state(self, straight, resumed)

    def test_gaussian_blur_matches_a_separable_reference_and_sigma_zero_is_identity(self) -> None:
        # Prepare
        generator = torch.Generator().manual_seed(0)
        images = torch.rand(2, 3, 12, 12, generator=generator)
        sigma = 0.8
        taps = np.exp(-0.5 * (np.arange(-3, 4) / sigma) ** 2)
        taps /= taps.sum()
        padded = np.pad(images[1].numpy().astype(np.float64), ((0, 0), (3, 3), (3, 3)), mode="reflect")
        reference = np.zeros((3, 12, 12))
        for dy in range(7):
            for dx in range(7):
                reference += taps[dy] * taps[dx] * padded[:, dy:dy + 12, dx:dx + 12]
        # Act
        blurred = train_enhancer.gaussian_blur(images, torch.tensor([0.0, sigma]), radius=3)
        # Assess
        torch.testing.assert_close(blurred[0], images[0], rtol=0, atol=1e-6)
        np.testing.assert_allclose(blurred[1].numpy(), reference, atol=1e-5)

    def test_edge_loss_is_zero_for_a_shifted_copy_and_counts_lost_edges(self) -> None:
        # Prepare: a vertical step edge, the same image brightened, and a flattened copy.
        target = torch.zeros(1, 1, 4, 4)
        target[..., 2:] = 1.0
        # Act
        same_edges = train_enhancer.edge_l1(target + 0.3, target)
        flat = train_enhancer.edge_l1(torch.full_like(target, 0.5), target)
        # Assess: one of the three horizontal differences per row is 1 -> mean 1/3, halved.
        self.assertAlmostEqual(float(same_edges), 0.0, places=6)
        self.assertAlmostEqual(float(flat), 0.5 * (1.0 / 3.0), places=6)

    def test_holdout_rows_never_appear_in_training_batches(self) -> None:
        # Prepare
        args = train_enhancer.parse_args(["--pool-dir", str(self.pool), "--targets", str(self.targets), *TINY_ENHANCER])
        inputs, targets, _ = train_enhancer.load_pool(self.pool, self.targets, 32)
        trainer = train_enhancer.EnhancerTrainer(args, inputs, targets)
        # Act
        drawn = set()
        for step in range(10):
            drawn |= set(train_enhancer.step_plan(step, args.seed, trainer.train_rows, 2, 0.0, 1.0)["rows"].tolist())
        # Assess
        self.assertEqual(len(trainer.holdout_rows), 1)
        self.assertFalse(drawn & set(trainer.holdout_rows.tolist()))
        self.assertEqual(drawn, set(trainer.train_rows.tolist()))


class DataCacheTest(unittest.TestCase):
    def test_preprocess_keeps_splits_apart_in_sorted_order_with_area_downsampling(self) -> None:
        # Prepare: a tiny archive with two train faces and one val face.
        folder = Path(tempfile.mkdtemp(prefix="dr2e-data-test-"))
        self.addCleanup(shutil.rmtree, folder, ignore_errors=True)
        archive = folder / "faces.tar"
        colours = {"train/b.jpg": (200, 10, 10), "train/a.jpg": (10, 200, 10), "val/c.jpg": (10, 10, 200)}
        with tarfile.open(archive, "w") as tar:
            for name, colour in colours.items():
                buffer = io.BytesIO()
                Image.new("RGB", (20, 20), colour).save(buffer, format="JPEG", quality=95)
                info = tarfile.TarInfo(name)
                info.size = buffer.tell()
                buffer.seek(0)
                tar.addfile(info, buffer)
        # Act
        paths = data.preprocess("train", (4, 20), archive=archive, cache_dir=folder)
        # Assess
        small = np.load(paths[4])
        self.assertEqual(small.shape, (2, 4, 4, 3))
        self.assertGreater(int(small[0, 2, 2, 1]), 150)  # a.jpg (green) comes first
        self.assertGreater(int(small[1, 2, 2, 0]), 150)
        self.assertEqual(np.load(paths[20]).shape, (2, 20, 20, 3))
        names = json.loads(paths[4].with_suffix(".json").read_text())["names"]
        self.assertEqual(names, ["train/a.jpg", "train/b.jpg"])


class FramingTest(unittest.TestCase):
    def test_finds_dark_blobs_of_a_synthetic_mean_face(self) -> None:
        # Prepare: light face, dark eyes at (0.36, 0.45), (0.64, 0.45), mouth line at (0.5, 0.72).
        size = 128
        ys, xs = np.mgrid[0:size, 0:size] + 0.5
        mean = np.full((size, size), 0.7)
        for (cx, cy, sx, sy, depth) in ((0.36, 0.45, 0.025, 0.015, 0.35), (0.64, 0.45, 0.025, 0.015, 0.35),
                                        (0.5, 0.72, 0.06, 0.012, 0.3)):
            mean -= depth * np.exp(-0.5 * (((xs / size - cx) / sx) ** 2 + ((ys / size - cy) / sy) ** 2))
        # Act
        landmarks = measure_framing.locate_landmarks(mean)
        framing = measure_framing.framing_from_landmarks("synthetic", landmarks)
        # Assess: within one pixel of 128
        self.assertAlmostEqual(framing["eyeDistance"], 0.28, delta=1 / size)
        self.assertAlmostEqual(framing["eyeY"], 0.45, delta=1 / size)
        self.assertAlmostEqual(framing["mouthY"], 0.72, delta=1 / size)
        self.assertEqual(framing["name"], "synthetic")

    def test_mean_luminance_resizes_and_averages(self) -> None:
        # Prepare
        white = np.full((64, 64, 3), 255, dtype=np.uint8)
        black = np.zeros((32, 32, 3), dtype=np.uint8)
        # Act
        mean = measure_framing.mean_luminance([white, black], size=16)
        # Assess
        self.assertEqual(mean.shape, (16, 16))
        np.testing.assert_allclose(mean, 0.5, atol=1e-6)


if __name__ == "__main__":
    unittest.main()
