# Regenerates pcg64_vectors.json with numpy 1.24.2 (Debian 12 python3-numpy):
#   cd pyrand/testdata && /usr/bin/python3 gen_pcg64_vectors.py
# Covers np.random.default_rng(seed): the seeded PCG64 state, raw 64-bit
# outputs, advance(), and Generator.integers on its 32-bit and 64-bit paths,
# including draws that leave a buffered 32-bit half behind.
import json
import numpy as np

SEEDS = [0, 1, 42, 2**32 - 1, 2**32, 2**40 + 5, 2**63 - 1]

out = {"numpy": np.__version__, "seeds": [], "integers": [], "advance": []}

for seed in SEEDS:
    g = np.random.default_rng(seed)
    st = g.bit_generator.state["state"]
    out["seeds"].append({
        "seed": seed,
        "state_hex": "%032x" % st["state"],
        "inc_hex": "%032x" % st["inc"],
        "raw": [str(x) for x in g.bit_generator.random_raw(8).tolist()],
    })

# Each case is a sequence of integers(low, high, size) calls on one
# generator; "draws" is their concatenated output (int64 as strings).
CASES = [
    (0, [(0, 128000, 1000)]),
    (0, [(1024, 1025, 5), (0, 10, 3), (0, 128000, 4)]),
    # 2**31 + 11 values: about half of the 32-bit outputs are rejected.
    (7, [(0, 2, 64), (-5, 5, 64), (0, 2**31 + 11, 64)]),
    (7, [(0, 2**32, 16), (0, 10, 1), (0, 2**32 + 1, 16)]),
    (123, [(0, 2**40, 32), (-2**62, 2**62, 32), (-2**63, 2**63 - 1, 32)]),
    # 64-bit path where about a quarter of the outputs are rejected.
    (9, [(-2**62, 2**62 + 2**61, 64), (0, 7, 3)]),
    (2**63 - 1, [(3, 17, 9), (0, 2**33 - 1, 9), (0, 3, 9)]),
    (0, [(1, 129, 100), (10, 11, 100), (0, 128256, 100)]),
]
for seed, calls in CASES:
    g = np.random.default_rng(seed)
    draws = []
    for low, high, size in calls:
        draws += g.integers(low, high, size=size).tolist()
    st = g.bit_generator.state
    out["integers"].append({
        "seed": seed,
        "calls": [[str(low), str(high), size] for low, high, size in calls],
        "draws": [str(x) for x in draws],
        "has_uint32_after": st["has_uint32"],
    })

for seed, delta in [(0, 1), (0, 1000), (42, 2**40 + 3), (5, 2**64 - 1)]:
    g = np.random.default_rng(seed)
    g.integers(0, 10)  # leaves a kept 32-bit half, which advance drops
    g.bit_generator.advance(delta)
    out["advance"].append({
        "seed": seed,
        "delta": str(delta),
        "state_hex": "%032x" % g.bit_generator.state["state"]["state"],
        "next_integers_0_100": g.integers(0, 100, size=4).tolist(),
    })

with open("pcg64_vectors.json", "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
