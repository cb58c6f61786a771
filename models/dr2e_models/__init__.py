"""dr2e model definitions (PyTorch) and ONNX export helpers.

Modules:

* :mod:`dr2e_models.unet` - the guided-diffusion (ADM) U-Net family (DR2's denoiser).
* :mod:`dr2e_models.sparnethd` - SPARNet / SPARNetHD (DR2's enhancer).
* :mod:`dr2e_models.checkpoints` - reading checkpoints, layout checks, spectral-norm folding.
* :mod:`dr2e_models.onnx_export` - ONNX export, fp16 conversion, parity through onnxruntime-node.
* :mod:`dr2e_models.manifest` - the JSON manifests the engine reads beside each ONNX file.
"""
