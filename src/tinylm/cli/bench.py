"""`tinylm bench`: time a preset's training step on an engine with the real Trainer machinery."""
from __future__ import annotations

import statistics
import time

from ..engines import fused
from ..presets import get_preset
from ..training.loop import Trainer


def bench_preset(preset_name: str, engine: str = "numpy", steps: int = 30, dtype: str = "float32",
                 device: str | None = None) -> dict:
    preset = get_preset(preset_name)
    preset.train.dtype = dtype
    options = {"device": device} if engine == "torch" and device else {}
    trainer = Trainer(preset.model, preset.train, engine=engine, preset=preset.name, engine_options=options)
    lr = preset.train.optim.lr
    for it in range(3):  # warm-up: first-call costs, caches, compilation
        x, y = trainer.train_batch(it)
        trainer.engine.train_step(x, y, lr)
    times, tokens = [], 0
    for it in range(3, 3 + steps):
        x, y = trainer.train_batch(it)
        t0 = time.perf_counter()
        stats = trainer.engine.train_step(x, y, lr)
        times.append(time.perf_counter() - t0)
        tokens += stats.n_tokens
    trainer.engine.close()
    median = statistics.median(times)
    per_iter = tokens / steps
    return {"preset": preset_name, "engine": engine, "kernels": fused.kernels() if engine == "numpy" else None,
            "dtype": dtype, "steps": steps, "n_params": trainer.n_params,
            "tokens_per_iter": per_iter, "ms_per_iter": median * 1e3, "ms_per_iter_min": min(times) * 1e3,
            "tokens_per_s": per_iter / median}
