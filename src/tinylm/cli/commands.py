"""What each CLI subcommand does (its flags are in ``parser.py``): turn arguments into configs, then hand
off to the shared machinery."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from pathlib import Path

from ..errors import ConfigError, TinyLMError
from ..presets import apply_overrides, get_preset
from .values import MAX_PROMPT_FILE_BYTES, set_items


# --- train ----------------------------------------------------------------------------
def _overrides(args: argparse.Namespace) -> dict:
    pairs = {"data.source": args.data, "data.mode": args.data_mode, "train.dtype": args.dtype,
             "train.seed": args.seed, "train.steps": args.steps, "train.batch_size": args.batch_size,
             "optim.lr": args.lr, "optim.name": args.optimizer, "train.schedule": args.schedule,
             "train.warmup": args.warmup, "optim.weight_decay": args.weight_decay,
             "optim.grad_clip": args.grad_clip, "train.eval_every": args.eval_every,
             "train.sample_every": args.sample_every, "train.compat": args.compat}
    return {**{k: v for k, v in pairs.items() if v is not None}, **set_items(args.set)}


def _engine_options(args: argparse.Namespace) -> dict:
    options: dict = {}
    if args.engine == "torch":
        options = {"device": args.device or "cpu", "compile": args.compile, "amp": args.amp,
                   "deterministic": args.deterministic}
    elif args.device or args.compile or args.amp or args.deterministic:
        raise ConfigError("--device, --compile, --amp and --deterministic apply to --engine torch only")
    if args.engine == "scalar" and args.scalar_mode:
        options["mode"] = args.scalar_mode
    elif args.scalar_mode:
        raise ConfigError("--scalar-mode applies to --engine scalar only")
    return options


def _fresh_run_dir(preset: str) -> Path:
    base = Path("runs") / preset
    path, n = base, 1
    while path.exists() and any(path.iterdir()):
        n += 1
        path = Path(f"{base}-{n}")
    return path


@contextlib.contextmanager
def stop_on_interrupt(trainer):
    """The first Ctrl-C finishes the current step, checkpoints and stops (nothing is lost, the run can be
    resumed); a second one aborts at once. Yields a list that is non-empty once Ctrl-C was pressed."""
    pressed: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield pressed
        return

    def first(signum, frame):
        pressed.append(True)
        trainer.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print("\ntinylm: stopping after this step and saving a checkpoint (Ctrl-C again to abort)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, first)
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)


def cmd_train(args: argparse.Namespace) -> int:
    from ..training.loop import CHECKPOINT_NAME, Trainer
    from .display import TrainDisplay

    is_main = int(os.environ.get("RANK", "0")) == 0
    options = _engine_options(args)
    if args.resume and args.config:
        raise ConfigError("--config starts a new run; --resume continues the saved config (drop one of them)")
    if args.resume:
        from ..api import checkpoint_path
        ckpt = checkpoint_path(args.resume)
        run_dir = Path(args.out) if args.out else (Path(args.resume) if Path(args.resume).is_dir() else ckpt.parent)
        extra = _overrides(args)
        unsupported = set(extra) - {"train.steps"}
        if unsupported:
            raise ConfigError(f"--resume continues the saved config; only --steps may change (got {sorted(unsupported)[0]})")
        trainer = Trainer(engine=args.engine, run_dir=run_dir, engine_options=options, resume_from=ckpt,
                          steps=args.steps, stop_at=args.until, quiet=args.quiet or not is_main)
    else:
        preset_name, settings = args.preset, {}
        if args.config:
            from .config_file import read_config_file
            file_preset, settings = read_config_file(args.config)
            preset_name = preset_name or file_preset
        preset = apply_overrides(get_preset(preset_name or "microgpt"), {**settings, **_overrides(args)})
        run_dir = Path(args.out) if args.out else _fresh_run_dir(preset.name)
        if args.out and (run_dir / CHECKPOINT_NAME).exists() and not args.force:
            raise ConfigError(f"{run_dir} already holds a run; use --resume {run_dir}, --force, or another --out")
        if run_dir.exists() and not run_dir.is_dir():
            raise ConfigError(f"--out {run_dir} is a file, not a directory")
        trainer = Trainer(preset.model, preset.train, engine=args.engine, preset=preset.name, run_dir=run_dir,
                          engine_options=options, stop_at=args.until, quiet=args.quiet or not is_main)

    display = TrainDisplay(mode="json" if args.json else "quiet" if args.quiet else "rich", enabled=is_main)
    logger = None
    if args.tensorboard and is_main:
        from ..training.tensorboard import TensorBoardLogger
        logger = TensorBoardLogger(args.tensorboard)
    with display, logger or contextlib.nullcontext(), stop_on_interrupt(trainer) as interrupted:
        for event in trainer.events():
            display.show(event)
            if logger is not None:
                logger.log(event)
    final = trainer.finished
    if interrupted and final is not None and final.reason == "stopped":
        print(f"tinylm: interrupted at iter {final.iter}; the checkpoint is saved — continue with: "
              f"tinylm train --resume {run_dir}", file=sys.stderr)
        return 130
    if final is not None and final.reason == "diverged":
        print(f"tinylm: error: {final.message}", file=sys.stderr)
        return 3
    if final is not None and final.reason == "finished" and is_main:
        _closing_inference(trainer, as_json=args.json)
    return 0


def _closing_inference(trainer, as_json: bool) -> None:
    """What a replayed program prints after training (microgpt.py: its 20 names), exactly as it prints it."""
    from ..compat.microgpt import INFERENCE_TEMPERATURE, MicrogptCompat, format_inference

    if not isinstance(trainer.compat, MicrogptCompat):
        return
    names = trainer.compat.inference(trainer.engine, trainer.tokenizer, trainer.model_cfg.block_size)
    if as_json:
        print(json.dumps({"event": "inference", "compat": "microgpt", "temperature": INFERENCE_TEMPERATURE,
                          "samples": names}))
    else:
        print(format_inference(names))


# --- sample ---------------------------------------------------------------------------
def cmd_sample(args: argparse.Namespace) -> int:
    from ..api import load

    prompt = _prompt(args)
    model = load(args.run, engine=args.engine)
    documents = model.tokenizer.bos_id is not None
    if args.novelty and not documents:
        raise ConfigError("--novelty marks documents (names) as seen or new; this model writes a stream of text")
    texts = model.sample(args.num, temperature=args.temperature, top_k=args.top_k, greedy=args.greedy,
                         prompt=prompt, max_new_tokens=args.max_new_tokens, seed=args.seed)
    if args.novelty:
        from ..data.novelty import novelty_marks, novelty_summary
        from ..training.run_data import run_corpus

        names = [prompt + text for text in texts]
        marks = novelty_marks(names, run_corpus(model.meta))
        width = max(len(name) for name in names)
        for name, mark in zip(names, marks):
            print(f"{name:<{width}}  {mark}")
        print(novelty_summary(marks))
        return 0
    for text in texts:
        print(prompt + text if documents else prompt + text + ("\n" + "-" * 40 if args.num > 1 else ""))
    return 0


def _prompt(args: argparse.Namespace) -> str:
    """--prompt, or the text of --prompt-file (read with the data files' rules: UTF-8, no NUL bytes)."""
    if not args.prompt_file:
        return args.prompt
    if args.prompt:
        raise ConfigError("give the prompt with --prompt or --prompt-file, not both")
    from ..data.sources import read_text_file

    text = read_text_file(args.prompt_file, what="prompt file", max_bytes=MAX_PROMPT_FILE_BYTES)
    return text[:-1] if text.endswith("\n") else text   # the newline an editor adds is not part of the prompt


# --- presets / info / plot ----------------------------------------------------------------
def cmd_presets(args: argparse.Namespace) -> int:
    from rich.console import Console

    from .tables import presets_table

    Console().print(presets_table())
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from ..api import checkpoint_path
    from ..checkpoints import load_checkpoint
    from .tables import info_dict, info_json, info_text

    path = checkpoint_path(args.run)
    info = info_dict(path, load_checkpoint(path))
    print(info_json(info) if args.json else info_text(info))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from ..api import evaluate

    splits = {"both": ("train", "val"), "all": ("train", "val", "test")}.get(args.split, (args.split,))
    result = evaluate(args.run, splits, engine=args.engine)
    if args.json:
        print(json.dumps(result))
        return 0
    for split, r in result.items():
        print(f"{split:<5} loss {r['loss']:.4f}   ppl {r['ppl']:.2f}   over all {r['tokens']:,} predicted tokens")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..api import checkpoint_path
    from ..checkpoints import export_weights_only

    source = checkpoint_path(args.run)
    out = Path(args.weights_only)
    if out.is_dir():
        raise ConfigError(f"--weights-only {out} is a directory; give a file name such as {out / 'weights.safetensors'}")
    if out.exists() and out.resolve() == source.resolve():
        raise ConfigError("--weights-only would overwrite the checkpoint it reads; choose another file")
    written = export_weights_only(source, out)
    full, small = source.stat().st_size, written.stat().st_size
    print(f"{written}: weights only, {small:,} bytes ({small / full:.0%} of the full checkpoint's {full:,}); "
          f"tinylm sample and tinylm.load read it, --resume needs the full checkpoint")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from .plot import plot_run

    out = plot_run(Path(args.run), Path(args.output) if args.output else None)
    print(out)
    return 0


# --- bench / lab -------------------------------------------------------------------------
def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import bench_preset

    result = bench_preset(args.preset, args.engine, steps=args.steps, dtype=args.dtype, device=args.device)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['preset']} on {result['engine']}: {result['ms_per_iter']:.2f} ms/iter, "
              f"{result['tokens_per_s']:,.0f} tokens/s ({result['tokens_per_iter']} tokens/iter, "
              f"{result['n_params']:,} params)")
    return 0


def cmd_lab(args: argparse.Namespace) -> int:
    try:
        from ..lab import serve
    except ImportError as exc:  # pragma: no cover - lab is part of the package
        raise TinyLMError(f"the lab could not start: {exc}") from None
    if args.classroom:
        from ..lab.server import serve_classroom
        if args.token is not None:
            raise TinyLMError("--token is for a one-user lab: in classroom mode the teacher URL carries its own "
                              "token and learners join with the join URL")
        serve_classroom(host=args.host or "0.0.0.0", port=args.port, open_browser=not args.no_browser,
                        seats=args.seats or 30, state_dir=args.state)
        return 0
    if args.seats is not None or args.state is not None:
        raise TinyLMError("--seats and --state are for classroom mode: add --classroom")
    serve(host=args.host or "127.0.0.1", port=args.port, open_browser=not args.no_browser, token=args.token)
    return 0


__all__ = ["cmd_train", "cmd_sample", "cmd_presets", "cmd_info",
           "cmd_plot", "cmd_bench", "cmd_lab", "cmd_export"]
