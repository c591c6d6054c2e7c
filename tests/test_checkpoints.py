"""Checkpoints: round trip, byte-identical output, atomic writes, and refusal of bad files."""
from __future__ import annotations

import json
import os
import pickle
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from tinylm.checkpoints import (FORMAT, VERSION, Checkpoint, checkpoint_bytes, load_checkpoint,
                                save_checkpoint, weights_hash)
from tinylm.config import ModelConfig, TrainConfig
from tinylm.errors import CheckpointError
from tinylm.models.params import init_params, param_specs
from tinylm.seeding import rng_for, rng_state

REPO = Path(__file__).resolve().parents[1]


def small_gpt() -> ModelConfig:
    return ModelConfig(family="gpt", vocab_size=27, block_size=8, n_embd=8, n_head=2, n_layer=2,
                       norm_affine=True, bias=True)


def make_run(dtype: str = "float32", cfg: ModelConfig | None = None):
    cfg = cfg or small_gpt()
    params = {k: v.astype(dtype) for k, v in init_params(cfg, rng_for("ckpt", "init")).items()}
    state = {}
    for name, value in params.items():
        state[f"m.{name}"] = (value * 0.5).astype(dtype)
        state[f"v.{name}"] = (value * value).astype(dtype)
    meta = {
        "model": cfg.to_dict(),
        "train": TrainConfig().to_dict(),
        "preset": "custom",
        "engine": "numpy",
        "dtype": dtype,
        "tokenizer": {"kind": "char", "chars": "\nabc", "bos": True},
        "step": 7,
        "rng": {"data": rng_state(rng_for("ckpt", "data"))},
        "data_position": {"epoch": 0, "index": 3},
        "note": "héllo",
    }
    return params, 7, state, meta


# --- round trip -----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_keeps_values_dtype_and_metadata(tmp_path, dtype):
    params, steps, state, meta = make_run(dtype)
    path = save_checkpoint(tmp_path / "run" / "ckpt.safetensors", params, steps, state, meta)
    assert path == tmp_path / "run" / "ckpt.safetensors" and path.is_file()

    ckpt = load_checkpoint(path)
    assert isinstance(ckpt, Checkpoint)
    assert set(ckpt.params) == set(params)
    for name, value in params.items():
        assert ckpt.params[name].dtype == np.dtype(dtype)
        np.testing.assert_array_equal(ckpt.params[name], value)
    assert ckpt.optimizer_steps == 7
    assert set(ckpt.optimizer_state) == set(state)
    for key, value in state.items():
        np.testing.assert_array_equal(ckpt.optimizer_state[key], value)
    assert ckpt.model_config == small_gpt()
    assert ckpt.train_config == TrainConfig()
    assert ckpt.step == 7
    for key in ("preset", "engine", "dtype", "tokenizer", "step", "rng", "data_position", "note"):
        assert ckpt.meta[key] == meta[key]
    assert ckpt.meta["format"] == FORMAT and ckpt.meta["version"] == VERSION
    assert ckpt.meta["optimizer"] == {"name": "adamw", "steps": 7}  # name taken from train.optim


def test_file_layout_is_plain_safetensors_with_one_sorted_json_metadata_key(tmp_path):
    params, steps, state, meta = make_run()
    path = save_checkpoint(tmp_path / "c.safetensors", params, steps, state, meta)
    raw = path.read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + header_len])
    assert list(header["__metadata__"]) == ["tinylm"]
    text = header["__metadata__"]["tinylm"]
    assert list(json.loads(text)) == sorted(json.loads(text))
    tensors = safetensors.numpy.load(raw)  # any safetensors reader can open it
    assert set(tensors) == set(params) | {f"optim.{k}" for k in state}


def test_checkpoint_bytes_equal_file_bytes_and_ignore_dict_order(tmp_path):
    params, steps, state, meta = make_run()
    path = save_checkpoint(tmp_path / "a.safetensors", params, steps, state, meta)
    reordered_params = dict(reversed(list(params.items())))
    reordered_meta = dict(reversed(list(meta.items())))
    assert checkpoint_bytes(reordered_params, steps, dict(reversed(list(state.items()))), reordered_meta) \
        == path.read_bytes()
    assert load_checkpoint(path.read_bytes()).params.keys() == params.keys()


