"""Lesson files: TOML front matter, Markdown text and fenced directive blocks -> a validated ``Lesson``.

A lesson file ``N-slug.md`` starts with TOML between two ``+++`` lines (title, summary, minutes). The rest
is CommonMark (raw HTML allowed, so inline MathML works; tables enabled). A fenced block whose info
string is ``widget``, ``check``, ``exercise`` or ``question`` is a directive with a TOML body; any other
fenced block is ordinary code. Everything is checked when the file is loaded: a mistake in a lesson is a
one-line ``CourseError`` naming the file and the block, never a broken page later.

What the page receives (``Lesson.public``) never contains a question's answer or its explanation; the
grading side keeps them in ``Lesson.questions`` (see ``course.quiz``).
"""
from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache

from markdown_it import MarkdownIt

from ..errors import TinyLMError
from ..presets import PRESETS
from ..training.doctor import KINDS as DIAGNOSIS_KINDS
from ..training.phases import DOCUMENT_PHASES, STREAM_PHASES

DIRECTIVES = ("widget", "check", "exercise", "question")
WIDGET_KINDS = ("runner", "cycle", "loop-code", "bigram", "gradcheck", "graph-size", "mystery", "sandbox",
                "inspector", "breaks", "checkpoints", "twins")
CHECK_KINDS = ("first-loss", "loss-below", "phase", "diagnosis", "finished")
EXERCISE_KINDS = ("diverge", "first-loss", "finish-run", "reach-phase", "pause-resume", "bigram-names",
                  "gradcheck", "repeat-name", "surprise", "graph-size", "mystery", "twins-identical",
                  "twins-part", "resume-match")
QUESTION_KINDS = ("choice", "number")
REFS = ("uniform", "unigram", "bigram")
PHASE_LABELS = STREAM_PHASES + DOCUMENT_PHASES
MAX_NAME_LENGTH = 15            # the names presets' block of 16 holds 15 letters + the end marker

FILE_NAME = re.compile(r"^(\d+)-([a-z0-9]+(?:-[a-z0-9]+)*)\.md$")
PLACEHOLDER = re.compile(r"\{(\w*)\}")
FRONT_MATTER_KEYS = {"title": str, "summary": str, "minutes": int}


class CourseError(TinyLMError):
    """A lesson file is malformed: the message names the file and the block."""


# --- value checkers: each returns an error text (None: the value is fine) ----------------------------------
def _text(value) -> str | None:
    return None if isinstance(value, str) and value.strip() else "must be a non-empty string"


def _number(lo: float = -math.inf, hi: float = math.inf, positive: bool = False):
    def check(value) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return "must be a number"
        if positive and value <= 0:
            return f"must be positive, got {value}"
        if not lo <= value <= hi:
            return f"must be between {lo:g} and {hi:g}, got {value}"
        return None
    return check


def _integer(lo: int, hi: int):
    def check(value) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be an integer"
        return None if lo <= value <= hi else f"must be between {lo} and {hi}, got {value}"
    return check


def _one_of(choices: tuple[str, ...]):
    def check(value) -> str | None:
        return None if value in choices else f"must be one of {', '.join(repr(c) for c in choices)}, got {value!r}"
    return check


def _name(value) -> str | None:
    if isinstance(value, str) and re.fullmatch(rf"[a-z]{{1,{MAX_NAME_LENGTH}}}", value):
        return None
    return f"must be 1 to {MAX_NAME_LENGTH} lowercase letters a-z"


# Widget config keys (the page fills the panel's fields from them); every one is optional.
WIDGET_CONFIG: dict[str, dict] = {
    "runner": {"data": _one_of(("names", "shakespeare")), "preset": _one_of(tuple(PRESETS)), "seed": _text,
               "speed": _integer(1, 100), "steps": _integer(1, 50_000), "sample_every": _integer(0, 50_000),
               "engine": _one_of(("numpy", "scalar", "torch")), "lr": _number(1e-6, 100.0)},
    "cycle": {}, "loop-code": {}, "mystery": {}, "breaks": {}, "checkpoints": {},
    "bigram": {"seed": _text, "count": _integer(1, 100)},
    "gradcheck": {"name": _name, "seed": _text, "eps": _number(1e-8, 1e-1)},
    "graph-size": {"name": _name},
    "sandbox": {"temperature": _number(0.1, 2.0), "prompt": lambda v: None if isinstance(v, str) else "must be a string"},
    "inspector": {"document": _text, "param": _text},
    "twins": {"seed_a": _text, "seed_b": _text, "steps": _integer(1, 50_000)},
}

