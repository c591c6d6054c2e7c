"""Lesson files: the parser, its one-line validation errors, the course loader and quiz grading."""
from __future__ import annotations

from importlib import resources

import pytest

from tinylm.course import AnswerError, CourseError, grade, load_course, read_course
from tinylm.course.format import CHECK_KINDS, EXERCISE_KINDS, WIDGET_KINDS, parse_lesson

FRONT = '+++\ntitle = "Counting"\nsummary = "One sentence."\nminutes = 15\n+++\n'
RUNNER = '```widget\nwidget = "runner"\npreset = "microgpt"\nseed = "lesson-1"\nspeed = 10\n```\n'
CHOICE = ('```question\nid = "why"\nkind = "choice"\nprompt = "Why **this**?"\nchoices = ["one", "two", "`three`"]\n'
          'answer = 1\nexplain = "Because *two*."\n```\n')
NUMBER = ('```question\nid = "ln-27"\nkind = "number"\nprompt = "ln 27?"\nanswer = 3.296\ntolerance = 0.02\n'
          'unit = "nats"\nexplain = "It is 3.296."\n```\n')

LESSON = FRONT + """
## Start here

Some *Markdown* with MathML <math><mi>ln</mi><mn>27</mn></math> and a table:

| a | b |
|---|---|
| 1 | 2 |

""" + RUNNER + """
```check
id = "below"
kind = "loss-below"
ref = "bigram"
done = "Crossed at iter {iter} with {loss}."
missed = "It stayed **above** the line."
```

```python
for step in range(10):   # ordinary code, not a directive
    pass
```

```exercise
id = "diverge"
kind = "diverge"
task = "Raise the **lr**."
hint = "Try 10."
done = "It *diverged*."
```

""" + CHOICE + "\n" + NUMBER + "\nClosing words.\n"


def parse(text: str, name: str = "2-counting.md"):
    return parse_lesson(text, name)


def test_a_lesson_parses_into_blocks_in_file_order():
    lesson = parse(LESSON)
    assert (lesson.id, lesson.number, lesson.title, lesson.minutes) == ("counting", 2, "Counting", 15)
    assert [b["type"] for b in lesson.blocks] == ["text", "widget", "check", "text", "exercise", "question",
                                                  "question", "text"]
    intro, widget, check, code, exercise, choice, number, closing = lesson.blocks
    assert "<h2>Start here</h2>" in intro["html"] and "<em>Markdown</em>" in intro["html"]
    assert "<math><mi>ln</mi><mn>27</mn></math>" in intro["html"]        # raw HTML (MathML) kept
    assert "<table>" in intro["html"]
    assert widget == {"type": "widget", "widget": "runner",
                      "config": {"preset": "microgpt", "seed": "lesson-1", "speed": 10}}
    assert check == {"type": "check", "id": "below", "kind": "loss-below", "params": {"ref": "bigram"},
                     "done": "Crossed at iter {iter} with {loss}.", "missed": "It stayed <strong>above</strong> the line."}
    assert "<pre><code class=\"language-python\">" in code["html"]          # other fences stay code
    assert exercise["task"] == "Raise the <strong>lr</strong>." and exercise["done"] == "It <em>diverged</em>."
    assert exercise["params"] == {}
    assert choice == {"type": "question", "id": "why", "kind": "choice", "prompt": "Why <strong>this</strong>?",
                      "choices": ["one", "two", "<code>three</code>"]}
    assert number == {"type": "question", "id": "ln-27", "kind": "number", "prompt": "ln 27?", "unit": "nats"}
    assert "Closing words." in closing["html"]
    assert lesson.questions["why"].explain == "Because <em>two</em>."
    assert lesson.summary_entry() == {"id": "counting", "number": 2, "title": "Counting", "summary": "One sentence.",
                                      "minutes": 15, "questions": 2, "exercises": 1, "checks": 1}


def test_what_the_page_receives_holds_no_answer_or_explanation():
    text = repr(parse(LESSON).public())
    assert "Because" not in text and "3.296" not in text and "'answer'" not in text and "tolerance" not in text


def drop(text: str, line: str) -> str:
    assert line in text
    return text.replace(line, "", 1)


