"""runner: a job runner for CPU-bound Python work with a file-based queue."""

__version__ = "0.1.0"
