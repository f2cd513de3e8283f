package results_test

import (
	"sort"
	"testing"

	"github.com/vibench/vllm-inference-benchmark/results"
)

func TestKeyLayout(t *testing.T) {
	cases := map[string]string{
		results.RunPrefix("r1"):                  "r1/",
		results.RequestKey("r1"):                 "r1/request.json",
		results.PartKey("r1", 17, 1, 2, 3):       "r1/slices/00017/001/part-a002-000003.jsonl.gz",
		results.CompactKey("r1", 17, 1, 2):       "r1/slices/00017/001/compact-a002.jsonl.gz",
		results.CompactMarkerKey("r1", 17, 1, 2): "r1/slices/00017/001/compact-a002.json",
		results.SliceGPUKey("r1", 17):            "r1/slices/00017/gpu.json",
		results.ManifestKey("r1"):                "r1/manifest.json",
		results.ReplicaPrefix("r1", 2, 0):        "r1/slices/00002/000/",
		results.SlicesPrefix("r1"):               "r1/slices/",
		results.ResultKey("r1"):                  "r1/result.json",
		results.TableKey("r1"):                   "r1/result.txt",
		results.TimeseriesJSONKey("r1"):          "r1/timeseries.json",
		results.TimeseriesCSVKey("r1"):           "r1/timeseries.csv",
		results.ReportKey("r1"):                  "r1/report.html",
	}
	for got, want := range cases {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestPartKeysSortNumerically(t *testing.T) {
	var refs []results.PartRef
	for _, s := range []int{0, 9, 10, 137, 99999} {
		for _, r := range []int{0, 2, 11} {
			for _, a := range []int{1, 2, 12} {
				for _, p := range []int{0, 1, 9, 10, 123456} {
					refs = append(refs, results.ObjectRef{RunID: "run", Slice: s, Replica: r, Kind: results.KindPart, Attempt: a, Part: p})
				}
			}
		}
	}
	keys := make([]string, len(refs))
	for i, ref := range refs {
		keys[i] = ref.Key()
	}
	sort.Strings(keys)
	for i, key := range keys {
		got, err := results.ParseObjectKey(key)
		if err != nil {
			t.Fatal(err)
		}
		if got != refs[i] {
			t.Fatalf("lexical position %d holds %+v, numeric order wants %+v", i, got, refs[i])
		}
	}
}

func TestParseObjectKeyRejects(t *testing.T) {
	for _, key := range []string{
		"run/slices/00017/gpu.json",
		"run/slices/00017/001/part-000003.jsonl.gz",         // no attempt
		"run/slices/00017/001/part-a1-000003.jsonl.gz",      // attempt not padded
		"run/slices/00017/001/compact-a001.json.gz",         // wrong extension
		"run/slices/00017/001/compact-a001-000001.jsonl.gz", // a part number on a compaction
		"run/slices/17/001/part-a001-000003.jsonl.gz",       // not padded
		"run/slices/00017/001/part-a001-000003.jsonl",       // wrong extension
		"run/slices/00017/001/part-a001-+00003.jsonl.gz",    // sign
		"run/slices/00017/001/part-a001--00003.jsonl.gz",    // negative
		"run/other/00017/001/part-a001-000003.jsonl.gz",     // not slices
		"a/run/slices/00017/001/part-a001-000003.jsonl.gz",  // nested run id
		"../slices/00017/001/part-a001-000003.jsonl.gz",
		"run/request.json",
	} {
		if ref, err := results.ParseObjectKey(key); err == nil {
			t.Errorf("ParseObjectKey(%q) = %+v, want error", key, ref)
		}
	}
}

func TestValidateRunID(t *testing.T) {
	for _, id := range []string{"run-1", "2026-05-01T10:00:00Z_abc", "x"} {
		if err := results.ValidateRunID(id); err != nil {
			t.Errorf("ValidateRunID(%q): %v", id, err)
		}
	}
	for _, id := range []string{"", ".", "..", "a/b", ".tmp-x", "a\\b"} {
		if err := results.ValidateRunID(id); err == nil {
			t.Errorf("ValidateRunID(%q) accepted", id)
		}
	}
}
