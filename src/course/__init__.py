"""The PyTorch basics course: curriculum, stub generation, sandboxed worker and grading plugin."""

__version__ = "0.1.0"
