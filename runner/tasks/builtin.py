"""The tasks runner itself registers (pyproject.toml, group `runner.tasks`), defined
here without their heavy imports (numpy, FLINT, gmpy2), which load with the first
chunk: checking a job at `runner submit` looks its task up, and stays quick."""

from __future__ import annotations

from ..task import Task

SIEVE_SEGMENT_NUMBERS = 1 << 20  # a range below 2^64 is sieved this many numbers at a time


def is_prime(n: int) -> bool:
    """Whether `n` is prime: exact below 2^64, Baillie-PSW above (tasks/primes.py)."""
    from .primes import primes_among

    return bool(primes_among([n]))


def _primes_in_chunk(payload) -> tuple[int, int, bytes]:
    from .primes import test_chunk

    return test_chunk(payload)


def primes_worst_seconds(bits: int) -> float:
    """About what testing one number of `bits` bits may cost at worst (a prime, which
    passes every round): 1.45 ms at 1024 bits and 9.7 ms at 2048 on this project's 2-core
    machines, growing as bits^2.7; below 2^64 FLINT's test costs about a microsecond."""
    return 1e-6 if bits <= 64 else 1.45e-3 * (bits / 1024) ** 2.7


def factor_worst_seconds(bits: int) -> float:
    """About what factoring one number of `bits` bits may cost at worst (a semiprime of
    two equal factors), doubling every 11 bits: 0.6 ms at 64 bits, 5.8 ms at 100, 0.14 s
    at 150, 0.5 s at 170. Measured on this project's 2-core machines (python-flint): the
    slowest of a few semiprimes took 0.6 ms at 64 bits, 10 ms at 80 and 100, 0.12 s at
    150, 0.49 s at 170; balanced 100-bit ones 4 ms on average."""
    return 1e-5 if bits <= 32 else 6e-4 * 2 ** ((bits - 64) / 11)


FACTOR_ECM_FROM_BITS = 70  # factor: a number this big or bigger goes to ECM first,
FACTOR_ECM_BITS = 24  # which takes out its prime factors up to 2^24


def factor(n: int) -> list[list]:
    """The complete factorisation of each number: [[p, e], ...], each prime once,
    ascending.

    By FLINT (python-flint's `fmpz.factor`: trial division, then Pollard rho, ECM and the
    quadratic sieve as the number asks). From 70 bits up, FLINT's ECM first takes out the
    prime factors up to FACTOR_ECM_BITS (`fmpz.factor_smooth`), which mostly leaves a
    cofactor that is prime or quick to factor: 0.65 to 0.8 of `fmpz.factor`'s time for
    random numbers of 72 to 100 bits, the same time for those of 110 to 128 bits and for
    semiprimes of 64 to 200, as measured on this project's machines (README, Speed and
    memory); below 70 bits it is slower (1.5 times at 66). Each prime p is a decimal
    string (JSON readers round integers past 2^53); 0 and 1 give []. Its cost varies a
    thousandfold between numbers of one job (a 64-bit semiprime takes about 0.3 ms, a
    200-bit one seconds); FLINT does not check for signals, so a chunk past its timeout is
    stopped by stopping its worker, as any chunk is."""
    import flint

    number = flint.fmpz(n)
    whole = number.bit_length() < FACTOR_ECM_FROM_BITS
    exponents: dict = {}
    for part, e in number.factor() if whole else number.factor_smooth(FACTOR_ECM_BITS):
        # factor_smooth's last part may be composite; and fmpz.factor may give one prime
        # twice (flintlib/flint#859; 18413 in 460325**2 * 1303398846489716064256 with
        # python-flint 0.9.0)
        for p, k in [(part, 1)] if whole or part.is_prime() else part.factor():
            exponents[p] = exponents.get(p, 0) + k * e
    return [[str(p), e] for p, e in sorted(exponents.items())]  # fmpz keys, int exponents


PRIMES = Task(item=is_prime, kind="filter", payload=_primes_in_chunk,
              worst_seconds=primes_worst_seconds, range_block=SIEVE_SEGMENT_NUMBERS,
              doc="Which numbers are prime: the built-in task (exact below 2^64, "
                  "Baillie-PSW above)")


FACTOR = Task(item=factor, worst_seconds=factor_worst_seconds)
