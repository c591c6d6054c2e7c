"""TorchEngine on its own: finite-difference gradients, KV-cache decoding, optimizer formulas,
state round trips, determinism and user-facing errors."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tinylm.config import ModelConfig, OptimConfig  # noqa: E402
from tinylm.engines import engine_class  # noqa: E402
from tinylm.engines.optim import NumpyOptimizer, clip_grads_, global_norm  # noqa: E402
from tinylm.errors import ConfigError, DataError, EngineUnavailable  # noqa: E402
from tinylm.models.params import decay_names, init_params  # noqa: E402

TorchEngine = engine_class("torch")

V = 7
CONFIGS = {
    "bigram": ModelConfig(family="bigram", vocab_size=V, block_size=6, init_std=0.5),
    "mlp-seed": ModelConfig(family="mlp", vocab_size=V, block_size=6, n_embd=4, n_hidden=8, tie_weights=True,
                            activation="relu", init_std=0.5),
    "mlp-context": ModelConfig(family="mlp", vocab_size=V, block_size=6, n_embd=3, n_hidden=8, context=3,
                               activation="tanh", bias=True, init_std=0.5),
    "mlp-context-tied": ModelConfig(family="mlp", vocab_size=V, block_size=6, n_embd=3, n_hidden=8, context=2,
                                    activation="gelu", bias=True, tie_weights=True, init_std=0.5),
    "gpt-microgpt": ModelConfig(family="gpt", vocab_size=V, block_size=6, n_embd=8, n_head=2, n_layer=1,
                                embed_norm=True, final_norm=False, activation="relu", init_std=0.4),
    "gpt-layernorm": ModelConfig(family="gpt", vocab_size=V, block_size=6, n_embd=8, n_head=2, n_layer=2,
                                 norm="layernorm", norm_affine=True, bias=True, activation="gelu_tanh",
                                 init_std=0.4),
    "gpt-tied": ModelConfig(family="gpt", vocab_size=V, block_size=6, n_embd=8, n_head=4, n_layer=2,
                            norm="layernorm", norm_affine=True, activation="gelu", tie_weights=True,
                            init_std=0.4, scaled_residual_init=True),
    "gpt-rms-affine": ModelConfig(family="gpt", vocab_size=V, block_size=6, n_embd=8, n_head=2, n_layer=1,
                                  norm="rmsnorm", norm_affine=True, embed_norm=True, bias=True,
                                  activation="tanh", tie_weights=True, init_std=0.4),
}


pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]


def make_params(cfg: ModelConfig, seed: int = 0) -> dict[str, np.ndarray]:
    params = init_params(cfg, np.random.default_rng(seed))
    # gains and biases start at 1 and 0; perturb them so their gradients are exercised generically
    rng = np.random.default_rng(seed + 100)
    for name, value in params.items():
        if name.endswith("bias") or "norm" in name:
            params[name] = value + 0.3 * rng.standard_normal(value.shape)
    return params


def make_batch(cfg: ModelConfig, B: int = 3, T: int = 6, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, cfg.vocab_size, (B, T))
    y = rng.integers(0, cfg.vocab_size, (B, T))
    y[0, T - 2:] = -1            # padding, as in a batch of documents
    return x, y


# sdpa only changes attention, so the explicit-softmax path is checked on the GPT configs
FD_CASES = [(name, True) for name in CONFIGS] + [(n, False) for n, c in CONFIGS.items() if c.family == "gpt"]


@pytest.mark.slow
@pytest.mark.parametrize("name,sdpa", FD_CASES)
def test_gradients_match_finite_differences(name, sdpa):
    cfg = CONFIGS[name]
    params = make_params(cfg)
    engine = TorchEngine(cfg, params, dtype="float64", sdpa=sdpa)
    x, y = make_batch(cfg)
    loss, grads = engine.forward_backward(x, y)
    assert loss == pytest.approx(engine.loss(x, y), rel=1e-12)
    rng = np.random.default_rng(2)
    h = 1e-5
    for pname, value in params.items():
        assert grads[pname].shape == value.shape
        for _ in range(4):
            idx = tuple(int(rng.integers(0, s)) for s in value.shape)
            bumped = {k: v.copy() for k, v in params.items()}
            bumped[pname][idx] += h
            engine.set_params(bumped)
            up = engine.loss(x, y)
            bumped[pname][idx] -= 2 * h
            engine.set_params(bumped)
            down = engine.loss(x, y)
            numeric = (up - down) / (2 * h)
            analytic = grads[pname][idx]
            # the floor keeps the central difference's round-off (~1e-11 at h=1e-5) from failing tiny gradients
            rel = abs(analytic - numeric) / max(abs(analytic) + abs(numeric), 1e-4)
            assert rel <= 1e-6, f"{name} {pname}{idx}: analytic {analytic} vs numeric {numeric}"
    engine.set_params(params)


def test_loss_ignores_padded_targets_and_averages_over_valid_ones():
    cfg = CONFIGS["bigram"]
    params = make_params(cfg)
    engine = TorchEngine(cfg, params, dtype="float64")
    x, y = make_batch(cfg)
    logits = params["wte"][x]
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    valid = y != -1
    expected = -np.mean(np.take_along_axis(logp, np.where(valid, y, 0)[..., None], -1)[..., 0][valid])
    assert engine.loss(x, y) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", ["bigram", "mlp-seed", "mlp-context", "gpt-layernorm", "gpt-microgpt"])
def test_decoder_matches_full_prefix_logits_and_slides_past_block(name):
    cfg = CONFIGS[name]
    engine = TorchEngine(cfg, make_params(cfg), dtype="float64")
    rng = np.random.default_rng(5)
    tokens = rng.integers(0, cfg.vocab_size, (2, cfg.block_size + 3))
    dec = engine.decoder()
    dec.reset(2)
    for t in range(tokens.shape[1]):
        step = dec.step(tokens[:, t])
        start = max(0, t + 1 - cfg.block_size)
        full = engine.logits(tokens[:, start:t + 1])[:, -1]
        np.testing.assert_allclose(step, full, rtol=1e-10, atol=1e-12)
        assert step.dtype == np.float64 and dec.position == t + 1
    with pytest.raises(ConfigError, match="expects 2 tokens"):
        dec.step(np.array([1, 2, 3]))


def run_optimizer_pair(opt: OptimConfig, cfg: ModelConfig, steps: int = 3):
    """Drive the torch engine, and NumpyOptimizer fed the torch engine's own clipped gradients."""
    params = make_params(cfg)
    engine = TorchEngine(cfg, params, dtype="float64")
    engine.configure_optimizer(opt)
    reference = {k: v.copy() for k, v in params.items()}
    numpy_opt = NumpyOptimizer(reference, opt, decay_names(cfg))
    probe = TorchEngine(cfg, params, dtype="float64")
    for step in range(steps):
        x, y = make_batch(cfg, seed=10 + step)
        probe.set_params(reference)
        loss, grads = probe.forward_backward(x, y)
        norm = global_norm(grads)
        clip_grads_(grads, opt.grad_clip, norm)
        lr = opt.lr * (1.0 - step / (2 * steps))        # a changing lr, as schedules do
        numpy_opt.step(grads, lr)
        stats = engine.train_step(x, y, lr)
        assert stats.loss == pytest.approx(loss, rel=1e-12)
        assert stats.grad_norm == pytest.approx(norm, rel=1e-12)
        assert stats.n_tokens == int((y != -1).sum())
    return engine, reference, numpy_opt


