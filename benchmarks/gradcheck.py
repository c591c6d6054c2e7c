"""`tinylm gradcheck`'s verdict: false alarms on correct gradients, and bugs it catches.

    python benchmarks/gradcheck.py [--seeds 10]

- false alarms: the real (correct) backward passes of every names preset, numpy engine, float64 and
  float32, many seed strings (each seed: other initial weights, another batch, other entries). Any FAIL
  verdict is a false alarm; the worst max relative error shows the headroom under the tolerance.
- detections: the same checks with one parameter's analytic gradient made wrong by a small factor
  (1.01 and 1.001: a subtly wrong backward pass) or set to zero (a forgotten term). Each must FAIL.

Writes benchmarks/results/gradcheck.json.
"""
from __future__ import annotations

from common import set_threads, write_result

set_threads(1)

import argparse  # noqa: E402

import numpy as np  # noqa: E402

from tinylm.cli.gradcheck import gradcheck_preset  # noqa: E402
from tinylm.engines.gradcheck import TOLERANCE  # noqa: E402

PRESETS = {"bigram": 10, "mlp": 10, "mlp-context": 10, "microgpt": 10, "names-gpt": 3}   # entries per param
BUGS = {"x1.01": 1.01, "x1.001": 1.001, "zero": 0.0}


class WrongGradient:
    """Wraps an engine's forward_backward so that one parameter's gradient comes back scaled."""

    def __init__(self, name: str, factor: float):
        self.name, self.factor = name, factor

    def __enter__(self):
        from tinylm.engines.numpy_engine.engine import NumpyEngine
        self.original = original = NumpyEngine.forward_backward
        name, factor = self.name, self.factor

        def wrong(engine, x, y):
            loss, grads = original(engine, x, y)
            target = name if name in grads else sorted(grads)[0]
            grads[target] = grads[target] * factor
            return loss, grads
        NumpyEngine.forward_backward = wrong
        return self

    def __exit__(self, *exc):
        from tinylm.engines.numpy_engine.engine import NumpyEngine
        NumpyEngine.forward_backward = self.original


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    seeds = [f"gc-{i}" for i in range(args.seeds)]
    false_alarms = {}
    for dtype in ("float64", "float32"):
        for preset, entries in PRESETS.items():
            worst, alarms = 0.0, []
            for seed in seeds[: 3 if preset == "names-gpt" else None]:
                check, _ = gradcheck_preset(preset, seed=seed, dtype=dtype, entries=entries)
                worst = max(worst, check.max_rel_error)
                if not check.ok:
                    alarms.append(seed)
            false_alarms[f"{preset}/{dtype}"] = {"checks": len(seeds[: 3 if preset == "names-gpt" else None]),
                                                 "false_alarms": alarms, "worst_max_rel_error": worst,
                                                 "tolerance": TOLERANCE[dtype]}
            print(dtype, preset, "worst", f"{worst:.1e}", "alarms", alarms, flush=True)
    detections = {}
    for dtype in ("float64", "float32"):
        for preset in ("mlp", "microgpt", "mlp-context"):
            for bug, factor in BUGS.items():
                caught, missed = 0, []
                for seed in seeds:
                    check, _ = gradcheck_preset(preset, seed=seed, dtype=dtype, entries=PRESETS[preset])
                    name = check.params[int(np.random.default_rng(len(seed)).integers(len(check.params)))].name
                    with WrongGradient(name, factor):
                        wrong, _ = gradcheck_preset(preset, seed=seed, dtype=dtype, entries=PRESETS[preset])
                    if wrong.ok:
                        missed.append(seed)
                    else:
                        caught += 1
                detections[f"{preset}/{dtype}/{bug}"] = {"checks": len(seeds), "caught": caught, "missed": missed}
                print(dtype, preset, bug, "caught", caught, "of", len(seeds), flush=True)
    write_result("gradcheck", {"presets_entries": PRESETS, "seeds": seeds, "false_alarms": false_alarms,
                               "detections": detections})


if __name__ == "__main__":
    main()
