"""What ``tinylm presets`` and ``tinylm info`` print: readable text (at 80 columns too), or JSON."""
from __future__ import annotations

import json
import shutil
import textwrap

from rich import box
from rich.table import Table

from ..config import ModelConfig
from ..models import family_of
from ..models.params import param_count
from ..presets import PRESETS, Preset

LABEL_WIDTH = 11     # "optimizer  " : the values of `tinylm info` line up after it
NBSP = "\u00a0"      # textwrap breaks only at ASCII whitespace: joins what must stay on one line


def preset_summary(p: Preset) -> str:
    """"gpt 1L 4H 16d · 4,192 params · names" (names data: 27 characters; shakespeare: 65; block 16 when
    the preset sets it from the data)."""
    m = p.model
    vocab = 65 if p.train.data.source == "shakespeare" else 27
    count = param_count(ModelConfig(**{**m.to_dict(), "vocab_size": vocab, "block_size": m.block_size or 16}))
    arch = family_of(m).describe(m)
    return f"{arch} · {count:,} params · {p.train.data.source}"


def presets_table() -> Table:
    """Two columns, so that it reads at 80 columns: the name, then the summary over the description
    (long text wraps between words, never inside a name)."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("preset", no_wrap=True, style="bold")
    table.add_column("what it trains", ratio=1)
    for name, p in PRESETS.items():
        table.add_row(name, f"{preset_summary(p)}\n[dim]{p.description}[/dim]")
    return table


# --- tinylm info -------------------------------------------------------------------------
def info_dict(path, ckpt) -> dict:
    """Everything ``tinylm info`` shows, as plain JSON-able values."""
    from ..checkpoints import weights_hash

    meta = ckpt.meta
    return {"path": str(path), "preset": meta.get("preset"), "engine": meta.get("engine"),
            "dtype": meta.get("dtype"), "step": meta.get("step"), "steps": meta["train"]["steps"],
            "params": param_count(ckpt.model_config), "weights_sha256": weights_hash(ckpt.params),
            "vocab_size": len(meta["tokenizer"]["chars"]) + (1 if meta["tokenizer"].get("bos") else 0),
            "tokenizer": meta["tokenizer"], "model": meta["model"], "train": meta["train"]}


def _pairs(values: dict) -> str:
    """``key value, key value`` (a dict without braces or quotes); a pair is never split by wrapping."""
    return ", ".join(f"{k}{NBSP}{_value(v)}" for k, v in values.items())


def _value(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v) if v != "" else "-"


def info_text(info: dict, width: int | None = None) -> str:
    """``tinylm info`` for people: one labelled line per topic, wrapped to the terminal."""
    width = width or shutil.get_terminal_size((80, 24)).columns
    train = dict(info["train"])
    optim, data = train.pop("optim"), train.pop("data")
    tok = info["tokenizer"]
    chars = json.dumps("".join(tok["chars"]), ensure_ascii=False).replace(" ", NBSP)
    lines = [
        ("run", info["path"]),
        ("preset", f"{info['preset']}  (engine {info['engine']}, {info['dtype']})"),
        ("step", f"{info['step']:,} of {info['steps']:,}"),
        ("params", f"{info['params']:,}   weights sha256 {info['weights_sha256'][:16]}"),
        ("vocab", f"{len(tok['chars'])} characters{' + BOS' if tok.get('bos') else ''}: {chars}"),
        ("data", _pairs(data)),
        ("model", _pairs(info["model"])),
        ("optimizer", _pairs(optim)),
        ("training", _pairs(train)),
    ]
    out = []
    for label, text in lines:
        wrapped = textwrap.wrap(text, width=max(40, width) - LABEL_WIDTH, break_long_words=False,
                                break_on_hyphens=False) or [""]
        out.append(f"{label:<{LABEL_WIDTH}}{wrapped[0]}")
        out += [" " * LABEL_WIDTH + more for more in wrapped[1:]]
    return "\n".join(out).replace(NBSP, " ")


def info_json(info: dict) -> str:
    return json.dumps(info, indent=2)
