"""Build a bundle that is NOT ready: the breast-cancer model with a serving config that lies.

    python examples/not-ready/build.py [OUT_DIR]

The serving config promises float64 inputs and batches of 64, but the model takes
float32 rows. `readiness check examples/not-ready` blocks the release (exit 1)
and SCH001 says why.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRAIN = HERE.parent / "breast-cancer" / "train.py"


def build(out: Path = HERE) -> Path:
    spec = importlib.util.spec_from_file_location("breast_cancer_train", TRAIN)
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    manifest = train.build(out)
    serving = out / "serving.yaml"
    text = serving.read_text()
    text = text.replace("dtype: float32", "dtype: float64  # wrong: the model's input is float32")
    serving.write_text(text)
    toml = manifest.read_text().replace('name = "breast-cancer"', 'name = "breast-cancer-misconfigured"')
    manifest.write_text(toml)
    return manifest


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    print(f"wrote {build(target)}")
