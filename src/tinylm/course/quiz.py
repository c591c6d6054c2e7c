"""Grading a quiz answer. Choice questions take the index of a choice; number questions take a number
and are right within the question's absolute tolerance."""
from __future__ import annotations

import math

from ..errors import TinyLMError
from .format import Question


class AnswerError(TinyLMError):
    """An answer of the wrong type or out of range (the API answers 400)."""


def grade(question: Question, answer: object) -> bool:
    """True when ``answer`` is right; AnswerError when it is not an answer to this kind of question."""
    if question.kind == "choice":
        if isinstance(answer, bool) or not isinstance(answer, int):
            raise AnswerError(f"question {question.id!r} takes the index of a choice (an integer)")
        if not 0 <= answer < question.n_choices:
            raise AnswerError(f"question {question.id!r} has {question.n_choices} choices (0 to "
                              f"{question.n_choices - 1}), got {answer}")
        return answer == question.answer
    if isinstance(answer, bool) or not isinstance(answer, (int, float)) or not math.isfinite(answer):
        raise AnswerError(f"question {question.id!r} takes a number")
    # a hair of slack so that an answer typed exactly at the edge of the tolerance counts
    return abs(float(answer) - question.answer) <= question.tolerance * (1 + 1e-9)
