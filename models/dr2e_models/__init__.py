"""dr2e model tooling: PyTorch definitions, checkpoint conversion, ONNX export and training.

Library modules:

* :mod:`dr2e_models.unet` - the guided-diffusion (ADM) U-Net family (DR2's denoiser).
* :mod:`dr2e_models.sparnethd` - SPARNet / SPARNetHD (DR2's enhancer).
* :mod:`dr2e_models.checkpoints` - reading checkpoints, layout checks, spectral-norm folding.
* :mod:`dr2e_models.onnx_export` - ONNX export, fp16 conversion, parity through onnxruntime-node.
* :mod:`dr2e_models.exporter` - checkpoint or module -> ONNX file plus manifest.
* :mod:`dr2e_models.manifest` - the JSON manifests the engine reads beside each ONNX file.
* :mod:`dr2e_models.data`, :mod:`dr2e_models.diffusion` - training data cache and diffusion maths.
* :mod:`dr2e_models.paths` - where the repository, training runs and ``../shared`` are.

Command lines (``python3 -m dr2e_models.<name>`` with ``models/`` on the import path, see
models/README.md): ``export``, ``make_pipeline``, ``make_tiny_models``, ``train_ddpm``,
``train_enhancer``, ``ship_default``, ``make_figures``, ``measure_framing``, ``data``,
``make_trace_fixture``.
"""