@pytest.mark.slow
def test_bytes_are_identical_across_processes(tmp_path):
    script = textwrap.dedent("""
        import sys
        sys.path.insert(0, sys.argv[2])
        from test_checkpoints import make_run
        from tinylm.checkpoints import save_checkpoint
        save_checkpoint(sys.argv[1], *make_run())
    """)
    outputs = []
    for i, hash_seed in enumerate(("1", "2")):
        out = tmp_path / f"p{i}.safetensors"
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        subprocess.run([sys.executable, "-c", script, str(out), str(Path(__file__).parent)],
                       check=True, env=env, cwd=tmp_path)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert outputs[0] == checkpoint_bytes(*make_run())


def test_sgd_without_state_and_numpy_scalars_in_meta(tmp_path):
    cfg = ModelConfig(family="bigram", vocab_size=5, init="zeros")
    params = {"wte": np.arange(25, dtype=np.float64).reshape(5, 5)}
    meta = {"model": cfg, "step": np.int64(3), "loss": np.float32(1.5)}
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "b.safetensors", params, 0, {}, meta))
    assert ckpt.optimizer_state == {} and ckpt.optimizer_steps == 0
    assert ckpt.meta["step"] == 3 and ckpt.meta["loss"] == 1.5
    assert ckpt.meta["optimizer"] == {"name": None, "steps": 0}
    assert ckpt.train_config is None


# --- weights hash ---------------------------------------------------------------------------

def test_weights_hash_depends_on_values_names_dtype_not_order():
    params = make_run()[0]
    h = weights_hash(params)
    assert len(h) == 64 and int(h, 16) >= 0
    assert weights_hash(dict(reversed(list(params.items())))) == h
    changed = {k: v.copy() for k, v in params.items()}
    changed["wte"][0, 0] += 1e-3
    assert weights_hash(changed) != h
    assert weights_hash({k: v.astype(np.float64) for k, v in params.items()}) != h
    renamed = dict(params)
    renamed["wte2"] = renamed.pop("wte")
    assert weights_hash(renamed) != h
    reshaped = {"a": np.zeros((2, 3))}
    assert weights_hash(reshaped) != weights_hash({"a": np.zeros((3, 2))})


def test_weights_hash_survives_a_round_trip(tmp_path):
    params, steps, state, meta = make_run("float64")
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "h.safetensors", params, steps, state, meta))
    assert weights_hash(ckpt.params) == weights_hash(params)


# --- atomic writes --------------------------------------------------------------------------

def test_failed_write_keeps_previous_checkpoint_and_leaves_no_temp_file(tmp_path, monkeypatch):
    params, steps, state, meta = make_run()
    path = save_checkpoint(tmp_path / "c.safetensors", params, steps, state, meta)
    before = path.read_bytes()

    def boom(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    newer = {k: v + 1 for k, v in params.items()}
    with pytest.raises(CheckpointError, match="No space left on device"):
        save_checkpoint(path, newer, steps + 1, state, meta)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.safetensors"]


@pytest.mark.slow
def test_crash_mid_write_never_leaves_a_partial_file_under_the_final_name(tmp_path):
    """A process killed half-way through writing: the old checkpoint is still there, intact."""
    params, steps, state, meta = make_run()
    path = save_checkpoint(tmp_path / "c.safetensors", params, steps, state, meta)
    before = path.read_bytes()
    script = textwrap.dedent("""
        import os, sys, tempfile
        sys.path.insert(0, sys.argv[2])
        from test_checkpoints import make_run
        from tinylm.checkpoints import save_checkpoint
        real_fdopen = os.fdopen
        class Dying:
            def __init__(self, handle): self.handle = handle
            def __enter__(self): return self
            def __exit__(self, *exc): return False
            def write(self, data):
                self.handle.write(data[: len(data) // 2]); self.handle.flush()
                os._exit(9)  # simulated crash: no cleanup code runs
        os.fdopen = lambda fd, mode: Dying(real_fdopen(fd, mode))
        params, steps, state, meta = make_run()
        save_checkpoint(sys.argv[1], {k: v + 1 for k, v in params.items()}, steps, state, meta)
    """)
    result = subprocess.run([sys.executable, "-c", script, str(path), str(Path(__file__).parent)], cwd=tmp_path)
    assert result.returncode == 9
    assert path.read_bytes() == before
    load_checkpoint(path)
    leftovers = [p for p in tmp_path.iterdir() if p.name != "c.safetensors"]
    assert all(p.name.startswith(".c.safetensors.") and p.name.endswith(".tmp") for p in leftovers)


def test_save_to_a_directory_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="is a directory"):
        save_checkpoint(tmp_path, *make_run())


# --- save-time validation -------------------------------------------------------------------

