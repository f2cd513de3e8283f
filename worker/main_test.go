package main

import (
	"strings"
	"testing"

	"go.uber.org/zap"
)

// A load worker in a pod without a bucket stops at once, naming the
// setting, before it connects anywhere.
func TestLoadWorkerInAPodNeedsABucket(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
	t.Setenv("BENCHMARK_RESULTS_BUCKET", "")
	t.Setenv("TEMPORAL_ADDRESS", "127.0.0.1:1") // never dialled
	for _, queues := range []string{"load", "orchestration,load"} {
		err := run(zap.NewNop(), queues, "")
		if err == nil || !strings.Contains(err.Error(), "BENCHMARK_RESULTS_BUCKET") {
			t.Errorf("--task-queues %s: %v", queues, err)
		}
	}
}
