"""Reference solutions. Stubs in exercises/ are generated from these files (python -m course.front.stubgen)."""