def test_save_refuses_bad_inputs(tmp_path):
    params, steps, state, meta = make_run()
    with pytest.raises(CheckpointError, match="needs 'model'"):
        checkpoint_bytes(params, steps, state, {k: v for k, v in meta.items() if k != "model"})
    with pytest.raises(CheckpointError, match="dtype int64"):
        checkpoint_bytes({**params, "wte": np.zeros((27, 8), dtype=np.int64)}, steps, state, meta)
    with pytest.raises(CheckpointError, match="missing parameter 'wpe'"):
        checkpoint_bytes({k: v for k, v in params.items() if k != "wpe"}, steps, state, meta)
    with pytest.raises(CheckpointError, match="not JSON-serialisable"):
        checkpoint_bytes(params, steps, state, {**meta, "bad": object()})
    with pytest.raises(CheckpointError, match="optimizer steps"):
        checkpoint_bytes(params, -1, state, meta)
    assert not list(tmp_path.iterdir())


# --- load-time validation: each bad file gets a one-line message ------------------------------

def one_line(exc_info) -> str:
    message = str(exc_info.value)
    assert "\n" not in message and message
    return message


def write_tensors(path: Path, tensors: dict, meta: dict | None) -> Path:
    path.write_bytes(safetensors.numpy.save(tensors, metadata=meta))
    return path


def tinylm_meta(**changes) -> dict:
    meta = {"format": FORMAT, "version": VERSION, "model": small_gpt().to_dict(),
            "optimizer": {"name": "adam", "steps": 1}}
    meta.update(changes)
    return {"tinylm": json.dumps(meta)}


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist") as e:
        load_checkpoint(tmp_path / "nope.safetensors")
    assert "nope.safetensors" in one_line(e)
    with pytest.raises(CheckpointError, match="is a directory") as e:
        load_checkpoint(tmp_path)
    one_line(e)


def test_empty_file(tmp_path):
    (tmp_path / "e.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty") as e:
        load_checkpoint(tmp_path / "e.safetensors")
    one_line(e)


@pytest.mark.parametrize("keep", [3, 8, 40, 0.5, -1])
def test_truncated_copies_are_truncated_or_corrupt(tmp_path, keep):
    params, steps, state, meta = make_run()
    raw = checkpoint_bytes(params, steps, state, meta)
    cut = {0.5: len(raw) // 2, -1: len(raw) - 1}.get(keep, keep)
    (tmp_path / "t.safetensors").write_bytes(raw[:cut])
    with pytest.raises(CheckpointError, match="truncated or corrupt") as e:
        load_checkpoint(tmp_path / "t.safetensors")
    one_line(e)


def test_pickle_is_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"

    class Sneaky:
        def __reduce__(self):
            return (Path.touch, (marker,))

    for protocol in (0, 2, pickle.HIGHEST_PROTOCOL):
        path = tmp_path / f"p{protocol}.pkl"
        path.write_bytes(pickle.dumps({"wte": np.zeros(3), "x": Sneaky()}, protocol=protocol))
        with pytest.raises(CheckpointError, match="looks like a pickle — tinylm never unpickles") as e:
            load_checkpoint(path)
        one_line(e)
    assert not marker.exists()


def test_a_header_length_that_starts_like_a_pickle_still_loads():
    """Safetensors is recognised before pickle sniffing: a header length of 0x280 (or 0x380, 0x480) starts with
    bytes 80 02 (80 03, 80 04), like a pickle."""
    cfg = ModelConfig(family="bigram", vocab_size=3)
    params = {"wte": np.ones((3, 3), np.float32)}
    base_len = struct.unpack("<Q", checkpoint_bytes(params, 0, {}, {"model": cfg, "pad": ""})[:8])[0]
    target = next(t for t in (0x280, 0x380, 0x480) if t > base_len + 16)
    for pad in range(target - base_len - 16, target - base_len + 1):
        raw = checkpoint_bytes(params, 0, {}, {"model": cfg, "pad": "x" * pad})
        if raw[:1] == b"\x80" and raw[1] == target >> 8:
            break
    assert raw[:1] == b"\x80" and raw[1] == target >> 8
    assert load_checkpoint(raw).meta["pad"] == "x" * pad


def test_zip_and_torch_style_files_are_refused(tmp_path):
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="zip archive.*never unpickles") as e:
        load_checkpoint(path)
    one_line(e)


