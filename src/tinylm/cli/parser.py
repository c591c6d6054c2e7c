"""Every `tinylm` command and flag, in one place. ``commands.py`` (and ``gradcheck.py``) hold what each
command does; ``main.py`` runs the parsed command and turns errors into one line."""
from __future__ import annotations

import argparse

from .. import __version__
from ..config import SCHEDULES
from ..engines import ENGINES
from ..presets import PRESETS
from . import commands
from .values import (MAX_BATCH, MAX_NEW_TOKENS, MAX_PROMPT_FILE_BYTES, MAX_SAMPLES, MAX_STEPS, int_in, number_in,
                     text)

RUN_HELP = "run directory or .safetensors checkpoint"


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (the flag, what is allowed) instead of usage + error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="tinylm", description="Train tiny character-level language models "
                                     "from scratch and watch them learn.")
    parser.add_argument("--version", action="version", version=f"tinylm {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    train = sub.add_parser("train", help="train a model (default: the microgpt preset on the bundled names)")
    add_train_arguments(train)
    train.set_defaults(func=commands.cmd_train)

    sample = sub.add_parser("sample", help="generate text from a trained run or checkpoint")
    add_sample_arguments(sample)
    sample.set_defaults(func=commands.cmd_sample)

    presets = sub.add_parser("presets", help="list the named presets")
    presets.set_defaults(func=commands.cmd_presets)

    info = sub.add_parser("info", help="show what a run directory or checkpoint contains")
    info.add_argument("run", help=RUN_HELP)
    info.add_argument("--json", action="store_true", help="print everything as one JSON object")
    info.set_defaults(func=commands.cmd_info)

    ev = sub.add_parser("eval", help="loss over every token of a split (no eval-batch sampling noise)")
    ev.add_argument("run", help=f"{RUN_HELP} (e.g. RUN/best.safetensors)")
    ev.add_argument("--split", choices=["val", "train", "test", "both", "all"], default="val",
                    help="test: the held-out documents no training decision saw (documents data only); "
                         "both = train + val; all = train + val + test")
    ev.add_argument("--engine", default="numpy", choices=list(ENGINES))
    ev.add_argument("--json", action="store_true", help="print the result as JSON")
    ev.set_defaults(func=commands.cmd_eval)

    export = sub.add_parser("export", help="write a weights-only checkpoint (no optimizer state): smaller, "
                                           "for sampling and sharing; not resumable")
    export.add_argument("run", help=RUN_HELP)
    export.add_argument("--weights-only", required=True, metavar="OUT.safetensors", help="the file to write")
    export.set_defaults(func=commands.cmd_export)

    plot = sub.add_parser("plot", help="plot a run's loss curves to a PNG (matplotlib)")
    plot.add_argument("run", help="run directory (with metrics.jsonl)")
    plot.add_argument("-o", "--output", help="output PNG (default RUN/loss.png)")
    plot.set_defaults(func=commands.cmd_plot)

    from . import gradcheck
    check = sub.add_parser("gradcheck", help="check a preset's gradients against finite differences, "
                                              "parameter by parameter")
    check.add_argument("--preset", default="mlp", help="any preset (see tinylm presets); default mlp")
    check.add_argument("--seed", type=text, default=None, help="seed string (default: the preset's)")
    check.add_argument("--engine", default="numpy", choices=list(ENGINES))
    check.add_argument("--eps", type=number_in(0, 1, open_low=True), default=1e-4,
                       help="the nudge each entry gets (default 1e-4)")
    check.add_argument("--entries", type=int_in(1, 100_000), default=10, metavar="N",
                       help="entries checked per parameter (all of a smaller one); default 10")
    check.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    check.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="change the preset's model first, e.g. --set model.family=gru --set n_hidden=16")
    check.set_defaults(func=gradcheck.cmd_gradcheck)

    bench = sub.add_parser("bench", help="measure training speed of a preset on an engine")
    bench.add_argument("--preset", default="shakespeare-cpu")
    bench.add_argument("--engine", default="numpy")
    bench.add_argument("--device", default=None, help="torch engine: cpu | cuda | auto")
    bench.add_argument("--steps", type=int_in(1, 100_000), default=30, help="timed steps (after 3 warm-up steps)")
    bench.add_argument("--dtype", default="float32")
    bench.add_argument("--json", action="store_true", help="print the result as JSON")
    bench.set_defaults(func=commands.cmd_bench)

    lab = sub.add_parser("lab", help="start the browser lab (a local web app)")
    lab.add_argument("--host", default=None, help="bind address (non-loopback requires a token; default "
                     "127.0.0.1, or 0.0.0.0 with --classroom so the class can reach it)")
    lab.add_argument("--port", type=int_in(1, 65535), default=8765)
    lab.add_argument("--no-browser", action="store_true", help="do not open a browser")
    lab.add_argument("--token", default=None, help="access token (generated when binding off-localhost)")
    lab.add_argument("--classroom", action="store_true",
                     help="serve a whole class: each learner joins with a name and gets their own runs and progress; "
                          "prints a teacher URL and a join URL")
    lab.add_argument("--seats", type=int_in(1, 200), default=None, help="classroom: how many learners may join "
                     "(default 30)")
    lab.add_argument("--state", default=None, metavar="DIR", help="classroom: the folder keeping learners and their "
                     "progress across restarts (default ~/.local/state/tinylm/classroom)")
    lab.set_defaults(func=commands.cmd_lab)
    return parser


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default=None, help=f"one of: {', '.join(PRESETS)} (default microgpt)")
    p.add_argument("--config", metavar="FILE.toml",
                   help="settings from a TOML file: the keys of --set, as [model] [train] [optim] [data] tables "
                        "(n_layer = 2 under [model]) or dotted keys (train.steps = 500), plus preset = \"name\"; "
                        "flags on the command line override the file")
    p.add_argument("--tensorboard", metavar="DIR",
                   help="also log loss, lr, grad_norm and eval losses as TensorBoard event files in DIR "
                        "(needs: pip install 'tinylm[tensorboard]')")
    p.add_argument("--data", help="names | shakespeare | makemore (makemore's names, microgpt.py's data) | path "
                                  "to a UTF-8 text file")
    p.add_argument("--data-mode", choices=["auto", "documents", "stream"],
                   help="a text file as documents (one per line) or as a stream (auto decides)")
    p.add_argument("--engine", default="numpy", choices=list(ENGINES))
    p.add_argument("--device", help="torch engine: cpu | cuda | auto")
    p.add_argument("--dtype", choices=["float32", "float64"])
    p.add_argument("--seed", type=text, help="seed string (any text)")
    p.add_argument("--steps", type=int_in(1, MAX_STEPS), help="total iterations (defines the lr schedule)")
    p.add_argument("--until", type=int_in(0, MAX_STEPS), help="stop after this iteration (checkpointed; resume later)")
    p.add_argument("--batch-size", type=int_in(1, MAX_BATCH))
    p.add_argument("--lr", type=number_in(0, 1e6, open_low=True), help="peak learning rate")
    p.add_argument("--optimizer", choices=["sgd", "adam", "adamw"])
    p.add_argument("--schedule", choices=list(SCHEDULES))
    p.add_argument("--warmup", type=int_in(0, MAX_STEPS))
    p.add_argument("--weight-decay", type=number_in(0, 1e6))
    p.add_argument("--grad-clip", type=number_in(0, 1e12), help="0 = off")
    p.add_argument("--eval-every", type=int_in(0, MAX_STEPS))
    p.add_argument("--sample-every", type=int_in(0, MAX_STEPS))
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any preset value, e.g. --set model.n_layer=2 --set optim.beta2=0.95")
    p.add_argument("--out", help="run directory (default runs/<preset>[-N])")
    p.add_argument("--force", action="store_true", help="overwrite an existing run directory")
    p.add_argument("--resume", metavar="RUN", help="continue a run directory or checkpoint exactly")
    p.add_argument("--compat", choices=["microgpt", "nanogpt"],
                   help="replay microgpt.py's or nanoGPT's RNG, init and data order (reproduces their runs)")
    p.add_argument("--scalar-mode", choices=["fused", "plain"], help="scalar engine: fused nodes or one per op")
    p.add_argument("--compile", action="store_true", help="torch engine: torch.compile")
    p.add_argument("--amp", action="store_true", help="torch engine: bf16 autocast on CUDA")
    p.add_argument("--deterministic", action="store_true", help="torch engine: deterministic algorithms")
    p.add_argument("--quiet", action="store_true", help="print only the final summary")
    p.add_argument("--json", action="store_true", help="print every event as a JSON line")


def add_sample_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help=RUN_HELP)
    p.add_argument("-n", "--num", type=int_in(1, MAX_SAMPLES), default=10, help="how many samples")
    p.add_argument("--temperature", type=number_in(0, 100, open_low=True), default=1.0, help="> 0; lower = more conservative")
    p.add_argument("--top-k", type=int_in(0, 1_000_000), default=0)
    p.add_argument("--greedy", action="store_true", help="always take the most likely character")
    p.add_argument("--prompt", type=text, default="")
    p.add_argument("--prompt-file", metavar="FILE", help="read the prompt from a UTF-8 text file (one trailing "
                   f"newline dropped; at most {MAX_PROMPT_FILE_BYTES:,} bytes)")
    p.add_argument("--novelty", action="store_true",
                   help="mark each sample in-train / in-val / in-test / new against the run's data split "
                        "(documents only), with a count summary")
    p.add_argument("--max-new-tokens", type=int_in(1, MAX_NEW_TOKENS),
                   help="characters per sample (default: a name's block for documents, a paragraph for text)")
    p.add_argument("--seed", type=text, default="sample")
    p.add_argument("--engine", default="numpy", choices=list(ENGINES))
