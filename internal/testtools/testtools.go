// Package testtools finds the heavy test binaries (Temporal CLI, Kubernetes
// control plane, Helm, Prometheus) that scripts/tools.sh builds once into
// .cache/bin.
package testtools

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir is VIB_TOOLS_BIN, else the nearest .cache/bin above the working
// directory (tests run in their package's folder).
func Dir() string {
	if dir := os.Getenv("VIB_TOOLS_BIN"); dir != "" {
		return dir
	}
	wd, err := os.Getwd()
	if err != nil {
		return ".cache/bin"
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, ".cache", "bin")); err == nil {
			return filepath.Join(d, ".cache", "bin")
		}
		if filepath.Dir(d) == d {
			return ".cache/bin"
		}
	}
}

// Bin is the path of the named tool. A missing one skips the test on a
// developer's machine and fails it where the tools must be there (make test
// sets VIB_TOOLS_BIN; CI sets CI); install says how to get it.
func Bin(t testing.TB, name, install string) string {
	t.Helper()
	p := filepath.Join(Dir(), name)
	if _, err := os.Stat(p); err != nil {
		msg := name + " is missing in " + Dir() + ": run " + install + " (make tools does)"
		if os.Getenv("VIB_TOOLS_BIN") != "" || os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}
