"""runner: a job runner for CPU-bound Python work with a file-based queue."""

__version__ = "0.1.0"

__all__ = ["Task", "__version__"]


def __getattr__(name: str):
    # `from runner import Task` (what a plugin package registers), imported only when
    # asked for: every `runner` command imports this package first
    if name == "Task":
        from .task import Task

        return Task
    raise AttributeError(f"module 'runner' has no attribute {name!r}")
