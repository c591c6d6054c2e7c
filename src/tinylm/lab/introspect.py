"""What the lab shows about one step, computed from the live engine (never made up).

- ``cycle_detail_before/after``: the training-cycle view. Before a step: that step's batch (peeked
  without consuming the data RNG), the model's predictions per position, the loss and the gradient norm
  per parameter group. After it: the Adam update each group received.
- ``inspect_update``: one real forward/backward on a typed document and the update it implies for a
  chosen parameter (grad, m, v, m_hat, v_hat, lr_t, delta), computed by the engines' own optimizer on copies
  of the live state (``engines.optim.preview_step``, with ``models.params.decay_names``); optionally applied.
- ``next_char_logits``: next-token logits after a prefix (the sandbox reshapes them by temperature).
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import TinyLMError
from ..models.params import decay_names
from ..engines.optim import bias_corrected, preview_step
from ..training.schedules import learning_rate

END_LABEL = "<end>"
TOP_K = 5


def token_label(tokenizer, token: int) -> str:
    if token == tokenizer.bos_id:
        return END_LABEL
    return tokenizer.chars[token]


def vocab_labels(tokenizer) -> list[str]:
    return [token_label(tokenizer, i) for i in range(tokenizer.vocab_size)]


def param_group(name: str) -> str:
    """h.0.attn.wq.weight -> h.0.attn; norm gains -> norms; wte -> wte."""
    parts = name.split(".")
    if "norm" in name:
        return "norms"
    if parts[0] == "h" and len(parts) >= 3:
        return ".".join(parts[:3])
    return parts[0]


def group_norms(arrays: dict[str, np.ndarray]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for name, a in arrays.items():
        flat = np.asarray(a, dtype=np.float64).reshape(-1)
        totals[param_group(name)] = totals.get(param_group(name), 0.0) + float(flat @ flat)
    return {g: math.sqrt(v) for g, v in totals.items()}


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def encode_document(trainer, text: str) -> tuple[np.ndarray, np.ndarray]:
    """One document as a [1, T] batch: names get BOS on both ends, streams need two characters."""
    tok, block = trainer.tokenizer, trainer.model_cfg.block_size
    ids = tok.encode(text)
    if tok.bos_id is not None:
        ids = [tok.bos_id] + ids + [tok.bos_id]
    elif len(ids) < 2:
        raise TinyLMError("type at least two characters")
    ids = ids[: block + 1]
    arr = np.array(ids, dtype=np.int64)[None, :]
    return arr[:, :-1], arr[:, 1:]


def position_table(trainer, x: np.ndarray, y: np.ndarray, row: int = 0) -> list[dict]:
    """Per position of one row: the prefix seen, the top predictions, the true next token, its loss."""
    tok = trainer.tokenizer
    probs = _softmax(np.asarray(trainer.engine.logits(x[row: row + 1]), dtype=np.float64))[0]
    table = []
    for t in range(x.shape[1]):
        target = int(y[row, t])
        if target < 0:
            break
        order = np.argsort(-probs[t], kind="stable")[:TOP_K]
        p_true = float(probs[t, target])
        table.append({"prefix": tok.decode(x[row, : t + 1]),
                      "top": [[token_label(tok, int(i)), float(probs[t, i])] for i in order],
                      "target": token_label(tok, target), "p_target": p_true,
                      "loss": -math.log(max(p_true, 1e-300))})
    return table


def cycle_detail_before(trainer) -> dict:
    it = trainer.iter
    state = trainer.data_rng.bit_generator.state
    x, y = trainer.train_batch(it)
    trainer.data_rng.bit_generator.state = state  # peeking must not change the run
    engine = trainer.engine
    loss, grads = engine.forward_backward(x, y)
    tok = trainer.tokenizer
    first = x[0][y[0] >= 0]
    return {"iter": it + 1, "document": tok.decode(np.append(first, y[0][y[0] >= 0][-1:])),
            "batch_size": int(x.shape[0]), "positions": position_table(trainer, x, y),
            "loss": float(loss), "grad_norms": group_norms(grads),
            "lr": float(learning_rate(trainer.train_cfg, it)), "_params": engine.get_params(), "_grads": grads}


def cycle_detail_after(trainer, before: dict, step: dict) -> dict:
    before = dict(before)
    params_before, grads = before.pop("_params"), before.pop("_grads")
    after = trainer.engine.get_params()
    delta = {k: after[k].astype(np.float64) - params_before[k] for k in after}
    steps, state = trainer.engine.get_optimizer_state()
    opt = trainer.train_cfg.optim
    # the single weight with the largest gradient, followed through the optimizer
    name = max(grads, key=lambda k: float(np.abs(grads[k]).max()))
    index = np.unravel_index(int(np.argmax(np.abs(grads[name]))), grads[name].shape)
    example = {"param": name, "index": [int(i) for i in index], "grad": float(grads[name][index]),
               "delta": float(delta[name][index])}
    if f"m.{name}" in state:
        m, v = float(state[f"m.{name}"][index]), float(state[f"v.{name}"][index])
        m_hat, v_hat = bias_corrected(m, v, steps, opt)
        example.update(m=m, v=v, m_hat=m_hat, v_hat=v_hat)
    before.update(optimizer=opt.name, t=steps, beta1=opt.beta1, beta2=opt.beta2, step_loss=step["loss"],
                  update_norms=group_norms(delta), example=example, grad_norm=step["grad_norm"])
    return before


def next_char_logits(trainer, prefix: str) -> dict:
    tok, block = trainer.tokenizer, trainer.model_cfg.block_size
    ids = tok.encode(prefix)
    if tok.bos_id is not None:
        ids = [tok.bos_id] + ids
    elif not ids:
        ids = tok.encode(trainer.corpus.sample_prompt()[:1])
    x = np.array(ids[-block:], dtype=np.int64)[None, :]
    logits = np.asarray(trainer.engine.logits(x), dtype=np.float64)[0, -1]
    return {"prefix": prefix, "labels": vocab_labels(tok), "logits": logits.tolist(),
            "end_id": tok.bos_id}


def inspect_update(trainer, document: str, param: str, apply: bool) -> dict:
    """One real forward + backward on ``document`` and the optimizer update it implies.

    The predicted update is the engines' optimizer step itself (clipping, Adam/AdamW or SGD, and the decay
    set: AdamW never decays norm gains or biases), run on copies of the live parameters and state."""
    engine, cfg = trainer.engine, trainer.train_cfg
    opt = cfg.optim
    x, y = encode_document(trainer, document)
    params = engine.get_params()
    param = param or next(iter(params))          # the model's first parameter (every family draws its own first)
    if param not in params:
        raise TinyLMError(f"unknown parameter {param!r}")
    loss, grads = engine.forward_backward(x, y)
    lr = float(learning_rate(cfg, min(trainer.iter, cfg.steps - 1)))
    steps, state = engine.get_optimizer_state()
    decay = decay_names(trainer.model_cfg)
    preview = preview_step(params, grads, steps, state, lr, opt, decay)
    p = params[param]
    in_decay_set = param in decay
    g = preview.grads[param].astype(np.float64)
    result = {"document": document, "loss": float(loss), "param": param, "shape": list(p.shape),
              "optimizer": opt.name, "t": preview.t, "lr": lr, "grad_norm": preview.grad_norm,
              "clip_scale": preview.clip_scale,
              "weight_decay": opt.weight_decay if opt.name == "adamw" and in_decay_set else 0.0,
              "params": list(params)}
    cols = {}
    if f"m.{param}" in preview.state:
        m, v = preview.state[f"m.{param}"], preview.state[f"v.{param}"]
        m_hat, v_hat = bias_corrected(m, v, preview.t, opt)
        cols = {"m": m, "v": v, "m_hat": m_hat, "v_hat": v_hat}
    new, p = preview.params[param].astype(np.float64), p.astype(np.float64)
    delta = new - p
    flat = np.argsort(-np.abs(g).reshape(-1), kind="stable")[:8]
    rows = []
    for i in flat:
        index = np.unravel_index(int(i), g.shape)
        row = {"index": [int(j) for j in index], "value": float(p[index]), "grad": float(g[index]),
               "delta": float(delta[index])}
        row.update({k: float(a[index]) for k, a in cols.items()})
        rows.append(row)
    result["rows"] = rows
    if apply:
        engine.train_step(x, y, lr)
        actual = engine.get_params()[param].astype(np.float64) - p
        result["applied"] = True
        result["actual_delta"] = [float(actual[tuple(r["index"])]) for r in rows]
        result["loss_after"] = float(engine.loss(x, y))
    return result
