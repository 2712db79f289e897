"""Reads bench/tanh-accuracy.fsx's output and prints, for each width, the largest error of tanh
and of sigma' = 1 - tanh^2 against mpmath at 120 bits, in ulp of the exact value, with Python's
math.tanh (the C library's) beside them, and the times the script measured."""
import math
import sys

import mpmath

mpmath.mp.prec = 120


def ulp_error(value, exact):
    return abs(mpmath.mpf(value) - exact) / math.ulp(float(exact))


def report(width, times, rows):
    worst_t = worst_d = worst_libm = 0.0
    for x, t, d in rows:
        exact_t = mpmath.tanh(mpmath.mpf(x))
        exact_d = 1 - exact_t ** 2
        worst_t = max(worst_t, ulp_error(t, exact_t))
        worst_d = max(worst_d, ulp_error(d, exact_d))
        worst_libm = max(worst_libm, ulp_error(math.tanh(x), exact_t))
    print(f"{width}: {times}; {len(rows)} arguments: tanh within {float(worst_t):.2f} ulp, "
          f"sigma' within {float(worst_d):.2f} ulp (math.tanh within {float(worst_libm):.2f} ulp)")


width, times, rows = None, None, []
for line in sys.stdin:
    if line.startswith("width "):
        if width:
            report(width, times, rows)
        _, width, times = line.strip().split(" ", 2)
        rows = []
    else:
        x, t, d = (float(v) for v in line.split())
        rows.append((x, t, d))
if width:
    report(width, times, rows)
