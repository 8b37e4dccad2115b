"""What instructors and students run: the pytest plugin (grading), the batch runner, releases, notebooks and
their grade cells, and the stub generator. Nothing below imports this layer."""
