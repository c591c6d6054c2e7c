"""`tinylm gradcheck`: a preset's hand-derived gradients against finite differences, parameter by parameter.

The model is the one `tinylm train` would start from (same seed string: same data split, tokenizer and
initial weights), the batch is one training batch of the preset's size, and the comparison is
``engines.gradcheck.check_gradients`` (the code the course's lesson-2 widget and the tests use).
"""
from __future__ import annotations

import argparse

from ..engines import engine_class
from ..engines.gradcheck import DEFAULT_EPS, GradCheck, check_gradients
from ..presets import apply_overrides, get_preset
from ..seeding import rng_for
from ..training.loop import Trainer
from .values import set_items


def gradcheck_preset(preset_name: str, *, seed: str | None = None, engine: str = "numpy", dtype: str = "float64",
                     eps: float = DEFAULT_EPS, entries: int = 10,
                     overrides: dict | None = None) -> tuple[GradCheck, dict]:
    """(the check, what was checked: preset, engine, dtype, seed, batch shape, parameter count). ``overrides``:
    ``--set`` values applied to the preset first (a family of your own before it has a preset)."""
    preset = apply_overrides(get_preset(preset_name), overrides or {})
    if seed is not None:
        preset.train.seed = seed
    preset.train.dtype = dtype
    trainer = Trainer(preset.model, preset.train, engine=engine, preset=preset.name)
    reference = None
    try:
        seed = preset.train.seed
        x, y = trainer.corpus.batch("train", rng_for(seed, "gradcheck-batch"), preset.train.batch_size,
                                    trainer.model_cfg.block_size)
        if dtype != "float64":      # slopes in float64: a twin of the engine holding the same weights
            reference = engine_class(engine)(trainer.model_cfg, trainer.engine.get_params(), dtype="float64")
        check = check_gradients(trainer.engine, x, y, entries=entries, eps=eps, reference=reference,
                                rng=rng_for(seed, "gradcheck-entries"))
    finally:
        trainer.engine.close()
        if reference is not None:
            reference.close()
    about = {"preset": preset.name, "family": trainer.model_cfg.family, "engine": engine, "dtype": dtype,
             "seed": seed, "batch": list(x.shape), "n_params": trainer.n_params}
    return check, about


def report_lines(check: GradCheck, about: dict) -> list[str]:
    lines = [f"gradient check: {about['preset']} ({about['family']}, {about['n_params']:,} parameters), "
             f"{about['engine']} engine, {check.dtype}, seed {about['seed']!r}",
             f"one training batch of {about['batch'][0]} x {about['batch'][1]} tokens, loss {check.loss:.4f}; "
             f"each entry nudged by +-{check.eps:g} (slopes in float64)",
             f"relative error = |analytic - slope| / max(|analytic| + |slope|, {check.floor:.0e})",
             ""]
    width = max([len("parameter")] + [len(p.name) for p in check.params])
    lines.append(f"{'parameter':<{width}}  {'shape':<12} {'checked':>7}  {'max |grad|':>10}  {'max rel error':>13}")
    for p in check.params:
        shape = "x".join(str(n) for n in p.shape)
        flag = "" if p.max_rel_error <= check.tolerance else "  <- disagrees"
        lines.append(f"{p.name:<{width}}  {shape:<12} {p.entries:>7}  {p.max_abs_grad:>10.2e}  "
                     f"{p.max_rel_error:>13.2e}{flag}")
    lines.append("")
    kinks = sum(p.near_kink for p in check.params)
    if kinks:
        lines.append(f"{kinks} entr{'y sits' if kinks == 1 else 'ies sit'} near a kink (e.g. ReLU at 0): a nudge of "
                     f"+-{check.eps:g} crossed it, so {'it was' if kinks == 1 else 'they were'} re-measured "
                     f"with +-{check.eps / 10:g}")
    worst = max(check.params, key=lambda p: p.max_rel_error)
    if check.ok:
        lines.append(f"verdict: PASS: analytic and finite-difference gradients agree (max relative error "
                     f"{check.max_rel_error:.1e} <= {check.tolerance:g}, in {worst.name})")
    else:
        bad = [p.name for p in check.params if p.max_rel_error > check.tolerance]
        lines.append(f"verdict: FAIL: {len(bad)} of {len(check.params)} parameters disagree (max relative error "
                     f"{check.max_rel_error:.1e} > {check.tolerance:g}, in {worst.name})")
    return lines


def cmd_gradcheck(args: argparse.Namespace) -> int:
    check, about = gradcheck_preset(args.preset, seed=args.seed, engine=args.engine, dtype=args.dtype,
                                    eps=args.eps, entries=args.entries, overrides=set_items(args.set))
    print("\n".join(report_lines(check, about)))
    return 0 if check.ok else 1
