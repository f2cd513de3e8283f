package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vibench/vllm-inference-benchmark/report"
	"github.com/vibench/vllm-inference-benchmark/results"
)

// runReport writes report.html for a finished run: by its id in the
// configured store, or by the path of its local result directory.
func runReport(ctx context.Context, args []string) error {
	var store results.Store
	runID := args[0]
	if st, err := os.Stat(runID); err == nil && st.IsDir() {
		abs, err := filepath.Abs(runID)
		if err != nil {
			return err
		}
		if store, err = results.NewLocal(filepath.Dir(abs)); err != nil {
			return err
		}
		runID = filepath.Base(abs)
	} else if store, err = results.FromEnv(ctx, os.Getenv); err != nil {
		return err
	}
	key, err := report.Write(ctx, store, runID)
	if err != nil {
		return err
	}
	fmt.Println(store.Location(key))
	return nil
}
