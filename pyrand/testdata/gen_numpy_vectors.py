# Regenerates numpy_vectors.json with numpy 1.24.2 (Debian 12 python3-numpy,
# the version the golden vectors came from): /usr/bin/python3 gen_numpy_vectors.py
import json
import numpy as np

out = {"numpy": np.__version__, "legacy_gamma": []}
for seed in (0, 1, 42, 4294967295):
    for shape in (0.05, 0.3, 0.5, 0.9, 1.0, 1.5, 2.0, 4.5, 30.0):
        rs = np.random.RandomState(seed)
        out["legacy_gamma"].append({"seed": seed, "shape": shape, "scale": 1.0 / shape,
                                    "draws": rs.gamma(shape, 1.0 / shape, size=500).tolist()})
json.dump(out, open("numpy_vectors.json", "w"), indent=0)