# Params of checks and exercises: name -> (checker, required).
CHECK_PARAMS: dict[str, dict] = {
    "first-loss": {"ref": (_one_of(REFS), True), "tolerance": (_number(positive=True), True)},
    "loss-below": {"ref": (_one_of(REFS), False), "value": (_number(positive=True), False),
                   "series": (_one_of(("train", "val")), False)},
    "phase": {"phase": (_one_of(PHASE_LABELS), True)},
    # the block's own ``kind`` is "diagnosis", so the verdict to wait for is named ``diagnosis``
    "diagnosis": {"diagnosis": (_one_of(DIAGNOSIS_KINDS), True)},
    "finished": {},
}
CHECK_PLACEHOLDERS = {"first-loss": {"loss", "ref"}, "loss-below": {"iter", "loss", "value"},
                      "phase": {"iter", "phase"}, "diagnosis": {"iter", "message"},
                      "finished": {"iter", "loss", "improved"}}
EXERCISE_PARAMS: dict[str, dict] = {
    "finish-run": {"preset": (_one_of(tuple(PRESETS)), True), "max_loss": (_number(positive=True), False)},
    "reach-phase": {"phase": (_one_of(PHASE_LABELS), True)},
    "gradcheck": {"max_rel_error": (_number(positive=True), True)},
    "repeat-name": {"min_repeats": (_integer(2, 100), True)},
    "surprise": {"min_loss": (_number(positive=True), True)},
    "mystery": {"min_correct": (_integer(1, 6), True)},
}
EXERCISE_PLACEHOLDERS = {"repeat-name": {"name", "temperature"}}
# The widget an exercise is done with; a lesson that sets the exercise must show that widget.
EXERCISE_WIDGET = {"diverge": "runner", "first-loss": "runner", "finish-run": "runner", "reach-phase": "runner",
                   "pause-resume": "runner", "resume-match": "runner", "bigram-names": "bigram",
                   "gradcheck": "gradcheck", "repeat-name": "sandbox", "surprise": "inspector",
                   "graph-size": "graph-size", "mystery": "mystery", "twins-identical": "twins",
                   "twins-part": "twins"}

CHECK_FIELDS = {"id", "kind", "done", "missed"}
EXERCISE_FIELDS = {"id", "kind", "task", "hint", "done"}
QUESTION_FIELDS = {"choice": {"id", "kind", "prompt", "choices", "answer", "explain"},
                   "number": {"id", "kind", "prompt", "answer", "tolerance", "unit", "explain"}}


@dataclass(frozen=True)
class Question:
    id: str
    kind: str                   # choice | number
    answer: float | int         # choice: index into the choices; number: the value
    tolerance: float            # number: |answer - given| <= tolerance is right; choice: 0
    n_choices: int              # choice: how many choices; number: 0
    explain: str                # html, shown after any answer


@dataclass
class Lesson:
    id: str
    number: int
    title: str
    summary: str
    minutes: int
    blocks: list[dict]                                   # what the page receives (no answers)
    questions: dict[str, Question] = field(default_factory=dict)
    source: str = ""                                     # the file name, for messages

    def count(self, block_type: str) -> int:
        return sum(1 for b in self.blocks if b["type"] == block_type)

    def summary_entry(self) -> dict:
        return {"id": self.id, "number": self.number, "title": self.title, "summary": self.summary,
                "minutes": self.minutes, "questions": self.count("question"),
                "exercises": self.count("exercise"), "checks": self.count("check")}

    def public(self, prev: str | None = None, next: str | None = None) -> dict:
        return {"id": self.id, "number": self.number, "title": self.title, "summary": self.summary,
                "minutes": self.minutes, "prev": prev, "next": next, "blocks": self.blocks}


# --- Markdown ------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True}).enable("table")


def render_block(text: str) -> str:
    return markdown().render(text)


def render_field(text: str) -> str:
    """A directive's Markdown field: inline HTML for one paragraph, block HTML when it has several."""
    text = text.strip()
    if re.search(r"\n\s*\n", text):
        return render_block(text)
    return markdown().renderInline(text)


