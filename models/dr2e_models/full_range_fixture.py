"""Write the full-range detector's parity fixture (test/fixtures/full-range): a small photo and
what the original TF.js graph makes of it, evaluated op by op by tfjs_reference (no TensorFlow
here): every anchor whose face probability reaches 0.01, its box and six keypoints in the photo's
pixels, decoded as MediaPipe's full-range face detection decodes them (one anchor per 4 px cell
of the 192 px input, offsets and sides in input pixels). test/photo/full-range.test.ts runs the
translated ONNX graph (any-size, on the photo as it is) through photo/full-range.ts and compares.

    PYTHONPATH=models /usr/bin/python3 -m dr2e_models.full_range_fixture \\
        package/models/facemesh-detection-full.json samples/sample-mild.jpg test/fixtures/full-range
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from dr2e_models.tfjs_reference import Graph

# The graph's own input size (its upsamplings are stored for it); a face of 80 px pasted off-centre.
PHOTO_SIDE = 192
FACE_SIZE = 80
FACE_AT = (90, 40)
STRIDE = 4
FLOOR = 0.01


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_json", type=Path)
    parser.add_argument("face", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    photo = Image.new("RGB", (PHOTO_SIDE, PHOTO_SIDE), (118, 122, 126))
    photo.paste(Image.open(args.face).convert("RGB").resize((FACE_SIZE, FACE_SIZE), Image.BICUBIC), FACE_AT)
    args.out.mkdir(parents=True, exist_ok=True)
    photo.save(args.out / "photo.png")
    pixels = np.asarray(Image.open(args.out / "photo.png").convert("RGB"), dtype=np.float32)[None]
    (anchors,) = Graph(args.model_json).run({"input": pixels / 127.5 - 1}, ["Identity"])
    cells = PHOTO_SIDE // STRIDE
    kept = []
    for k, values in enumerate(anchors[0]):
        score = 1 / (1 + np.exp(-np.clip(values[0], -100, 100)))
        if score < FLOOR:
            continue
        ax, ay = (k % cells + 0.5) * STRIDE, (k // cells + 0.5) * STRIDE
        cx, cy, w, h = ax + values[1], ay + values[2], values[3], values[4]
        keypoints = [[ax + values[5 + 2 * i], ay + values[6 + 2 * i]] for i in range(6)]
        kept.append({
            "box": [round(float(v), 3) for v in (cx - w / 2, cy - h / 2, w, h)],
            "score": round(float(score), 5),
            "keypoints": [[round(float(x), 3), round(float(y), 3)] for x, y in keypoints],
        })
    kept.sort(key=lambda d: -d["score"])
    text = json.dumps({"source": "tfjs_reference on the TF.js graph", "floor": FLOOR, "detections": kept},
                      separators=(",", ":"))
    (args.out / "expected.json").write_text(text.replace("},{", "},\n{") + "\n")
    print(f"wrote {len(kept)} detections to {args.out / 'expected.json'}")


if __name__ == "__main__":
    main()
