"""Write the FaceBoxes parity fixture (test/fixtures/faceboxes): a small photo and what the
original TF.js graph makes of it, evaluated op by op by tfjs_reference (no TensorFlow here):
every anchor's decoded box and face probability at or above 0.1, in the photo's pixels.
test/photo/faceboxes.test.ts decodes the translated ONNX graph's outputs (faceboxes.ts) and
compares.

    PYTHONPATH=models /usr/bin/python3 -m dr2e_models.faceboxes_fixture \\
        package/models/faceboxes.json samples/sample-mild.jpg test/fixtures/faceboxes
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from dr2e_models.tfjs_reference import Graph

# A face of 150 px on a grey photo whose sides are not multiples of 128: the graph pads it.
PHOTO_SIZE = (320, 200)
FACE_SIZE = 150
FACE_AT = (130, 30)
FLOOR = 0.1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_json", type=Path)
    parser.add_argument("face", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    photo = Image.new("RGB", PHOTO_SIZE, (118, 122, 126))
    photo.paste(Image.open(args.face).convert("RGB").resize((FACE_SIZE, FACE_SIZE), Image.BICUBIC), FACE_AT)
    args.out.mkdir(parents=True, exist_ok=True)
    photo.save(args.out / "photo.png")
    pixels = np.asarray(Image.open(args.out / "photo.png").convert("RGB"))[None]
    graph = Graph(args.model_json)
    boxes, scores = graph.run(
        {"image_tensor": pixels}, ["postprocessing/clip_by_value_1", "postprocessing/strided_slice_2"]
    )
    height, width = pixels.shape[1:3]
    kept = []
    for (ymin, xmin, ymax, xmax), score in zip(boxes[0], scores[0]):
        if score >= FLOOR:
            box = [xmin * width, ymin * height, (xmax - xmin) * width, (ymax - ymin) * height]
            kept.append({"box": [round(float(v), 3) for v in box], "score": round(float(score), 5)})
    kept.sort(key=lambda d: -d["score"])
    text = json.dumps({"source": "tfjs_reference on the TF.js graph", "floor": FLOOR, "detections": kept},
                      separators=(",", ":"))
    (args.out / "expected.json").write_text(text.replace("},{", "},\n{") + "\n")
    print(f"wrote {len(kept)} detections to {args.out / 'expected.json'}")


if __name__ == "__main__":
    main()
