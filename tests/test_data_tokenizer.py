from __future__ import annotations

import json

import numpy as np
import pytest

from tinylm.data import CharTokenizer
from tinylm.errors import DataError, TokenizerError


def test_names_alphabet_has_vocab_27_with_bos_26():
    tok = CharTokenizer.from_text("emma\nliam\nzoe".replace("\n", "") + "bcdfghjknpqrstuvwxy", bos=True)
    assert tok.chars == list("abcdefghijklmnopqrstuvwxyz")
    assert tok.vocab_size == 27 and tok.bos_id == 26


def test_stream_tokenizer_has_no_bos():
    tok = CharTokenizer.from_text("hello world\n", bos=False)
    assert tok.chars == sorted(set("hello world\n"))
    assert tok.bos_id is None and tok.vocab_size == len(tok.chars)


def test_encode_decode_round_trip_including_unicode():
    text = "Héllo, wörld! ☃\n\ttabs"
    tok = CharTokenizer.from_text(text, bos=False)
    ids = tok.encode(text)
    assert isinstance(ids, list) and all(isinstance(i, int) for i in ids)
    assert tok.decode(ids) == text
    assert tok.decode(np.array(ids)) == text
    assert tok.encode_array(text).dtype == np.int64


def test_decode_skips_bos():
    tok = CharTokenizer.from_text("abc", bos=True)
    assert tok.decode([tok.bos_id, 0, 1, 2, tok.bos_id]) == "abc"


def test_unknown_character_error_names_it_and_its_position():
    tok = CharTokenizer.from_text("abc", bos=True)
    with pytest.raises(TokenizerError) as info:
        tok.encode("abxc")
    message = str(info.value)
    assert "'x'" in message and "position 2" in message and "\n" not in message
    assert isinstance(info.value, DataError)


def test_unknown_id_in_decode_is_a_tokenizer_error():
    tok = CharTokenizer.from_text("abc", bos=False)
    with pytest.raises(TokenizerError, match="token id 7 at position 1"):
        tok.decode([0, 7])


def test_dict_round_trip_is_json_serialisable():
    tok = CharTokenizer.from_text("the quick brown fox\n", bos=True)
    restored = CharTokenizer.from_dict(json.loads(json.dumps(tok.to_dict())))
    assert restored == tok
    assert restored.encode("fox") == tok.encode("fox")
    assert restored.bos_id == tok.bos_id and restored.vocab_size == tok.vocab_size


def test_unsorted_chars_keep_their_given_ids():
    tok = CharTokenizer(["z", "a", "m"], bos=False)
    assert tok.encode("azm") == [1, 0, 2]
    assert tok.decode([0, 1, 2]) == "zam"


@pytest.mark.parametrize("bad", [{"chars": "abc"}, {"type": "bpe", "chars": ["a"]},
                                 {"chars": ["a", "a"]}, {"chars": ["ab"]},
                                 {"chars": ["a", "b"], "bos": True, "vocab_size": 5}, "nope"])
def test_bad_metadata_is_a_tokenizer_error(bad):
    with pytest.raises(TokenizerError):
        CharTokenizer.from_dict(bad)
