"""runner's own tasks (builtin.py), registered like any plugin's, in its pyproject.toml."""

# the names pyproject.toml registers them by (a test holds the two alike): the door takes
# a job naming one of them, as one naming none, without reading the entry points
BUILTIN_TASKS = frozenset({"primes", "factor"})
