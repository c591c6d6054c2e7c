"""A fuzzer for data sources: ≥ 50 bad, odd or hostile files, each loaded as documents and as a stream.
Every outcome is a clean DataError/TinyLMError or a corpus — never another exception, a hang (each case
runs under an alarm) or an unbounded read. Counts are printed (`pytest -s`)."""
from __future__ import annotations

import os
import random
from collections import Counter

import pytest

from tinylm.config import DataConfig
from tinylm.data import load_corpus
from tinylm.errors import TinyLMError
from tinylm.presets import get_preset
from tinylm.training.loop import Trainer

from fuzzing import Hang, time_limit     # tests/fuzzing.py


def make_files(root, rng: random.Random) -> dict[str, str]:
    files = {}

    def write(name: str, data: bytes) -> None:
        path = root / name
        path.write_bytes(data)
        files[name] = str(path)

    write("empty", b"")
    write("whitespace", b" \n\t\n  \n")
    write("one-char", b"aaaa\naaaa\n")
    write("nul-bytes", b"abc\x00def\n" * 10)
    write("latin1", "café olé\n".encode("latin-1") * 10)
    write("bom-crlf", "\ufeffann\r\nbob\r\n".encode("utf-8") * 20)
    write("lone-surrogate-bytes", b"abc\xed\xa0\x80def\n")
    write("huge-vocab", "".join(chr(0x4E00 + i) for i in range(9000)).encode("utf-8"))
    write("long-line", b"x" * 100_000 + b"\n" + b"ab\n" * 200)
    write("one-line", b"hello world")
    write("two-lines", b"ab\ncd\n")
    write("emoji", "🙂🙃\n".encode("utf-8") * 50)
    write("control-chars", bytes(range(1, 32)) * 10)
    for i in range(20):                      # random bytes
        write(f"random-bytes-{i}", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000))))
    for i in range(15):                      # random valid unicode text
        alphabet = [chr(rng.randrange(32, 0x3000)) for _ in range(rng.randrange(1, 60))] + ["\n"]
        write(f"random-text-{i}", "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 5000))).encode("utf-8"))
    sparse = root / "sparse-over-cap"
    with open(sparse, "wb") as f:            # 3 MB of nothing (the cap is set to 2 MB below)
        f.truncate(3_000_000)
    files["sparse-over-cap"] = str(sparse)
    fifo = root / "fifo"
    os.mkfifo(fifo)
    files["fifo"] = str(fifo)
    (root / "link-to-fifo").symlink_to(fifo)
    files["link-to-fifo"] = str(root / "link-to-fifo")
    (root / "a-directory").mkdir()
    files["a-directory"] = str(root / "a-directory")
    files["missing"] = str(root / "no-such-file")
    files["dev-zero"] = "/dev/zero"
    files["dev-urandom"] = "/dev/urandom"
    files["proc-self"] = "/proc/self/environ"
    return files


@pytest.mark.slow
def test_bad_data_files_never_crash_or_hang(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TINYLM_MAX_DATA_MB", "2")
    files = make_files(tmp_path, random.Random("data fuzz"))
    assert len(files) >= 50
    outcomes: Counter = Counter()
    failures = []
    model = get_preset("bigram").model
    for name, path in files.items():
        for mode in ("documents", "stream"):
            try:
                with time_limit(10):
                    corpus = load_corpus(DataConfig(source=path, mode=mode), seed="fuzz")
                    train = get_preset("bigram").train
                    train.steps = 1
                    Trainer(model, train, corpus=corpus, quiet=True).engine.close()
                outcomes["loaded"] += 1
            except TinyLMError as exc:
                assert "\n" not in str(exc)
                outcomes["clean error"] += 1
            except Hang:
                outcomes["hang"] += 1
                failures.append(f"{name} ({mode}): hang")
            except Exception as exc:  # noqa: BLE001 - nothing else may escape
                outcomes["traceback"] += 1
                failures.append(f"{name} ({mode}): {type(exc).__name__}: {exc!s:.200}")
    with capsys.disabled():
        print(f"\ndata fuzz: tried {2 * len(files)}, " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name,needle", [
    ("fifo", "named pipe (FIFO)"), ("dev-zero", "character device"), ("a-directory", "directory"),
    ("sparse-over-cap", "3 MB, more than the 2 MB limit"), ("huge-vocab", "9,000 distinct characters"),
])
def test_each_kind_of_refusal_names_the_problem(tmp_path, monkeypatch, name, needle):
    monkeypatch.setenv("TINYLM_MAX_DATA_MB", "2")
    path = make_files(tmp_path, random.Random(0))[name]
    with pytest.raises(TinyLMError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        load_corpus(DataConfig(source=path, mode="stream"), seed="x")


def test_a_long_line_is_refused_as_a_document_but_fine_in_a_stream(tmp_path):
    path = make_files(tmp_path, random.Random(0))["long-line"]
    with pytest.raises(TinyLMError, match="100,000 characters is longer than documents mode allows"):
        load_corpus(DataConfig(source=path, mode="documents"), seed="x")
    assert load_corpus(DataConfig(source=path, mode="stream"), seed="x").kind == "stream"


@pytest.mark.slow
def test_the_size_cap_can_be_raised(tmp_path, monkeypatch):
    path = tmp_path / "big.txt"
    path.write_text("abc\n" * 600_000)                     # 2.4 MB
    monkeypatch.setenv("TINYLM_MAX_DATA_MB", "2")
    with pytest.raises(TinyLMError, match="TINYLM_MAX_DATA_MB"):
        load_corpus(DataConfig(source=str(path), mode="stream"), seed="x")
    monkeypatch.setenv("TINYLM_MAX_DATA_MB", "3")
    assert load_corpus(DataConfig(source=str(path), mode="stream"), seed="x").kind == "stream"
