"""Torch engine on CUDA at nanoGPT's shakespeare-char GPU size: 6 layers, 6 heads, 384-d, T 256, batch 64,
vocab 65, bf16 autocast, torch.compile, fused AdamW, flash attention (sdpa). Reports tokens/s and model
FLOPs utilisation against the H100's bf16 dense peak (989 TFLOP/s).

Targets: >= 1,000,000 tokens/s and >= 40% MFU. FLOPs per token follow nanoGPT's estimate_mfu
(PaLM appendix B): 6 N + 12 L H Q T, N = parameters without the position table. Note that at this
model size 1M tokens/s is ~71 TFLOP/s (~7% MFU); 40% MFU would need ~5.6M tokens/s.

Times the engine's own ``train_step`` (numpy batch in, loss and grad norm out, i.e. what the Trainer
runs), with an eager fp32 baseline beside it. Without a CUDA device it writes a JSON that says so and
exits 0.

    python benchmarks/gpu_speed.py [--steps 50] [--warmup 10] [--compile-mode default|max-autotune]
"""
from __future__ import annotations

import argparse
import dataclasses
import time
import traceback

import numpy as np
from common import write_result

H100_BF16_DENSE_PEAK = 989e12
TARGET_TOKENS_PER_S = 1_000_000
TARGET_MFU = 0.40


def model_config():
    from tinylm.config import ModelConfig
    # nanoGPT's config/train_shakespeare_char.py without dropout: LayerNorm/Linear without bias, tied head
    return ModelConfig(family="gpt", vocab_size=65, block_size=256, n_embd=384, n_layer=6, n_head=6,
                       norm="layernorm", norm_affine=True, final_norm=True, activation="gelu", bias=False,
                       tie_weights=True, init_std=0.02, scaled_residual_init=True)


def flops_per_token(cfg) -> float:
    from tinylm.models.params import param_count
    n = param_count(cfg) - cfg.block_size * cfg.n_embd          # without wpe, as nanoGPT counts
    return 6 * n + 12 * cfg.n_layer * cfg.n_head * cfg.head_dim * cfg.block_size


def run_variant(label: str, options: dict, cfg, batches: list, warmup: int) -> dict:
    import torch

    from tinylm.config import OptimConfig
    from tinylm.engines.torch_engine import TorchEngine
    from tinylm.models.params import init_params

    torch.cuda.reset_peak_memory_stats()
    params = init_params(cfg, np.random.default_rng(0))
    engine = TorchEngine(cfg, params, dtype="float32", device="cuda", **options)
    # nanoGPT's recipe: AdamW lr 1e-3, betas (0.9, 0.99), wd 0.1, clip 1.0
    engine.configure_optimizer(OptimConfig(name="adamw", lr=1e-3, beta1=0.9, beta2=0.99, weight_decay=0.1,
                                           grad_clip=1.0))
    t0 = time.perf_counter()
    for x, y in batches[:warmup]:               # compilation and autotuning happen here
        engine.train_step(x, y, 1e-3)
    torch.cuda.synchronize()
    warmup_s = time.perf_counter() - t0
    timed = batches[warmup:]
    losses = []
    t0 = time.perf_counter()
    for x, y in timed:
        losses.append(engine.train_step(x, y, 1e-3).loss)   # .loss is a host float: each step syncs
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    tokens = sum(x.size for x, _ in timed)
    tokens_per_s = tokens / elapsed
    mfu = tokens_per_s * flops_per_token(cfg) / H100_BF16_DENSE_PEAK
    engine.close()
    return {"label": label, "options": options, "warmup_steps": warmup, "warmup_s": warmup_s,
            "timed_steps": len(timed), "ms_per_iter": 1e3 * elapsed / len(timed), "tokens_per_s": tokens_per_s,
            "mfu_vs_h100_bf16_peak": mfu, "loss_first": losses[0], "loss_last": losses[-1],
            "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--compile-mode", default="default", help="torch.compile mode (default, max-autotune, ...)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the eager fp32 baseline")
    args = ap.parse_args()

    result: dict = {"target_tokens_per_s": TARGET_TOKENS_PER_S, "target_mfu": TARGET_MFU,
                    "peak_flops": H100_BF16_DENSE_PEAK, "peak_flops_source": "H100 SXM bf16 dense"}
    try:
        import torch
    except ImportError:
        result.update(cuda=False, error="torch is not installed (pip install 'tinylm[torch]')")
        return finish(result)
    result["torch"] = torch.__version__
    if not torch.cuda.is_available():
        result.update(cuda=False, error=f"no CUDA device (torch {torch.__version__}, "
                                        f"built with CUDA {torch.version.cuda or 'none'})")
        return finish(result)

    torch.backends.cuda.matmul.allow_tf32 = True     # fp32 baseline and any fp32 matmul left under autocast
    torch.backends.cudnn.allow_tf32 = True
    cfg = model_config()
    props = torch.cuda.get_device_properties(0)
    result.update(cuda=True, device=props.name, device_memory_gib=props.total_memory / 2**30,
                  model=dataclasses.asdict(cfg), batch=64, block=cfg.block_size,
                  flops_per_token=flops_per_token(cfg))
    if "H100" not in props.name:
        result["peak_note"] = f"MFU is against the H100 peak; this device is {props.name}"
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(args.warmup + args.steps):
        tokens = rng.integers(0, cfg.vocab_size, (64, cfg.block_size + 1))
        batches.append((tokens[:, :-1], tokens[:, 1:]))

    compile_arg = True if args.compile_mode == "default" else args.compile_mode
    variants = [("recipe: bf16 autocast + compile + fused AdamW + sdpa",
                 {"amp": True, "compile": compile_arg, "fused": True, "sdpa": True})]
    if not args.no_baseline:
        variants.append(("baseline: fp32/tf32 eager, sdpa", {"amp": False, "compile": False, "fused": False,
                                                             "sdpa": True}))
    result["variants"] = []
    for label, options in variants:
        try:
            r = run_variant(label, options, cfg, batches, args.warmup)
            print(f"{label}: {r['ms_per_iter']:.2f} ms/iter, {r['tokens_per_s']:,.0f} tok/s, "
                  f"MFU {100 * r['mfu_vs_h100_bf16_peak']:.1f}%")
        except Exception as err:
            lines = [line for line in str(err).strip().splitlines() if line.strip()]
            error = f"{type(err).__name__}: {lines[0] if lines else ''}"[:500]
            r = {"label": label, "options": options, "error": error,
                 "traceback_tail": traceback.format_exc().splitlines()[-8:]}
            print(f"{label}: failed: {r['error']}")
        result["variants"].append(r)
    recipe = result["variants"][0]
    if "tokens_per_s" in recipe:
        result["meets_tokens_target"] = recipe["tokens_per_s"] >= TARGET_TOKENS_PER_S
        result["meets_mfu_target"] = recipe["mfu_vs_h100_bf16_peak"] >= TARGET_MFU
    return finish(result)


def finish(result: dict) -> int:
    path = write_result("gpu_speed", result)
    if not result.get("cuda"):
        print(f"gpu_speed: skipped: {result['error']}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
