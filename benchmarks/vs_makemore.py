"""makemore's rnn, gru and bow models next to tinylm's presets of the same names, on makemore's names.txt.

    TINYLM_MAKEMORE_DIR=/path/to/makemore python benchmarks/vs_makemore.py [--steps 5000] [rnn gru bow]

makemore publishes no losses for these three models, so this script measures them: it runs makemore's own
makemore.py (from the checkout named by TINYLM_MAKEMORE_DIR; without it the script says so and exits 0) with
its default sizes and recipe (n_embd 64, n_embd2 64, batch 32, AdamW lr 5e-4, weight decay 0.01, betas
0.9/0.99, seed 3407), one thread, no loader workers, and parses the test loss it prints every 500 steps
(the mean over its 1,000 held-out names). Then, per family, interleaved so that the seconds compare:

- tinylm_same_split: tinylm (numpy engine) with makemore's recipe, trained on makemore's own training names
  (its split re-drawn: torch.randperm at seed 3407, the last 1,000 held out) and evaluated on makemore's
  1,000 test names: the number that checks the implementation against makemore's.
- tinylm_preset: ``python -m tinylm train --preset <family>`` (the preset's own recipe) on the same names.txt,
  its val loss on 10 batches of 100 names of tinylm's own 10% split.

makemore evaluates step N after N + 1 updates (it counts from 0), tinylm after N. Where tinylm has no preset
of that name yet, its half is recorded as skipped.

Writes benchmarks/results/vs_makemore.json.
"""
from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"           # both sides on one core: the machine is shared
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from common import REPO, write_result  # noqa: E402

FAMILIES = ("rnn", "gru", "bow")
# makemore.py's own defaults, spelled out so a change there cannot change this benchmark silently
MAKEMORE_ARGS = ["--n-embd", "64", "--n-embd2", "64", "--batch-size", "32", "--learning-rate", "5e-4",
                 "--weight-decay", "0.01", "--seed", "3407", "--num-workers", "0"]
EVAL_LINE = re.compile(r"^step (\d+) train loss: ([0-9.]+) test loss: ([0-9.]+)$")
STEP_LINE = re.compile(r"^step \d+ \| loss [0-9.]+ \| step time ([0-9.]+)ms$")


def run_makemore(folder: Path, family: str, steps: int) -> dict:
    """makemore.py --type family for ``steps`` + 1 steps (its loop evaluates at step % 500 == 0, counting
    from 0, so the last evaluation is at ``steps``)."""
    with tempfile.TemporaryDirectory() as work:
        cmd = [sys.executable, str(folder / "makemore.py"), "--input-file", str(folder / "names.txt"),
               "--work-dir", work, "--type", family, "--max-steps", str(steps + 1), *MAKEMORE_ARGS]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    evals, step_ms = [], []
    for line in proc.stdout.splitlines():
        if m := EVAL_LINE.match(line.strip()):
            evals.append([int(m[1]), float(m[2]), float(m[3])])
        elif m := STEP_LINE.match(line.strip()):
            step_ms.append(float(m[1]))
    if not evals:
        return {"error": "makemore printed no evaluation line"}
    return {"test_loss": evals[-1][2], "best_test_loss": min(e[2] for e in evals), "at_step": evals[-1][0],
            "evals_step_train_test": evals, "wall_s": round(wall, 1),
            "median_step_ms": round(statistics.median(step_ms), 2) if step_ms else None, "command": " ".join(cmd[1:])}


# makemore's optimisation as tinylm overrides (the model's sizes and init are the preset's)
MAKEMORE_RECIPE = {"optim.name": "adamw", "optim.lr": 5e-4, "optim.beta1": 0.9, "optim.beta2": 0.99,
                   "optim.weight_decay": 0.01, "schedule": "constant", "warmup": 0, "batch_size": 32}


def makemore_split(names: Path) -> tuple[list[str], list[str]]:
    """makemore's (train, test) names: its create_datasets, right after torch.manual_seed(3407)."""
    import torch

    words = [w.strip() for w in names.read_text().splitlines()]
    words = [w for w in words if w]
    torch.manual_seed(3407)
    order = torch.randperm(len(words)).tolist()
    test_size = min(1000, int(len(words) * 0.1))
    return [words[i] for i in order[:-test_size]], [words[i] for i in order[-test_size:]]


