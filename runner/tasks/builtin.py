"""The tasks runner itself registers (pyproject.toml, group `runner.tasks`), defined
here without their heavy imports (numpy, FLINT, gmpy2), which load with the first
chunk: checking a job at `runner submit` looks its task up, and stays quick."""

from __future__ import annotations

from ..task import Task


def is_prime(n: int) -> bool:
    """Whether `n` is prime: exact below 2^64, Baillie-PSW above (tasks/primes.py)."""
    from .primes import primes_among

    return bool(primes_among([n]))


def _primes_in_chunk(payload) -> tuple[int, int, bytes]:
    from .primes import test_chunk

    return test_chunk(payload)


def factor(n: int) -> list[list]:
    """The complete factorisation of each number: [[p, e], ...], primes ascending.

    By FLINT (python-flint's `fmpz.factor`: trial division, then Pollard rho, ECM and the
    quadratic sieve as the number asks); each prime p is a decimal string (JSON readers
    round integers past 2^53); 0 and 1 give []. Its cost varies a thousandfold between
    numbers of one job (a 64-bit semiprime takes about 0.3 ms, a 200-bit one seconds);
    FLINT does not check for signals, so a chunk past its timeout is stopped by stopping
    its worker, as any chunk is."""
    import flint

    factors = sorted((int(p), int(e)) for p, e in flint.fmpz(n).factor())
    return [[str(p), e] for p, e in factors]


PRIMES = Task(item=is_prime, kind="filter", payload=_primes_in_chunk,
              doc="Which numbers are prime: the built-in task (exact below 2^64, "
                  "Baillie-PSW above)")