MISTAKES = [
    (LESSON.replace('widget = "runner"', 'widget = "runer"'), "unknown widget 'runer'"),
    (LESSON.replace('kind = "loss-below"', 'kind = "loss-under"'), "unknown check kind 'loss-under'"),
    (LESSON.replace('kind = "diverge"', 'kind = "explode"'), "unknown exercise kind 'explode'"),
    (LESSON.replace('kind = "number"', 'kind = "text"'), "unknown question kind 'text'"),
    (drop(LESSON, 'explain = "Because *two*."\n'), "question 'why' (line"),
    (drop(LESSON, 'explain = "Because *two*."\n'), "missing field 'explain'"),
    (LESSON.replace('id = "diverge"', 'id = "why"'), "duplicate id 'why'"),
    (LESSON.replace("answer = 1\n", "answer = 3\n"), "answer must be an index into the 3 choices"),
    (LESSON.replace("answer = 1\n", "answer = true\n"), "answer must be an index"),
    (drop(LESSON, "tolerance = 0.02\n"), "needs a tolerance"),
    (LESSON.replace("tolerance = 0.02", "tolerance = -1"), "tolerance must be between"),
    (LESSON.replace("answer = 3.296", 'answer = "3.296"'), "answer must be a number"),
    (LESSON.replace('choices = ["one", "two", "`three`"]', 'choices = ["one"]'), "at least two"),
    (LESSON.replace('speed = 10', 'sped = 10'), "unknown field 'sped'"),
    (LESSON.replace('speed = 10', 'speed = 500'), "speed must be between 1 and 100"),
    (LESSON.replace('preset = "microgpt"', 'preset = "gpt-9"'), "preset must be one of"),
    (LESSON.replace('ref = "bigram"', 'ref = "trigram"'), "ref must be one of"),
    (LESSON.replace('ref = "bigram"', 'ref = "bigram"\nvalue = 2.0'), "exactly one of ref or value"),
    (LESSON.replace("{loss}", "{los}"), "unknown placeholder {los}"),
    (drop(LESSON, 'missed = "It stayed **above** the line."\n'), "missing field 'missed'"),
    (LESSON.replace('ref = "bigram"\n', 'ref = "bigram"\nref = "uniform"\n'), "invalid TOML"),
    (LESSON.replace(RUNNER, ""), "check 'below' watches the runner widget, which this lesson does not show"),
    (LESSON.replace(RUNNER, RUNNER + "\n" + RUNNER), "the runner widget appears twice"),
    (LESSON.replace("```exercise", "- a list item\n\n  ```exercise").replace(
        'done = "It *diverged*."\n```', 'done = "It *diverged*."\n  ```'), "not inside a list"),
    (LESSON.replace('id = "diverge"', 'id = "Diverge!"'), "needs an id"),
    (LESSON.replace('title = "Counting"\n', ""), "front matter: missing 'title'"),
    (LESSON.replace("minutes = 15", "minutes = 0"), "minutes must be a positive integer"),
    (LESSON.replace("minutes = 15", "minutes = 15\nauthor = \"x\""), "unknown key 'author'"),
    (LESSON.replace("+++\n\n", "\n", 1), "no closing '+++'"),
    ("# no front matter\n", "must start with TOML front matter"),
]


@pytest.mark.parametrize("text, needle", MISTAKES, ids=[needle for _, needle in MISTAKES])
def test_mistakes_in_a_lesson_are_one_line_errors_naming_file_and_block(text, needle):
    with pytest.raises(CourseError) as info:
        parse(text)
    message = str(info.value)
    assert needle in message, message
    assert message.startswith("2-counting.md") and "\n" not in message