def run_tinylm_same_split(family: str, steps: int, names: Path) -> dict:
    """tinylm with makemore's recipe on makemore's training names, evaluated on its 1,000 test names (1% of the
    training names is tinylm's own val split, needed by the trainer; the figure is the test loss)."""
    import tinylm
    from tinylm.data import Corpus
    from tinylm.errors import ConfigError
    from tinylm.training.evaluate import split_loss

    train, test = makemore_split(names)
    with tempfile.TemporaryDirectory() as work:
        train_file = Path(work) / "makemore-train.txt"
        train_file.write_text("\n".join(train) + "\n")
        t0 = time.perf_counter()
        try:
            run = tinylm.train(family, progress=False, steps=steps, eval_every=500, sample_every=0,
                               **{"data.source": str(train_file), "data.val_fraction": 0.01}, **MAKEMORE_RECIPE)
        except ConfigError as err:
            return {"skipped": str(err)}
        wall = time.perf_counter() - t0
    trainer = run.trainer
    held_out = Corpus.from_documents("makemore-test", train[:1], test, tokenizer=trainer.corpus.tokenizer)
    loss, tokens = split_loss(trainer.engine, held_out, "val", trainer.model_cfg.block_size)
    return {"test_loss": loss, "test_tokens": tokens, "wall_s": round(wall, 1), "recipe": MAKEMORE_RECIPE}


def run_tinylm_preset(family: str, steps: int, names: Path) -> dict:
    """tinylm train --preset family on makemore's names, evaluated every 500 steps on 10 x 100 names."""
    with tempfile.TemporaryDirectory() as work:
        cmd = [sys.executable, "-m", "tinylm", "train", "--preset", family, "--steps", str(steps),
               "--data", "makemore", "--eval-every", "500", "--sample-every", "0", "--set", "eval_batches=10",
               "--set", "eval_batch_size=100", "--out", str(Path(work) / "run"), "--json", "--quiet"]
        env = {**os.environ, "TINYLM_NAMES_MAKEMORE": str(names),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=work)
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        message = (proc.stderr.strip() or proc.stdout.strip() or f"exit {proc.returncode}").splitlines()[-1]
        if "unknown preset" in message:
            return {"skipped": message}
        return {"error": message}
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    evals = [[e["iter"], e["train_loss"], e["val_loss"]] for e in events if e.get("event") == "eval"]
    if not evals:
        return {"error": "tinylm printed no eval event"}
    return {"val_loss": evals[-1][2], "best_val_loss": min(e[2] for e in evals), "at_step": evals[-1][0],
            "evals_step_train_val": evals, "wall_s": round(wall, 1), "command": " ".join(cmd[1:])}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("families", nargs="*", help="any of rnn, gru, bow (default: all three)")
    parser.add_argument("--steps", type=int, default=5000, help="optimizer steps per run (a multiple of 500)")
    parser.add_argument("--skip-tinylm", action="store_true", help="only run makemore")
    args = parser.parse_args(argv)
    unknown = [f for f in args.families if f not in FAMILIES]
    if unknown:
        parser.error(f"unknown family {unknown[0]!r} (choose from {', '.join(FAMILIES)})")
    folder = os.environ.get("TINYLM_MAKEMORE_DIR")
    if not folder or not (Path(folder) / "makemore.py").is_file():
        print(json.dumps({"skipped": "set TINYLM_MAKEMORE_DIR to a makemore checkout (makemore.py, names.txt)"}))
        return 0
    if args.steps < 500 or args.steps % 500:
        parser.error("--steps must be a positive multiple of 500 (makemore evaluates every 500 steps)")
    folder = Path(folder)
    results = {}
    for family in args.families or FAMILIES:
        makemore = run_makemore(folder, family, args.steps)
        print(json.dumps({family: {"makemore": {k: makemore.get(k) for k in ("test_loss", "wall_s", "error")}}}),
              flush=True)
        results[family] = {"makemore": makemore}
        for label, run in (("tinylm_same_split", run_tinylm_same_split), ("tinylm_preset", run_tinylm_preset)):
            tinylm = {"skipped": "--skip-tinylm"} if args.skip_tinylm else run(family, args.steps, folder / "names.txt")
            print(json.dumps({family: {label: {k: tinylm.get(k) for k in ("test_loss", "val_loss", "wall_s",
                                                                           "skipped", "error")}}}), flush=True)
            results[family][label] = tinylm
    write_result("vs_makemore", {"steps": args.steps, "threads": 1, "families": results,
                                 "note": "makemore.test_loss and tinylm_same_split.test_loss: the same 1,000 held-out "
                                         "names, the same recipe (makemore evaluated after steps + 1 updates); "
                                         "tinylm_preset.val_loss: the preset's recipe, on 10 x 100 names of "
                                         "tinylm's own split."})
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
