# Regenerates random_vectors.json by running vLLM v0.20.0's own RandomDataset
# code (RandomDataset, gen_prompt_decode_to_target_len, get_sampling_params,
# _resolve_range_ratios, taken from the given source files) with numpy 1.24.2
# (Debian 12 python3-numpy) and a toy tokenizer that random_test.go defines
# the same way. Usage, from a vLLM git checkout:
#   git show v0.20.0:vllm/benchmarks/datasets/datasets.py > /tmp/datasets.py
#   git show v0.20.0:vllm/benchmarks/datasets/utils.py > /tmp/utils.py
#   /usr/bin/python3 gen_random_vectors.py /tmp/datasets.py /tmp/utils.py
import ast
import dataclasses
import hashlib
import json
import logging
import math
import sys

import numpy as np


def extract(path, names):
    src = open(path).read()
    tree = ast.parse(src)
    nodes = [n for n in tree.body if getattr(n, "name", None) in names]
    assert {n.name for n in nodes} == set(names), (path, names)
    return ast.Module(body=nodes, type_ignores=[]), hashlib.sha256(src.encode()).hexdigest()


@dataclasses.dataclass
class SampleRequest:
    prompt: str
    prompt_len: int
    expected_output_len: int
    lora_request: object = None
    request_id: str = None


class BenchmarkDataset:
    # The parts of vLLM's base class RandomDataset uses.
    def __init__(self, random_seed=0, **kwargs):
        self.random_seed = random_seed

    def get_lora_request(self, **kwargs):
        return None


ns = {
    "np": np, "math": math, "logger": logging.getLogger("vllm"),
    "TokenizerLike": object, "RangeRatio": float | dict,
    "SampleRequest": SampleRequest, "BenchmarkDataset": BenchmarkDataset,
}
utils_mod, utils_sha = extract(sys.argv[2], ["_resolve_range_ratios", "get_sampling_params"])
exec(compile(utils_mod, "utils.py", "exec"), ns)
ds_mod, ds_sha = extract(sys.argv[1], ["gen_prompt_decode_to_target_len", "RandomDataset"])
exec(compile(ds_mod, "datasets.py", "exec"), ns)


class ToyTokenizer:
    """Token id n decodes to the word "w<n>", except: an id with
    n % vanish == vanish_rem decodes to nothing (re-encodings come out
    short, so vLLM pads), and an id with n % dup == dup_rem decodes to
    "v<n> v<n>", two words that each encode to id (n+1) % vocab_size (too
    long: vLLM truncates). Words join with single spaces."""

    def __init__(self, vocab_size, special, num_special, vanish, vanish_rem, dup, dup_rem):
        self.vocab_size = vocab_size
        self.all_special_ids = special
        self._num_special = num_special
        self.vanish, self.vanish_rem, self.dup, self.dup_rem = vanish, vanish_rem, dup, dup_rem

    def num_special_tokens_to_add(self):
        return self._num_special

    def decode(self, ids):
        words = []
        for n in ids:
            if self.vanish and n % self.vanish == self.vanish_rem:
                continue
            if self.dup and n % self.dup == self.dup_rem:
                words += ["v%d" % n, "v%d" % n]
            else:
                words.append("w%d" % n)
        return " ".join(words)

    def encode(self, text, add_special_tokens=False):
        assert not add_special_tokens
        return [int(w[1:]) if w[0] == "w" else (int(w[1:]) + 1) % self.vocab_size
                for w in text.split()]


CASES = [
    {"name": "pads_and_truncation", "seed": 0, "num_prompts": 200,
     "input_len": 40, "output_len": 10, "prefix_len": 5, "range_ratio": 0.3,
     "tok": dict(vocab_size=1000, special=[0, 1, 500, 1000], num_special=1,
                 vanish=7, vanish_rem=3, dup=11, dup_rem=5)},
    {"name": "retries_run_out", "seed": 42, "num_prompts": 40,
     "input_len": 64, "output_len": 128, "prefix_len": 0, "range_ratio": 0.0,
     "tok": dict(vocab_size=300, special=[], num_special=0,
                 vanish=2, vanish_rem=1, dup=0, dup_rem=0)},
    {"name": "identity_big_seed", "seed": 2**40 + 5, "num_prompts": 60,
     "input_len": 31, "output_len": 1, "prefix_len": 3, "range_ratio": 0.5,
     "tok": dict(vocab_size=5000, special=[4999], num_special=2,
                 vanish=0, vanish_rem=0, dup=0, dup_rem=0)},
]

out = {"numpy": np.__version__, "vllm": "v0.20.0",
       "datasets_py_sha256": ds_sha, "utils_py_sha256": utils_sha, "cases": []}
for c in CASES:
    tok = ToyTokenizer(**c["tok"])
    ds = ns["RandomDataset"](random_seed=c["seed"])
    reqs = ds.sample(tok, c["num_prompts"], prefix_len=c["prefix_len"],
                     range_ratio=c["range_ratio"], input_len=c["input_len"],
                     output_len=c["output_len"])
    case = dict(c)
    case["samples"] = [[r.prompt, r.prompt_len, r.expected_output_len] for r in reqs]
    out["cases"].append(case)

# With range ratio 0 no lengths are drawn: the offsets of the Llama 3.1 test.
out["default_rng0_integers_0_128000"] = np.random.default_rng(0).integers(0, 128000, size=3).tolist()

with open("random_vectors.json", "w") as f:
    json.dump(out, f, indent=0)
    f.write("\n")
