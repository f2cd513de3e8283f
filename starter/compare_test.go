package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const compareWant = `                                 A        B        B vs A
Request throughput (req/s)       10.00    12.00    +20.0%
Output token throughput (tok/s)  1280.00  1152.00  -10.0%
Mean TTFT (ms)                   200.00   150.00   -25.0%
Median TTFT (ms)                 180.00   180.00   +0.0%
P99 TTFT (ms)                    500.00   750.00   +50.0%
Mean TPOT (ms)                   20.00    22.00    +10.0%
Median TPOT (ms)                 19.00    19.00    +0.0%
P99 TPOT (ms)                    40.00    30.00    -25.0%
Mean ITL (ms)                    20.00    21.00    +5.0%
Median ITL (ms)                  18.00    18.00    +0.0%
P99 ITL (ms)                     50.00    45.00    -10.0%
Mean E2EL (ms)                   —        3000.00  —
Median E2EL (ms)                 —        2900.00  —
P99 E2EL (ms)                    —        6000.00  —
Successful requests              1000     990      -1.0%
Failed requests                  0        10       —
`

// Two known result JSONs side by side: A by run id from the store, B by
// its run directory; a metric A lacks, or a difference from 0, is "—".
func TestCompareKnownPair(t *testing.T) {
	store := t.TempDir()
	a, _ := os.ReadFile("testdata/compare/a.json")
	b, _ := os.ReadFile("testdata/compare/b.json")
	dirB := filepath.Join(t.TempDir(), "run-b")
	for dir, body := range map[string][]byte{filepath.Join(store, "run-a"): a, dirB: b} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "result.json"), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"BENCHMARK_RESULTS_BUCKET=", "BENCHMARK_RESULTS_DIRECTORY=" + store}
	out, errOut, code := starterEnv(t, env, "compare", "run-a", dirB)
	if want := compareWant + "A: run-a\nB: " + dirB + "\n"; code != 0 || out != want {
		t.Errorf("exit %d: %s\ngot\n%s\nwant\n%s", code, errOut, out, want)
	}

	out, errOut, code = starterEnv(t, env, "compare", "testdata/compare/a.json", "testdata/compare/b.json", "--json")
	var got struct {
		A, B    string
		Metrics []compareRow
	}
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil {
		t.Fatalf("exit %d: %v %s\n%s", code, err, errOut, out)
	}
	if got.A != "testdata/compare/a.json" || len(got.Metrics) != len(compareMetrics) {
		t.Fatalf("%+v", got)
	}
	ttft := got.Metrics[4]
	if ttft.Metric != "P99 TTFT (ms)" || *ttft.A != 500 || *ttft.B != 750 || *ttft.DiffPct != 50 {
		t.Errorf("p99 TTFT %+v", ttft)
	}
	if e2el := got.Metrics[11]; e2el.A != nil || *e2el.B != 3000 || e2el.DiffPct != nil {
		t.Errorf("mean E2EL %+v", e2el)
	}

	if _, errOut, code := starterEnv(t, env, "compare", "run-a", "no-such-run"); code != 1 || !strings.Contains(errOut, "no-such-run") {
		t.Errorf("a missing run: exit %d: %s", code, errOut)
	}
}
