"""The built-in `factor` task: the complete factorisation of each number, by FLINT
(python-flint's `fmpz.factor`: trial division, then Pollard rho, ECM and the quadratic
sieve as the number asks). Its cost varies a thousandfold between numbers of one job
(a 64-bit semiprime takes about 0.3 ms, a 200-bit one seconds): FLINT does not check
for signals, so a chunk past its timeout is stopped by stopping its worker, as any."""

from __future__ import annotations

import flint


def factor(n: int) -> list[list]:
    """The complete factorisation of each number: [[p, e], ...], primes ascending.

    Each prime p is a decimal string (JSON readers round integers past 2^53); 0 and 1
    give []."""
    factors = sorted((int(p), int(e)) for p, e in flint.fmpz(n).factor())
    return [[str(p), e] for p, e in factors]
