"""CRC-32 algebra (zlib's multmodp/x2nmodp on bit-reflected polynomials): the CRC of a
concatenation from the CRCs of its parts, so a body assembled from cached segments gets
its gzip trailer without re-reading every byte."""

from __future__ import annotations

CRC_POLY = 0xEDB88320
ONE = 1 << 31  # the polynomial 1


def multmodp(a: int, b: int) -> int:
    """a * b modulo the CRC-32 polynomial."""
    m = ONE
    p = 0
    while m:
        if a & m:
            p ^= b
            if not a & (m - 1):
                break
        m >>= 1
        b = (b >> 1) ^ CRC_POLY if b & 1 else b >> 1
    return p


X2N = [ONE >> 1]  # x^(2^k) modulo the polynomial, from x^1
for _ in range(31):
    X2N.append(multmodp(X2N[-1], X2N[-1]))


def shift(length: int) -> int:
    """x^(8 * length): crc(A + B) == multmodp(shift(len(B)), crc(A)) ^ crc(B)."""
    p = ONE
    k = 3
    while length:
        if length & 1:
            p = multmodp(X2N[k & 31], p)
        length >>= 1
        k += 1
    return p
