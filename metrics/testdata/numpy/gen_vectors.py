"""Regenerates numpy_vectors.json with numpy 1.24.2 (vLLM's golden-vector
version; Debian 12's python3-numpy): run with /usr/bin/python3 from this
directory. Arrays come from a 64-bit LCG that stats_test.go reproduces
exactly, so only the results are stored (as float.hex())."""
import json
import numpy as np

MASK = (1 << 64) - 1


def lcg_array(seed, n, scale, offset, square):
    s = seed
    out = []
    for _ in range(n):
        s = (s * 6364136223846793005 + 1442695040888963407) & MASK
        x = (s >> 11) / 9007199254740992.0 * scale + offset
        if square:
            x = x * x
        out.append(x)
    return out


SIZES = [1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 64, 100, 127, 128, 129, 130, 136, 1000,
         8191, 8192, 8193, 10000, 20000, 100003]
PERCENTILES = [0.0, 1.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 100.0, 33.3]

cases = []
for i, n in enumerate(SIZES):
    for square in (False, True):
        seed = 1000 + 2 * i + int(square)
        scale, offset = (0.05, 0.001) if not square else (3.0, 0.2)
        a = lcg_array(seed, n, scale, offset, square)
        arr = np.array(a)
        cases.append({
            "seed": seed, "n": n, "scale": scale, "offset": offset, "square": square,
            "sum": float(np.sum(arr)).hex(),
            "mean": float(np.mean(a)).hex(),
            "std": float(np.std(a)).hex(),
            "median": float(np.median(a)).hex(),
            "percentiles": [[p, float(np.percentile(a, p)).hex()] for p in PERCENTILES],
        })

reprs = [0.0, -0.0, 1.0, 20.0, 12.5, 0.1, 1e-4, 9.999e-5, 5e-05, 1.5e-05, 1e16, 9999999999999998.0,
         1e15, 123456789012345.67, 1.7976931348623157e308, 5e-324, 2.2250738585072014e-308,
         -3.14159, 1e22, 1.2345e-7, 0.30000000000000004, 1076.0, 3120.347394540943, 1e100, 1e-100]
json.dump({
    "stats": cases,
    "repr": [[x.hex(), repr(x)] for x in reprs],
    "json_strings": [[s, json.dumps(s)] for s in [
        "plain", "quote\" back\\slash", "nl\n cr\r tab\t bs\b ff\f", "\x00\x01\x1f\x7f",
        "caf\u00e9 \u4e2d\u6587", "emoji \U0001F600", "\u2028\u2029", "/slash"]],
}, open("numpy_vectors.json", "w"), indent=1)