OPTIMS = {
    "sgd": OptimConfig(name="sgd", lr=0.3),
    "sgd-momentum": OptimConfig(name="sgd", lr=0.1, momentum=0.9),
    "adam": OptimConfig(name="adam", lr=0.05, beta1=0.85, beta2=0.99, weight_decay=0.5),  # adam ignores wd
    "adamw": OptimConfig(name="adamw", lr=0.05, beta1=0.9, beta2=0.95, weight_decay=0.3),
    "adamw-clip": OptimConfig(name="adamw", lr=0.05, weight_decay=0.1, grad_clip=0.05),
}


@pytest.mark.slow
@pytest.mark.parametrize("opt_name", list(OPTIMS))
def test_torch_optimizers_follow_numpy_formulas(opt_name):
    cfg = CONFIGS["gpt-layernorm"]
    engine, reference, numpy_opt = run_optimizer_pair(OPTIMS[opt_name], cfg)
    for name, value in engine.get_params().items():
        np.testing.assert_allclose(value, reference[name], rtol=1e-9, atol=1e-12, err_msg=name)
    steps, state = engine.get_optimizer_state()
    ref_steps, ref_state = numpy_opt.get_state()
    assert steps == ref_steps == 3 and set(state) == set(ref_state)
    for key in state:
        np.testing.assert_allclose(state[key], ref_state[key], rtol=1e-9, atol=1e-15, err_msg=key)


