"""The hidden grader suite: tests per task, graded by the course.front.grading plugin."""
from pathlib import Path

pytest_plugins = ["course.front.grading"]

COURSE = Path(__file__).resolve().parent.parent


def pytest_grading_suite(config):
    """This suite grades the course's curriculum against solutions/; exercises/ by default."""
    from course.content.curriculum import TASKS
    from course.front.grading import Suite  # imported here: the plugin must load through pytest_plugins first

    return Suite(tasks=TASKS, solutions=COURSE / "solutions", default_submission=COURSE / "exercises",
                 secrets=(COURSE / "grader", COURSE / ".git"), cover=(COURSE,))
