"""--compat nanogpt: tinylm replays nanoGPT's random stream, so a run sees nanoGPT's exact weights and batches.

The reference here is a small model written the way nanoGPT's model.py and train.py are (modules built in
the same order, the same ``_init_weights``, ``get_batch`` with ``torch.randint``, the first batch fetched
before the loop, fresh eval batches at every eval), trained side by side with tinylm's numpy engine.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from tinylm.checkpoints import load_checkpoint
from tinylm.data import Corpus
from tinylm.errors import ConfigError
from tinylm.presets import apply_overrides, get_preset
from tinylm.training.loop import CHECKPOINT_NAME, Trainer

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch
nn, F = torch.nn, torch.nn.functional

SMALL = {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 16, "batch_size": 4, "warmup": 5, "steps": 30,
         "eval_every": 10, "eval_batches": 2, "sample_every": 0, "min_lr": 1e-4}


# --- a nanoGPT-shaped reference model ------------------------------------------------------------
class LayerNorm(nn.Module):
    def __init__(self, c, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class SelfAttention(nn.Module):
    def __init__(self, c, heads, bias):
        super().__init__()
        self.c_attn = nn.Linear(c, 3 * c, bias=bias)
        self.c_proj = nn.Linear(c, c, bias=bias)
        self.heads = heads

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2)
                   for z in self.c_attn(x).split(c, dim=2))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(b, t, c))


class Block(nn.Module):
    def __init__(self, c, heads, bias):
        super().__init__()
        self.ln_1, self.attn = LayerNorm(c, bias), SelfAttention(c, heads, bias)
        self.ln_2 = LayerNorm(c, bias)
        self.mlp = nn.Sequential()
        self.mlp.c_fc = nn.Linear(c, 4 * c, bias=bias)
        self.mlp.gelu = nn.GELU()
        self.mlp.c_proj = nn.Linear(4 * c, c, bias=bias)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class NanoGPT(nn.Module):
    def __init__(self, vocab, block, c, heads, layers, bias):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab, c), wpe=nn.Embedding(block, c), drop=nn.Dropout(0.0),
            h=nn.ModuleList([Block(c, heads, bias) for _ in range(layers)]), ln_f=LayerNorm(c, bias)))
        self.lm_head = nn.Linear(c, vocab, bias=False)
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * layers))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, 0.0, 0.02)

    def forward(self, idx, targets):
        t = self.transformer
        x = t.drop(t.wte(idx) + t.wpe(torch.arange(idx.shape[1])))
        for block in t.h:
            x = block(x)
        logits = self.lm_head(t.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def nanogpt_names(layers: int) -> dict[str, tuple[str, slice | None]]:
    """tinylm name -> (nanoGPT name, rows of it)."""
    names = {"wte": ("transformer.wte.weight", None), "wpe": ("transformer.wpe.weight", None)}
    for i in range(layers):
        h = f"transformer.h.{i}"
        for j, proj in enumerate(("wq", "wk", "wv")):
            names[f"h.{i}.attn.{proj}.weight"] = (f"{h}.attn.c_attn.weight", j)
        names[f"h.{i}.attn.wo.weight"] = (f"{h}.attn.c_proj.weight", None)
        names[f"h.{i}.mlp.fc1.weight"] = (f"{h}.mlp.c_fc.weight", None)
        names[f"h.{i}.mlp.fc2.weight"] = (f"{h}.mlp.c_proj.weight", None)
        names[f"h.{i}.norm1.weight"] = (f"{h}.ln_1.weight", None)
        names[f"h.{i}.norm2.weight"] = (f"{h}.ln_2.weight", None)
    names["norm_f.weight"] = ("transformer.ln_f.weight", None)
    return names


def small_trainer(text_file, run_dir=None, engine="numpy", **overrides) -> Trainer:
    p = apply_overrides(get_preset("shakespeare-cpu"), {**SMALL, "data.source": str(text_file),
                                                         "data.mode": "stream", "compat": "nanogpt", **overrides})
    return Trainer(p.model, p.train, preset=p.name, run_dir=run_dir, engine=engine)


@pytest.mark.parametrize("bias", [False, True])
def test_initial_weights_and_random_stream_equal_nanogpts(bias):
    from tinylm.compat.nanogpt import NanogptCompat
    p = apply_overrides(get_preset("shakespeare-cpu"), {**SMALL, "bias": bias})
    cfg = p.model
    cfg.vocab_size = 23
    torch.manual_seed(1234)
    reference = NanoGPT(23, 16, 32, 2, 2, bias)
    compat = NanogptCompat(1234)
    ours = compat.init_params(cfg)
    theirs = dict(reference.named_parameters())
    for name, (ref_name, third) in nanogpt_names(2).items():
        expected = theirs[ref_name].detach().numpy()
        if third is not None:
            expected = np.split(expected, 3)[third]
        assert np.array_equal(ours[name].astype(np.float32), expected), name
    if bias:
        assert all(not ours[n].any() for n in ours if n.endswith(".bias"))
    # the stream is left exactly where nanoGPT's is: its first get_batch draws the same starts
    assert torch.randint(500, (12,)).tolist() == compat._starts(516, 16, 12).tolist()


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_training_follows_a_nanogpt_loop_step_for_step(stream_text_file, one_torch_thread, engine):
    trainer = small_trainer(stream_text_file, seed="99", engine=engine)
    events = list(trainer.events())
    assert "nanoGPT" in events[0].compat and "seed 99" in events[0].compat   # the run says what it replays
    ours_steps = [e.loss for e in events if e.kind == "step"]
    ours_evals = [(e.iter, e.train_loss, e.val_loss) for e in events if e.kind == "eval"]

    corpus: Corpus = trainer.corpus
    train_ids, val_ids = corpus.train_ids.astype(np.int64), corpus.val_ids.astype(np.int64)
    B, T, cfg = 4, 16, trainer.train_cfg

    def get_batch(ids):
        ix = torch.randint(len(ids) - T, (B,))
        x = torch.stack([torch.from_numpy(ids[i:i + T]) for i in ix])
        return x, torch.stack([torch.from_numpy(ids[i + 1:i + 1 + T]) for i in ix])

    torch.manual_seed(99)
    model = NanoGPT(corpus.tokenizer.vocab_size, T, 32, 2, 2, False)
    params = list(model.parameters())
    opt = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
                             {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99))

    def lr_at(it):
        if it < cfg.warmup:
            return 1e-3 * (it + 1) / (cfg.warmup + 1)
        ratio = (it - cfg.warmup) / (cfg.steps - cfg.warmup)
        return 1e-4 + 0.5 * (1 + math.cos(math.pi * ratio)) * (1e-3 - 1e-4)

    @torch.no_grad()
    def estimate():
        return [float(torch.stack([model(*get_batch(ids)) for _ in range(2)]).mean()) for ids in (train_ids, val_ids)]

    theirs_steps, theirs_evals = [], []
    x, y = get_batch(train_ids)
    for it in range(cfg.steps + 1):
        for group in opt.param_groups:
            group["lr"] = lr_at(it)
        if it % cfg.eval_every == 0:
            theirs_evals.append((it, *estimate()))
        if it == cfg.steps:
            break
        loss = model(x, y)
        x, y = get_batch(train_ids)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        theirs_steps.append(loss.item())

    np.testing.assert_allclose(ours_steps, theirs_steps, rtol=2e-4)
    assert [e[0] for e in ours_evals] == [e[0] for e in theirs_evals] == [0, 10, 20, 30]
    np.testing.assert_allclose(np.array(ours_evals)[:, 1:], np.array(theirs_evals)[:, 1:], rtol=2e-4)


@pytest.mark.slow
def test_compat_run_resumes_byte_for_byte(stream_text_file, tmp_path):
    list(small_trainer(stream_text_file, run_dir=tmp_path / "straight").events())
    p = apply_overrides(get_preset("shakespeare-cpu"), {**SMALL, "data.source": str(stream_text_file),
                                                         "data.mode": "stream", "compat": "nanogpt"})
    first = Trainer(p.model, p.train, preset=p.name, run_dir=tmp_path / "split", stop_at=15)
    assert list(first.events())[-1].iter == 15
    assert load_checkpoint(tmp_path / "split" / CHECKPOINT_NAME).meta["rng"]["compat"]["pending"]
    resumed = Trainer(run_dir=tmp_path / "split", resume_from=tmp_path / "split" / CHECKPOINT_NAME)
    assert list(resumed.events())[-1].iter == 30
    assert (tmp_path / "split" / CHECKPOINT_NAME).read_bytes() == (tmp_path / "straight" / CHECKPOINT_NAME).read_bytes()


def test_compat_refuses_documents_and_other_architectures(stream_text_file):
    p = apply_overrides(get_preset("names-gpt"), {"compat": "nanogpt", "steps": 2})
    with pytest.raises(ConfigError, match="stream"):
        Trainer(p.model, p.train)
    p = apply_overrides(get_preset("shakespeare-tiny"), {"compat": "nanogpt", "data.source": str(stream_text_file),
                                                         "norm": "rmsnorm", "steps": 2})
    with pytest.raises(ConfigError, match="nanoGPT's model"):
        Trainer(p.model, p.train)
