# Regenerates numpy_vectors.json with numpy 1.24.2 (Debian 12 python3-numpy,
# the version the golden vectors came from): /usr/bin/python3 gen_numpy_vectors.py
import json
import numpy as np

out = {"numpy": np.__version__, "legacy_gamma": [], "pcg64_raw": [], "integers": []}
for seed in (0, 1, 42, 4294967295):
    for shape in (0.05, 0.3, 0.5, 0.9, 1.0, 1.5, 2.0, 4.5, 30.0):
        rs = np.random.RandomState(seed)
        out["legacy_gamma"].append({"seed": seed, "shape": shape, "scale": 1.0 / shape,
                                    "draws": rs.gamma(shape, 1.0 / shape, size=500).tolist()})
for seed in (0, 1, 42, 123456789012):
    bg = np.random.PCG64(seed)
    out["pcg64_raw"].append({"seed": seed, "draws": [str(v) for v in bg.random_raw(8)]})
for seed, low, high, size in ((0, 1024, 1025, 5), (0, 921, 1128, 20), (0, 0, 128256, 20),
                              (1, 1, 129, 33), (42, 0, 1 << 40, 7), (7, 5, 6000000000, 9)):
    rng = np.random.default_rng(seed)
    out["integers"].append({"seed": seed, "low": low, "high": high,
                            "draws": [int(v) for v in rng.integers(low, high, size=size)]})
json.dump(out, open("numpy_vectors.json", "w"), indent=0)