# --- parsing -------------------------------------------------------------------------------------------
def split_front_matter(text: str, where: str) -> tuple[dict, str, int]:
    """(front matter, Markdown body, line number of the body's first line)."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "+++":
        raise CourseError(f"{where}: the file must start with TOML front matter between '+++' lines")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "+++")
    except StopIteration:
        raise CourseError(f"{where}: the front matter has no closing '+++' line") from None
    try:
        meta = tomllib.loads("\n".join(lines[1:end]))
    except tomllib.TOMLDecodeError as exc:
        raise CourseError(f"{where}: front matter: invalid TOML ({exc})") from None
    for key in meta:
        if key not in FRONT_MATTER_KEYS:
            raise CourseError(f"{where}: front matter: unknown key {key!r} (known: {', '.join(FRONT_MATTER_KEYS)})")
    for key, kind in FRONT_MATTER_KEYS.items():
        value = meta.get(key)
        if value is None:
            raise CourseError(f"{where}: front matter: missing {key!r}")
        if kind is int and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise CourseError(f"{where}: front matter: {key} must be a positive integer")
        if kind is str and _text(value):
            raise CourseError(f"{where}: front matter: {key} must be a non-empty string")
    return meta, "\n".join(lines[end + 1:]), end + 2


def parse_lesson(text: str, file_name: str) -> Lesson:
    """A lesson from the text of ``file_name`` (``N-slug.md``); raises CourseError on any mistake."""
    match = FILE_NAME.match(file_name)
    if not match:
        raise CourseError(f"{file_name}: a lesson file is named N-slug.md (e.g. 1-watch-names.md)")
    text = text.replace("\r\n", "\n").removeprefix("\ufeff")
    meta, body, first_line = split_front_matter(text, file_name)
    builder = _LessonBuilder(file_name)
    body_lines = body.split("\n")
    position = 0            # first body line not yet emitted
    for token in markdown().parse(body):
        if token.type != "fence" or not token.info.strip() or token.info.split()[0] not in DIRECTIVES:
            continue
        start, end = token.map
        line = first_line + start
        if token.level != 0:
            raise CourseError(f"{file_name}: {token.info.split()[0]} block at line {line}: a directive must "
                              "stand on its own, not inside a list or a quote")
        builder.text("\n".join(body_lines[position:start]))
        builder.directive(token.info.split()[0], token.content, line)
        position = end
    builder.text("\n".join(body_lines[position:]))
    builder.finish()
    return Lesson(id=match.group(2), number=int(match.group(1)), title=meta["title"].strip(),
                  summary=meta["summary"].strip(), minutes=meta["minutes"], blocks=builder.blocks,
                  questions=builder.questions, source=file_name)


class _LessonBuilder:
    def __init__(self, file_name: str) -> None:
        self.file = file_name
        self.blocks: list[dict] = []
        self.questions: dict[str, Question] = {}
        self.ids: set[str] = set()
        self.widgets: set[str] = set()
        self.needs: list[tuple[str, str]] = []      # (widget, what needs it) checked at the end

    def text(self, markdown_text: str) -> None:
        if markdown_text.strip():
            self.blocks.append({"type": "text", "html": render_block(markdown_text)})

    def directive(self, word: str, body: str, line: int) -> None:
        where = f"{self.file}: {word} block at line {line}"
        try:
            data = tomllib.loads(body)
        except tomllib.TOMLDecodeError as exc:
            raise CourseError(f"{where}: invalid TOML ({exc})") from None
        if word != "widget":
            ident = data.get("id")
            if not isinstance(ident, str) or not re.fullmatch(r"[a-z0-9]+(?:[-_][a-z0-9]+)*", ident):
                raise CourseError(f"{where}: needs an id of lowercase letters, digits and dashes")
            where = f"{self.file}: {word} {ident!r} (line {line})"
            if ident in self.ids:
                raise CourseError(f"{where}: duplicate id {ident!r} (ids are unique within a lesson)")
            self.ids.add(ident)
        getattr(self, word.replace("-", "_"))(data, where)

    # --- one method per directive ---
    def widget(self, data: dict, where: str) -> None:
        name = data.get("widget")
        if name not in WIDGET_KINDS:
            raise CourseError(f"{where}: unknown widget {name!r} (choose from {', '.join(WIDGET_KINDS)})")
        if name in self.widgets:
            raise CourseError(f"{where}: the {name} widget appears twice (each widget at most once per lesson)")
        self.widgets.add(name)
        config = {k: v for k, v in data.items() if k != "widget"}
        _check_values(config, {k: (c, False) for k, c in WIDGET_CONFIG[name].items()}, f"{where}: {name}")
        self.blocks.append({"type": "widget", "widget": name, "config": config})

    def check(self, data: dict, where: str) -> None:
        kind = _kind(data, CHECK_KINDS, "check", where)
        params = {k: v for k, v in data.items() if k not in CHECK_FIELDS}
        _check_values(params, CHECK_PARAMS[kind], f"{where}: {kind}")
        if kind == "loss-below" and ("ref" in params) == ("value" in params):
            raise CourseError(f"{where}: a loss-below check needs exactly one of ref or value")
        done = _required_text(data, "done", where)
        missed = _required_text(data, "missed", where) if kind != "finished" else _optional_text(data, "missed", where)
        _check_placeholders(done, CHECK_PLACEHOLDERS[kind], f"{where}: done")
        self.needs.append(("runner", f"check {data['id']!r}"))
        self.blocks.append({"type": "check", "id": data["id"], "kind": kind, "params": params, "done": done.strip(),
                            "missed": render_field(missed) if missed else ""})

    def exercise(self, data: dict, where: str) -> None:
        kind = _kind(data, EXERCISE_KINDS, "exercise", where)
        params = {k: v for k, v in data.items() if k not in EXERCISE_FIELDS}
        _check_values(params, EXERCISE_PARAMS.get(kind, {}), f"{where}: {kind}")
        task = _required_text(data, "task", where)
        done = _required_text(data, "done", where)
        hint = _optional_text(data, "hint", where)
        _check_placeholders(done, EXERCISE_PLACEHOLDERS.get(kind, set()), f"{where}: done")
        self.needs.append((EXERCISE_WIDGET[kind], f"exercise {data['id']!r}"))
        self.blocks.append({"type": "exercise", "id": data["id"], "kind": kind, "params": params,
                            "task": render_field(task), "hint": render_field(hint) if hint else "",
                            "done": render_field(done)})

    def question(self, data: dict, where: str) -> None:
        kind = _kind(data, QUESTION_KINDS, "question", where)
        unknown = sorted(set(data) - QUESTION_FIELDS[kind])
        if unknown:
            raise CourseError(f"{where}: unknown field {unknown[0]!r} for a {kind} question "
                              f"(known: {', '.join(sorted(QUESTION_FIELDS[kind]))})")
        prompt = _required_text(data, "prompt", where)
        explain = _required_text(data, "explain", where)
        if "answer" not in data:
            raise CourseError(f"{where}: missing field 'answer'")
        answer = data["answer"]
        block = {"type": "question", "id": data["id"], "kind": kind, "prompt": render_field(prompt)}
        if kind == "choice":
            choices = data.get("choices")
            if not isinstance(choices, list) or len(choices) < 2 or any(_text(c) for c in choices):
                raise CourseError(f"{where}: choices must be a list of at least two non-empty strings")
            if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(choices):
                raise CourseError(f"{where}: answer must be an index into the {len(choices)} choices "
                                  f"(0 to {len(choices) - 1}), got {answer!r}")
            block["choices"] = [render_field(c) for c in choices]
            question = Question(data["id"], kind, answer, 0.0, len(choices), render_field(explain))
        else:
            problem = _number()(answer)
            if problem:
                raise CourseError(f"{where}: answer {problem}")
            if "tolerance" not in data:
                raise CourseError(f"{where}: a number question needs a tolerance (absolute, e.g. 0.02; 0 for "
                                  "an exact count)")
            problem = _number(lo=0.0)(data["tolerance"])
            if problem:
                raise CourseError(f"{where}: tolerance {problem}")
            unit = data.get("unit", "")
            if not isinstance(unit, str):
                raise CourseError(f"{where}: unit must be a string")
            block["unit"] = unit
            question = Question(data["id"], kind, float(answer), float(data["tolerance"]), 0, render_field(explain))
        self.questions[question.id] = question
        self.blocks.append(block)

    def finish(self) -> None:
        for widget, what in self.needs:
            if widget not in self.widgets:
                raise CourseError(f"{self.file}: {what} watches the {widget} widget, which this lesson does not show")


def _kind(data: dict, kinds: tuple[str, ...], word: str, where: str) -> str:
    kind = data.get("kind")
    if kind not in kinds:
        raise CourseError(f"{where}: unknown {word} kind {kind!r} (choose from {', '.join(kinds)})")
    return kind


def _required_text(data: dict, key: str, where: str) -> str:
    if key not in data:
        raise CourseError(f"{where}: missing field {key!r}")
    if _text(data[key]):
        raise CourseError(f"{where}: {key} must be a non-empty string")
    return data[key]


def _optional_text(data: dict, key: str, where: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise CourseError(f"{where}: {key} must be a string")
    return value


def _check_values(values: dict, spec: dict, where: str) -> None:
    """Every key known, every value passing its checker, every required key present."""
    for key, value in values.items():
        if key not in spec:
            known = ", ".join(spec) or "none"
            raise CourseError(f"{where}: unknown field {key!r} (known: {known})")
        problem = spec[key][0](value)
        if problem:
            raise CourseError(f"{where}: {key} {problem}")
    for key, (_, required) in spec.items():
        if required and key not in values:
            raise CourseError(f"{where}: missing field {key!r}")


def _check_placeholders(template: str, allowed: set[str], where: str) -> None:
    for name in PLACEHOLDER.findall(template):
        if name not in allowed:
            known = ", ".join("{" + a + "}" for a in sorted(allowed)) or "none"
            raise CourseError(f"{where}: unknown placeholder {{{name}}} (this kind fills {known})")
