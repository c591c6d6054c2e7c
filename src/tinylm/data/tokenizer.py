"""Character tokenizer: one id per distinct character, plus an optional BOS id.

The vocabulary is the sorted distinct characters of the training text. Documents get a BOS token
(id = len(chars), so the 26 letters of names give vocab 27 with BOS = 26) that both starts and ends
each document; streams have no BOS (tiny-shakespeare: vocab 65).
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..errors import TokenizerError


class CharTokenizer:
    def __init__(self, chars: Iterable[str], bos: bool) -> None:
        chars = list(chars)
        for ch in chars:
            if not isinstance(ch, str) or len(ch) != 1:
                raise TokenizerError(f"tokenizer characters must be single characters, got {ch!r}")
        if len(set(chars)) != len(chars):
            raise TokenizerError("tokenizer characters must be distinct")
        self.chars: list[str] = chars
        self.bos_id: int | None = len(chars) if bos else None
        self.vocab_size: int = len(chars) + (1 if bos else 0)
        self._index = {ch: i for i, ch in enumerate(chars)}
        # Sorted code points and their ids, so encode_array is one searchsorted over the whole text.
        codes = np.array([ord(ch) for ch in chars], dtype=np.int64)
        order = np.argsort(codes, kind="stable")
        self._sorted_codes = codes[order]
        self._sorted_ids = order.astype(np.int64)

    @classmethod
    def from_text(cls, text: str, bos: bool) -> CharTokenizer:
        return cls(sorted(set(text)), bos=bos)

    def encode(self, text: str) -> list[int]:
        return self.encode_array(text).tolist()

    def encode_array(self, text: str) -> np.ndarray:
        """int64 ids of every character of ``text`` (vectorised; used for whole corpora)."""
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
        if len(self._sorted_codes) == 0:
            if len(codes):
                self._unknown(text, 0)
            return codes
        slots = np.minimum(np.searchsorted(self._sorted_codes, codes), len(self._sorted_codes) - 1)
        unknown = self._sorted_codes[slots] != codes
        if unknown.any():
            self._unknown(text, int(np.argmax(unknown)))
        return self._sorted_ids[slots]

    def _unknown(self, text: str, position: int) -> None:
        raise TokenizerError(f"character {text[position]!r} at position {position} is not in the "
                             f"vocabulary ({len(self.chars)} characters: {''.join(self.chars)!r})")

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``; BOS ids are skipped."""
        out = []
        for position, token in enumerate(np.asarray(ids, dtype=np.int64).reshape(-1).tolist()):
            if token == self.bos_id:
                continue
            if not 0 <= token < len(self.chars):
                raise TokenizerError(f"token id {token} at position {position} is outside the "
                                     f"vocabulary (size {self.vocab_size})")
            out.append(self.chars[token])
        return "".join(out)

    def to_dict(self) -> dict:
        return {"type": "char", "chars": list(self.chars), "bos": self.bos_id is not None,
                "vocab_size": self.vocab_size}

    @classmethod
    def from_dict(cls, d: dict) -> CharTokenizer:
        if not isinstance(d, dict) or d.get("type", "char") != "char" or not isinstance(d.get("chars"), list):
            raise TokenizerError("tokenizer metadata is not a character tokenizer dict")
        tok = cls(d["chars"], bos=bool(d.get("bos", False)))
        if "vocab_size" in d and d["vocab_size"] != tok.vocab_size:
            raise TokenizerError(f"tokenizer metadata says vocab_size {d['vocab_size']} "
                                 f"but describes {tok.vocab_size}")
        return tok

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, CharTokenizer) and self.chars == other.chars
                and self.bos_id == other.bos_id)

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size}, bos_id={self.bos_id}, chars={''.join(self.chars)!r})"
