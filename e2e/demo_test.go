package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// `make demo`'s script, from a clean state (fresh Temporal database and
// results directory) to vLLM's printed table, with the Temporal server, the
// worker and the simulator as real processes.
func TestDemoScriptPrintsTheTable(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	temporalBinary(t)
	for _, port := range []string{"7233", "8233", "18000", "18001", "9464"} {
		if l, err := net.Listen("tcp", "127.0.0.1:"+port); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("the demo's port %s is taken", port)
			}
			t.Skipf("the demo's port %s is taken (a demo or Temporal already running?)", port)
		} else {
			l.Close()
		}
	}
	root, _ := filepath.Abs("..")
	build := exec.Command("go", "build", "-o", "bin/", "./starter", "./worker", "./simulator")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	resultsDir := t.TempDir()
	cmd := exec.Command("scripts/demo.sh")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "DEMO_STATE_DIR="+t.TempDir(), "BENCHMARK_RESULTS_DIRECTORY="+resultsDir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{"============ Serving Benchmark Result ============", "Successful requests:", "Temporal Web UI:", "Report:"} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	reports, _ := filepath.Glob(filepath.Join(resultsDir, "demo-*", "report.html"))
	results, _ := filepath.Glob(filepath.Join(resultsDir, "demo-*", "result.json"))
	if len(reports) != 1 || len(results) != 1 {
		t.Errorf("report %v result %v in %s", reports, results, resultsDir)
	}
}