def test_adamw_decays_only_matrices_and_embeddings():
    cfg = CONFIGS["gpt-layernorm"]
    params = make_params(cfg)
    engine = TorchEngine(cfg, params, dtype="float64")
    engine.configure_optimizer(OptimConfig(name="adamw", lr=1e-300, weight_decay=1e299))  # decay-only step
    x, y = make_batch(cfg)
    engine.train_step(x, y, 1e-300)
    after = engine.get_params()
    decayed = decay_names(cfg)
    for name in params:
        if name in decayed:
            np.testing.assert_allclose(after[name], params[name] * (1 - 0.1), rtol=1e-12, err_msg=name)
        else:
            np.testing.assert_allclose(after[name], params[name], rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("opt_name", ["adamw", "sgd-momentum"])
def test_optimizer_state_round_trip_resumes_exactly(opt_name):
    cfg = CONFIGS["mlp-context"]
    opt = OPTIMS[opt_name]
    batches = [make_batch(cfg, seed=s) for s in range(6)]
    straight = TorchEngine(cfg, make_params(cfg), dtype="float64")
    straight.configure_optimizer(opt)
    for x, y in batches:
        straight.train_step(x, y, opt.lr)
    first = TorchEngine(cfg, make_params(cfg), dtype="float64")
    first.configure_optimizer(opt)
    for x, y in batches[:3]:
        first.train_step(x, y, opt.lr)
    steps, state = first.get_optimizer_state()
    resumed = TorchEngine(cfg, first.get_params(), dtype="float64")
    resumed.configure_optimizer(opt)
    resumed.set_optimizer_state(steps, state)
    for x, y in batches[3:]:
        resumed.train_step(x, y, opt.lr)
    assert resumed.get_optimizer_state()[0] == 6
    for name, value in straight.get_params().items():
        np.testing.assert_array_equal(resumed.get_params()[name], value, err_msg=name)


def test_optimizer_state_with_missing_slot_is_a_clear_error():
    cfg = CONFIGS["bigram"]
    engine = TorchEngine(cfg, make_params(cfg))
    engine.configure_optimizer(OptimConfig(name="adam"))
    with pytest.raises(ConfigError, match="lacks 'm.wte'"):
        engine.set_optimizer_state(3, {"v.wte": np.zeros((V, V))})


def test_deterministic_runs_are_byte_identical():
    cfg = CONFIGS["gpt-tied"]
    opt = OptimConfig(name="adamw", lr=0.01, weight_decay=0.1, grad_clip=1.0)
    runs = []
    threads = torch.get_num_threads()
    try:
        for _ in range(2):
            engine = TorchEngine(cfg, make_params(cfg), dtype="float32", deterministic=True)
            engine.configure_optimizer(opt)
            losses = [engine.train_step(*make_batch(cfg, seed=s), 0.01).loss for s in range(4)]
            runs.append((losses, engine.get_params()))
    finally:
        torch.use_deterministic_algorithms(False)
        torch.set_num_threads(threads)
    assert runs[0][0] == runs[1][0]
    for name in runs[0][1]:
        assert runs[0][1][name].tobytes() == runs[1][1][name].tobytes(), name


def test_float32_engine_returns_float32_arrays_and_learns():
    cfg = CONFIGS["gpt-microgpt"]
    # amp and fused kernels are CUDA-only: on CPU they are switched off rather than failing
    engine = TorchEngine(cfg, make_params(cfg), dtype="float32", amp=True, fused=True)
    assert (engine.amp, engine.fused, engine.describe()["device"]) == (False, False, "cpu")
    assert all(v.dtype == np.float32 for v in engine.get_params().values())
    engine.configure_optimizer(OptimConfig(name="adam", lr=0.02))
    x, y = make_batch(cfg)
    first = engine.train_step(x, y, 0.02).loss
    for _ in range(30):
        last = engine.train_step(x, y, 0.02).loss
    assert last < first - 0.5          # it memorises one batch


def test_missing_cuda_is_a_one_line_engine_unavailable_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    cfg = CONFIGS["bigram"]
    with pytest.raises(EngineUnavailable, match="no CUDA device") as err:
        TorchEngine(cfg, make_params(cfg), device="cuda")
    assert "\n" not in str(err.value)
    assert TorchEngine(cfg, make_params(cfg), device="auto").device.type == "cpu"


@pytest.mark.parametrize("kwargs,error,match", [
    ({"device": "tpu"}, ConfigError, "unknown device 'tpu'"),
    ({"dtype": "float16"}, ConfigError, "dtype must be float32 or float64"),
    ({"flash": True}, ConfigError, "unknown torch engine option 'flash'"),
    ({"compile": "turbo"}, ConfigError, "unknown torch.compile mode 'turbo'"),
])
def test_bad_options_are_clear_errors(kwargs, error, match):
    cfg = CONFIGS["bigram"]
    with pytest.raises(error, match=match):
        TorchEngine(cfg, make_params(cfg), **kwargs)


def test_bad_batches_and_params_are_clear_errors():
    cfg = CONFIGS["gpt-microgpt"]
    engine = TorchEngine(cfg, make_params(cfg))
    x, y = make_batch(cfg)
    with pytest.raises(DataError, match="exceeds block_size 6"):
        engine.loss(np.zeros((1, 7), dtype=np.int64), np.zeros((1, 7), dtype=np.int64))
    with pytest.raises(DataError, match="out of range 0..6"):
        engine.loss(x + 10, y)
    with pytest.raises(DataError, match="same shape"):
        engine.loss(x, y[:, :3])
    with pytest.raises(DataError, match="every target of the batch is ignored"):
        engine.loss(x, np.full_like(y, -1))
    with pytest.raises(ConfigError, match="lacks 'wpe'"):
        engine.set_params({k: v for k, v in make_params(cfg).items() if k != "wpe"})
    with pytest.raises(ConfigError, match="configure_optimizer"):
        engine.train_step(x, y, 0.1)


def test_state_dict_keys_are_the_parameter_names():
    for cfg in CONFIGS.values():
        engine = TorchEngine(cfg, make_params(cfg))
        assert sorted(engine.model.state_dict()) == sorted(make_params(cfg))


@pytest.mark.slow
def test_importing_tinylm_does_not_import_torch():
    code = ("import sys, tinylm, tinylm.engines, tinylm.models.params, tinylm.engines.optim; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