def test_random_bytes_are_refused(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    with pytest.raises(CheckpointError, match="truncated or corrupt") as e:
        load_checkpoint(data)
    one_line(e)


def test_foreign_safetensors_without_tinylm_metadata(tmp_path):
    path = write_tensors(tmp_path / "f.safetensors", {"weight": np.zeros((2, 2), np.float32)}, None)
    with pytest.raises(CheckpointError, match="not a tinylm checkpoint") as e:
        load_checkpoint(path)
    one_line(e)
    path = write_tensors(tmp_path / "g.safetensors", {"weight": np.zeros(2, np.float32)}, {"format": "pt"})
    with pytest.raises(CheckpointError, match="not a tinylm checkpoint"):
        load_checkpoint(path)
    path = write_tensors(tmp_path / "h.safetensors", {"w": np.zeros(2, np.float32)},
                         {"tinylm": json.dumps({"format": "other"})})
    with pytest.raises(CheckpointError, match="not a tinylm checkpoint"):
        load_checkpoint(path)


def test_newer_version_is_refused_with_upgrade_hint(tmp_path):
    params = make_run()[0]
    path = write_tensors(tmp_path / "v.safetensors", params, tinylm_meta(version=VERSION + 1))
    with pytest.raises(CheckpointError, match=rf"version {VERSION + 1}, newer .*upgrade tinylm") as e:
        load_checkpoint(path)
    one_line(e)


def test_missing_unknown_and_misshapen_params_are_named(tmp_path):
    params = make_run()[0]
    cases = [
        ({k: v for k, v in params.items() if k != "h.1.mlp.fc2.weight"}, "missing parameter 'h.1.mlp.fc2.weight'"),
        ({**params, "h.9.attn.wq.weight": params["h.0.attn.wq.weight"]}, "unknown parameter 'h.9.attn.wq.weight'"),
        ({**params, "wpe": np.zeros((4, 8), np.float32)}, r"'wpe' has shape \[4, 8\], the model config expects \[8, 8\]"),
        ({**params, "wte": np.zeros((27, 8), np.int32)}, "'wte' has dtype int32"),
        ({**params, "wte": np.zeros((27, 8), np.float16)}, "'wte' has dtype float16"),
        ({**params, "wte": params["wte"].astype(np.float64)}, "mix dtypes"),
    ]
    for i, (tensors, message) in enumerate(cases):
        path = write_tensors(tmp_path / f"c{i}.safetensors", tensors, tinylm_meta())
        with pytest.raises(CheckpointError, match=message) as e:
            load_checkpoint(path)
        assert str(path) in one_line(e)


def test_bad_optimizer_state_is_named(tmp_path):
    params = make_run()[0]
    cases = [
        ({**params, "optim.m.wte": np.zeros((3, 8), np.float32)}, r"'m.wte' has shape \[3, 8\].*\[27, 8\]"),
        ({**params, "optim.q.wte": np.zeros((27, 8), np.float32)}, "unknown optimizer state 'q.wte'"),
        ({**params, "optim.m.nope": np.zeros(2, np.float32)}, "unknown optimizer state 'm.nope'"),
    ]
    for i, (tensors, message) in enumerate(cases):
        path = write_tensors(tmp_path / f"o{i}.safetensors", tensors, tinylm_meta())
        with pytest.raises(CheckpointError, match=message) as e:
            load_checkpoint(path)
        one_line(e)


def test_bad_model_config_in_metadata(tmp_path):
    params = make_run()[0]
    meta = tinylm_meta(model={**small_gpt().to_dict(), "family": "lstm"})
    with pytest.raises(CheckpointError, match="invalid model config.*unknown model family 'lstm'") as e:
        load_checkpoint(write_tensors(tmp_path / "m.safetensors", params, meta))
    one_line(e)
    meta = tinylm_meta()
    body = json.loads(meta["tinylm"])
    del body["model"]
    with pytest.raises(CheckpointError, match="no model config"):
        load_checkpoint(write_tensors(tmp_path / "n.safetensors", params, {"tinylm": json.dumps(body)}))


def test_every_param_spec_round_trips_for_each_family(tmp_path):
    for cfg in (ModelConfig(family="bigram", vocab_size=6),
                ModelConfig(family="mlp", vocab_size=6, context=3, n_embd=4, n_hidden=8),
                ModelConfig(family="mlp", vocab_size=6, n_embd=4, n_hidden=8, tie_weights=True, bias=True),
                ModelConfig(family="gpt", vocab_size=6, block_size=4, n_embd=4, n_head=2, tie_weights=True,
                            norm="layernorm", norm_affine=True, bias=True, embed_norm=True)):
        params = init_params(cfg, rng_for("x", "init"))
        ckpt = load_checkpoint(checkpoint_bytes(params, 0, {}, {"model": cfg}))
        assert set(ckpt.params) == {spec.name for spec in param_specs(cfg)}
        for name, value in params.items():
            np.testing.assert_array_equal(ckpt.params[name], value)
        assert ckpt.model_config == cfg
