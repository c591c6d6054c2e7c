from __future__ import annotations

import hashlib
from importlib import resources

import numpy as np
import pytest

from tinylm.config import DataConfig
from tinylm.data import detect_mode, load_corpus, load_text_source, names_text
from tinylm.errors import ConfigError, DataError


def test_bundled_names_file_matches_its_provenance_note():
    data = resources.files("tinylm.data").joinpath("names.txt").read_bytes()
    note = resources.files("tinylm.data").joinpath("NAMES_PROVENANCE.md").read_text(encoding="utf-8")
    names = data.decode("ascii").splitlines()
    assert len(names) == 29_910 == len(set(names))
    assert all(name.isascii() and name.isalpha() and name.islower() for name in names)
    assert names[:2] == ["emma", "liam"]  # the most frequent names of 2017
    assert hashlib.sha256(data).hexdigest() in note
    assert "29,910" in note and "2017" in note
    assert names_text() == data.decode("ascii")


def test_detect_mode_on_real_files(shakespeare_path, names_path):
    assert detect_mode(names_text()) == "documents"
    assert detect_mode(names_path.read_text()) == "documents"
    assert detect_mode(shakespeare_path.read_text()) == "stream"


def test_detect_mode_rule_edges():
    short = "\n".join(f"item {i}" for i in range(40))
    assert detect_mode(short) == "documents"
    assert detect_mode("\n".join(f"item {i}" for i in range(10))) == "stream"      # too few lines
    long_tail = "\n".join(["x" * 10] * 30 + ["y" * 100] * 5)                       # 14% long lines
    assert detect_mode(long_tail) == "stream"
    assert detect_mode("a single paragraph of prose " * 50) == "stream"


def test_shakespeare_from_a_local_copy(shakespeare_path, monkeypatch, tmp_path):
    monkeypatch.setenv("TINYLM_SHAKESPEARE", str(shakespeare_path))
    monkeypatch.setenv("TINYLM_CACHE", str(tmp_path))
    monkeypatch.setenv("TINYLM_SHAKESPEARE_URL", "http://127.0.0.1:9/never-used")
    corpus = load_corpus(DataConfig(source="shakespeare"), seed="any")
    assert corpus.kind == "stream"
    assert corpus.tokenizer.vocab_size == 65 and corpus.tokenizer.bos_id is None
    n = 1_115_394
    assert len(corpus.train_ids) == int(n * 0.9) and len(corpus.train_ids) + len(corpus.val_ids) == n
    assert corpus.sample_prompt() == corpus.val_text[:32] and len(corpus.sample_prompt()) == 32
    assert corpus.tokenizer.decode(corpus.val_ids[:32]) == corpus.val_text[:32]
    assert corpus.entropies["uniform"] == pytest.approx(np.log(65))
    assert list(tmp_path.iterdir()) == []  # a local copy is used in place, never cached


def test_any_text_file_as_documents_and_as_stream(tmp_path):
    path = tmp_path / "pets.txt"
    path.write_text("\n".join(["rex", "  fido  ", "", "spot", "tom"] * 10) + "\n")
    docs = load_corpus(DataConfig(source=str(path)), seed="1")
    assert docs.kind == "documents" and docs.name == "pets.txt"
    assert len(docs.train_docs) + len(docs.val_docs) + len(docs.test_docs) == 40
    assert docs.tokenizer.bos_id == len(docs.tokenizer.chars)
    assert " " not in docs.tokenizer.chars     # documents are stripped lines
    stream = load_corpus(DataConfig(source=str(path), mode="stream"), seed="1")
    assert stream.kind == "stream" and "\n" in stream.tokenizer.chars and " " in stream.tokenizer.chars


def test_crlf_and_byte_order_mark_are_normalised(tmp_path):
    path = tmp_path / "w.txt"
    path.write_bytes(b"\xef\xbb\xbf" + b"one\r\ntwo\r\n" * 15)
    assert load_text_source(str(path)) == "one\ntwo\n" * 15
    corpus = load_corpus(DataConfig(source=str(path), mode="stream"), seed="1")
    assert "\r" not in corpus.tokenizer.chars and "\ufeff" not in corpus.tokenizer.chars


def test_documents_longer_than_the_block_are_truncated(tmp_path):
    path = tmp_path / "long.txt"
    path.write_text("abcdefghijklmnopqrstuvwxyz\nzyx\n")
    corpus = load_corpus(DataConfig(source=str(path), mode="documents"), seed="1")
    x, y = corpus.batch("train", np.random.default_rng(0), 4, 8)
    assert x.shape[1] <= 8
    assert corpus.max_doc_len == 26


BAD_FILES = {
    "empty": (b"", "is empty"),
    "whitespace": (b"  \n\t\n \n", "only whitespace"),
    "binary": (bytes(range(256)), "binary"),
    "latin1": ("caf\xe9 cr\xe8me\n".encode("latin-1") * 3, "not UTF-8 text (byte 0xe9 at offset 3)"),
    "one_char": (b"aaaa\naaa\naaaaa\n" * 10, "single distinct character ('a')"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_files_are_one_line_data_errors(tmp_path, kind):
    content, expected = BAD_FILES[kind]
    path = tmp_path / f"{kind}.txt"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        load_corpus(DataConfig(source=str(path)), seed="1")
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_missing_file_directory_and_single_line(tmp_path):
    with pytest.raises(DataError, match="data file not found: .*nope.txt"):
        load_corpus(DataConfig(source=str(tmp_path / "nope.txt")), seed="1")
    with pytest.raises(DataError, match="is a directory"):
        load_corpus(DataConfig(source=str(tmp_path)), seed="1")
    with pytest.raises(DataError, match="no data source given"):
        load_text_source("")
    one = tmp_path / "one.txt"
    one.write_text("hello\n")
    with pytest.raises(DataError, match="at least 2 non-empty lines"):
        load_corpus(DataConfig(source=str(one), mode="documents"), seed="1")
    with pytest.raises(DataError, match="too short"):
        load_corpus(DataConfig(source=str(one), mode="stream"), seed="1")


def test_bad_config_is_a_config_error():
    with pytest.raises(ConfigError):
        load_corpus(DataConfig(source="names", mode="poem"), seed="1")
    with pytest.raises(ConfigError):
        load_corpus(DataConfig(source="names", val_fraction=1.5), seed="1")
