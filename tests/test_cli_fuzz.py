"""A fuzzer for the command line: every flag of every command, and every config key through --set, with
bad values. Each outcome must be a one-line error with a non-zero exit, or a (tiny) successful run — never
a traceback or a hang. Counts are printed (`pytest -s`)."""
from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import fields

import pytest

from tinylm.cli.main import main
from tinylm.cli.parser import build_parser
from tinylm.config import DataConfig, ModelConfig, OptimConfig, TrainConfig

from fuzzing import Hang, time_limit     # tests/fuzzing.py

BAD = ["", "-1", "0", "nan", "inf", "-inf", "1e309", "abc", "\udcff", "9" * 30, "1.5", " ", "1,000", "[]"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", "--preset", "bigram", "--steps", "3", "--out", str(out), "--quiet"]) == 0
    return out


def base_args(command: str, run_dir, tmp) -> list[str]:
    """Arguments that make each command quick, so an accepted value costs little."""
    return {"train": ["--preset", "bigram", "--steps", "2", "--out", str(tmp / "t"), "--force", "--quiet",
                      "--eval-every", "1", "--sample-every", "1"],
            "sample": [str(run_dir), "-n", "2", "--max-new-tokens", "5"],
            "eval": [str(run_dir)], "info": [str(run_dir)], "plot": [str(run_dir), "-o", str(tmp / "p.png")],
            "bench": ["--preset", "bigram", "--steps", "1"], "lab": ["--no-browser"], "presets": [],
            "gradcheck": ["--preset", "bigram", "--entries", "1"],
            "export": [str(run_dir), "--weights-only", str(tmp / "w.safetensors")]}[command]


def cases(run_dir, tmp) -> list[list[str]]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    out = []
    for command, sp in sub.choices.items():
        base = base_args(command, run_dir, tmp)
        for action in sp._actions:
            if isinstance(action, argparse._HelpAction) or action.nargs == 0:
                continue
            for value in BAD:
                if action.option_strings:
                    flag = action.option_strings[-1]
                    args = [a for a in base]
                    if flag in args:               # replace the base's own value of that flag
                        i = args.index(flag)
                        del args[i:i + 2]
                    out.append([command, *args, flag, value])
                else:                              # the positional run argument
                    out.append([command, value, *base[1:]])
    keys = [f"model.{f.name}" for f in fields(ModelConfig)] + [f"train.{f.name}" for f in fields(TrainConfig)] + \
           [f"optim.{f.name}" for f in fields(OptimConfig)] + [f"data.{f.name}" for f in fields(DataConfig)]
    for key in keys:
        for value in BAD:
            out.append(["train", *base_args("train", run_dir, tmp), "--set", f"{key}={value}"])
    return out


@pytest.mark.slow
def test_every_flag_and_config_key_with_bad_values(run_dir, tmp_path, capsys, monkeypatch):
    import tinylm.lab
    monkeypatch.chdir(tmp_path)            # bad values for --out or -o are paths: keep what they create here
    monkeypatch.setattr(tinylm.lab, "serve", lambda **kw: None)     # an accepted lab flag must not serve forever
    monkeypatch.setenv("TINYLM_SHAKESPEARE", "/nonexistent/so/no/download")
    all_cases = cases(run_dir, tmp_path)
    outcomes: Counter = Counter()
    failures = []
    for args in all_cases:
        try:
            with time_limit(60):
                code = main(args)
        except SystemExit as stop:                  # argparse's refusal
            code = stop.code
        except Hang:
            outcomes["hang"] += 1
            failures.append(f"{args[0]} {args[-2:]}: hang")
            continue
        except Exception as exc:   # noqa: BLE001 - nothing may escape main()
            outcomes["traceback"] += 1
            failures.append(f"{args[0]} {args[-2:]}: {type(exc).__name__}: {exc!s:.150}")
            continue
        err = capsys.readouterr().err.strip()
        if code:
            outcomes["clean error"] += 1
            if len(err.splitlines()) != 1 or "Traceback" in err:
                failures.append(f"{args[0]} {args[-2:]}: not one line: {err[:300]!r}")
        else:
            outcomes["worked"] += 1
    with capsys.disabled():
        print(f"\ncli fuzz: tried {len(all_cases)}, " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    assert not failures, "\n".join(failures[:30])
