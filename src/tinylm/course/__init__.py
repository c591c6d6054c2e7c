"""The tinylm course: lesson files (``lessons/N-slug.md``) parsed into lessons, quiz grading, and the
computations behind the course's widgets (``course.widgets``).

    course = load_course()               # validated at load; cached
    course.lessons[0].public()           # what the page shows (never an answer)
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from .format import CourseError, Lesson, Question, parse_lesson
from .quiz import AnswerError, grade

TITLE = "The tinylm course"


@dataclass(frozen=True)
class Course:
    title: str
    lessons: tuple[Lesson, ...]          # in course order (the number of each file)

    def lesson(self, lesson_id: str) -> Lesson | None:
        return next((lesson for lesson in self.lessons if lesson.id == lesson_id), None)

    def neighbours(self, lesson: Lesson) -> tuple[str | None, str | None]:
        """Ids of the lessons before and after ``lesson`` (None at either end)."""
        ids = [item.id for item in self.lessons]
        i = ids.index(lesson.id)
        return (ids[i - 1] if i > 0 else None), (ids[i + 1] if i + 1 < len(ids) else None)

    def summary(self) -> dict:
        return {"title": self.title, "lessons": [lesson.summary_entry() for lesson in self.lessons]}


def read_course(directory: str | Path | None = None) -> Course:
    """Every ``*.md`` lesson of ``directory`` (default: the package's ``lessons``), validated, in order."""
    folder = resources.files("tinylm.course").joinpath("lessons") if directory is None else Path(directory)
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".md")), key=lambda f: f.name) \
        if folder.is_dir() else []
    lessons = [parse_lesson(f.read_text(encoding="utf-8"), f.name) for f in files]
    lessons.sort(key=lambda lesson: lesson.number)
    for before, after in zip(lessons, lessons[1:]):
        if before.number == after.number:
            raise CourseError(f"{before.source} and {after.source} have the same lesson number {before.number}")
    ids = [lesson.id for lesson in lessons]
    for lesson in lessons:
        if ids.count(lesson.id) > 1:
            raise CourseError(f"{lesson.source}: another lesson has the id {lesson.id!r}")
    return Course(TITLE, tuple(lessons))


@lru_cache(maxsize=1)
def load_course() -> Course:
    """The package's course, read once per process (lesson files ship inside the package)."""
    return read_course()


__all__ = ["TITLE", "Course", "CourseError", "Lesson", "Question", "AnswerError", "grade", "load_course",
           "read_course"]
