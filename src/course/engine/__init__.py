"""Grading one submission: reading it (submission, ipynb), asking the submission and the reference the same
question (judge, plan), comparing values (checks), scanning source (integrity), and the Result it all
comes to (core.Engine.grade, result). Imports the sandbox and the bottom layer, never a renderer or a
front end."""
