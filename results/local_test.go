package results_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vibench/vllm-inference-benchmark/results"
)

func newLocal(t *testing.T) (*results.LocalStore, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "results")
	s, err := results.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func TestLocalStoreContract(t *testing.T) {
	s, _ := newLocal(t)
	testStoreContract(t, s)
}

func TestLocalStoreLayoutAndLocation(t *testing.T) {
	s, dir := newLocal(t)
	ctx := context.Background()
	key := results.PartKey("run-1", 17, 1, 1, 3)
	if err := s.Put(ctx, key, []byte("part")); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "run-1", "slices", "00017", "001", "part-a001-000003.jsonl.gz")
	if got := s.Location(key); got != want {
		t.Fatalf("Location = %q, want %q", got, want)
	}
	if b, err := os.ReadFile(want); err != nil || string(b) != "part" {
		t.Fatalf("file %s = %q, %v", want, b, err)
	}
	info, _ := os.Stat(want)
	if info.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, want 0644", info.Mode().Perm())
	}
}

// A crash between creating and renaming the temporary file leaves only that
// file behind; the store must neither list it nor leave one after a failure.
func TestLocalStoreHidesAndCleansTempFiles(t *testing.T) {
	s, dir := newLocal(t)
	ctx := context.Background()
	if err := s.Put(ctx, "run/result.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	crashLeftover := filepath.Join(dir, "run", ".tmp-123456")
	if err := os.WriteFile(crashLeftover, []byte("{\"half"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := s.List(ctx, "run/")
	if err != nil || !slices.Equal(keys, []string{"run/result.json"}) {
		t.Fatalf("List = %v, %v", keys, err)
	}
	if err := s.PutReader(ctx, "run/result.json", &failingReader{n: 10}); err == nil {
		t.Fatal("failing write succeeded")
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "run"))
	var temps int
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			temps++
		}
	}
	if temps != 1 { // only the simulated crash leftover
		t.Fatalf("%d temporary files after a failed write, want 1 (the crash leftover)", temps)
	}
}

func TestFromEnvLocal(t *testing.T) {
	ctx := context.Background()
	s, err := results.FromEnv(ctx, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if got, want := s.Location("r/result.json"), filepath.Join(wd, "results", "r", "result.json"); got != want {
		t.Fatalf("default Location = %q, want %q", got, want)
	}
	dir := t.TempDir()
	s, err = results.FromEnv(ctx, func(k string) string {
		if k == "BENCHMARK_RESULTS_DIRECTORY" {
			return dir
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*results.LocalStore); !ok {
		t.Fatalf("FromEnv without a bucket gave %T", s)
	}
	if got := s.Location("x"); got != filepath.Join(dir, "x") {
		t.Fatalf("Location = %q", got)
	}
}