def test_kind_specific_params_are_checked():
    phase = RUNNER + '```check\nid = "p"\nkind = "phase"\nphase = "short words"\ndone = "At {iter}: {phase}."\nmissed = "no"\n```\n'
    assert parse(FRONT + phase).blocks[1]["params"] == {"phase": "short words"}
    with pytest.raises(CourseError, match="phase must be one of"):
        parse(FRONT + phase.replace("short words", "long words"))
    # the block's own kind is "diagnosis", so the verdict it waits for is named `diagnosis`
    verdict = RUNNER + '```check\nid = "d"\nkind = "diagnosis"\ndiagnosis = "diverged"\ndone = "{message}"\nmissed = "no"\n```\n'
    assert parse(FRONT + verdict).blocks[1]["params"] == {"diagnosis": "diverged"}
    with pytest.raises(CourseError, match="missing field 'diagnosis'"):
        parse(FRONT + verdict.replace('diagnosis = "diverged"\n', ""))
    finish = RUNNER + '```exercise\nid = "f"\nkind = "finish-run"\npreset = "mlp"\nmax_loss = 2.5\ntask = "t"\ndone = "d"\n```\n'
    assert parse(FRONT + finish).blocks[1]["params"] == {"preset": "mlp", "max_loss": 2.5}
    with pytest.raises(CourseError, match="missing field 'preset'"):
        parse(FRONT + finish.replace('preset = "mlp"\n', ""))
    with pytest.raises(CourseError, match="exercise 'g' watches the gradcheck widget"):
        parse(FRONT + '```exercise\nid = "g"\nkind = "gradcheck"\nmax_rel_error = 1e-6\ntask = "t"\ndone = "d"\n```\n')
    repeat = ('```widget\nwidget = "sandbox"\ntemperature = 0.3\n```\n```exercise\nid = "r"\nkind = "repeat-name"\n'
              'min_repeats = 3\ntask = "t"\ndone = "{name} came back at T = {temperature}."\n```\n')
    assert parse(FRONT + repeat).blocks[1]["done"] == "{name} came back at T = {temperature}."


def test_the_kind_lists_cover_the_contract():
    assert set(WIDGET_KINDS) == {"runner", "cycle", "loop-code", "bigram", "gradcheck", "graph-size", "mystery",
                                 "sandbox", "inspector", "breaks", "checkpoints", "twins"}
    assert set(CHECK_KINDS) == {"first-loss", "loss-below", "phase", "diagnosis", "finished"}
    assert len(EXERCISE_KINDS) == 14


def test_file_names_give_the_id_and_number():
    with pytest.raises(CourseError, match="named N-slug.md"):
        parse(LESSON, "counting.md")
    assert parse(LESSON, "12-a-b.md").id == "a-b"


def write(folder, name, text):
    (folder / name).write_text(text, encoding="utf-8")


def test_read_course_orders_lessons_by_number_and_refuses_clashes(tmp_path):
    write(tmp_path, "10-last.md", FRONT.replace("Counting", "Last"))
    write(tmp_path, "2-second.md", FRONT.replace("Counting", "Second"))
    write(tmp_path, "1-first.md", FRONT.replace("Counting", "First"))
    write(tmp_path, "notes.txt", "not a lesson")
    course = read_course(tmp_path)
    assert [lesson.id for lesson in course.lessons] == ["first", "second", "last"]
    assert course.neighbours(course.lesson("second")) == ("first", "last")
    assert course.neighbours(course.lesson("first")) == (None, "second")
    assert course.lesson("nope") is None
    write(tmp_path, "2-again.md", FRONT)
    with pytest.raises(CourseError, match="same lesson number 2"):
        read_course(tmp_path)


def test_grading_choice_and_number_questions():
    lesson = parse(LESSON)
    why, ln27 = lesson.questions["why"], lesson.questions["ln-27"]
    assert grade(why, 1) and not grade(why, 0)
    assert grade(ln27, 3.296) and grade(ln27, 3.31) and grade(ln27, 3.276)
    assert not grade(ln27, 3.32) and not grade(ln27, 3)
    assert grade(ln27, 3.316)                                  # exactly at the edge of the tolerance
    for bad in (True, "1", 1.0, None, [1]):
        with pytest.raises(AnswerError):
            grade(why, bad)
    with pytest.raises(AnswerError, match="has 3 choices"):
        grade(why, 3)
    for bad in (True, "3.3", None, float("nan")):
        with pytest.raises(AnswerError, match="takes a number"):
            grade(ln27, bad)


# --- the package's own lessons ---------------------------------------------------------------------------
def lesson_files() -> list[str]:
    folder = resources.files("tinylm.course").joinpath("lessons")
    return sorted(f.name for f in folder.iterdir() if f.name.endswith(".md")) if folder.is_dir() else []


def test_the_packaged_lessons_parse():
    course = load_course()
    assert len(course.lessons) == len(lesson_files())
    assert [lesson.number for lesson in course.lessons] == sorted(lesson.number for lesson in course.lessons)


def test_each_packaged_lesson_has_at_least_six_questions():
    if not lesson_files():
        pytest.skip("no lesson files yet")
    for lesson in load_course().lessons:
        assert lesson.count("question") >= 6, lesson.id
