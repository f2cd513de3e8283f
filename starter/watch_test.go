package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/vibench/vllm-inference-benchmark/workflows"
)

// The live view is computed from the fields the workflow has filled at
// each phase, with "—" for what is not known yet.
func TestLiveLines(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	t0 := now.Add(-10 * time.Minute)
	for _, tc := range []struct {
		name string
		p    workflows.Progress
		want []string
	}{
		{"before data", workflows.Progress{Phase: workflows.PhasePreparing},
			[]string{"run  preparing  slice —  elapsed —  left —"}},
		{"deployed, not serving yet", workflows.Progress{Phase: workflows.PhaseWaiting, SlicesTotal: 12, Replicas: 2},
			[]string{
				"replica 0  waiting-ready  slice —/12  elapsed —  left —  ok —  failed —  TTFT p99 —  last error —",
				"replica 1  waiting-ready  slice —/12  elapsed —  left —  ok —  failed —  TTFT p99 —  last error —",
			}},
		{"first slice running", workflows.Progress{Phase: workflows.PhaseLoading, SlicesStarted: 1, SlicesTotal: 12, Replicas: 1,
			T0: now.Add(3 * time.Second), ETA: now.Add(time.Hour)},
			[]string{"replica 0  loading  slice 1/12  elapsed starts in 3s  left 1h0m0s  ok —  failed —  TTFT p99 —  last error —"}},
		{"mid-run", workflows.Progress{Phase: workflows.PhaseLoading, SlicesDone: 2, SlicesStarted: 3, SlicesTotal: 12, Replicas: 2,
			T0: t0, ETA: now.Add(50 * time.Minute), ByReplica: []workflows.ReplicaProgress{
				{Replica: 0, URL: "http://a:8000", Completed: 1200, Failed: 3, TTFTp99: 512.34, LastError: "HTTP 500:\n internal"},
				{Replica: 1, URL: "http://b:8000", Completed: 1203, TTFTp99: 498},
			}},
			[]string{
				"replica 0 http://a:8000  loading  slice 3/12  elapsed 10m0s  left 50m0s  ok 1200  failed 3  TTFT p99 512.3 ms  last error HTTP 500: internal",
				"replica 1 http://b:8000  loading  slice 3/12  elapsed 10m0s  left 50m0s  ok 1203  failed 0  TTFT p99 498.0 ms  last error —",
			}},
		{"a replica unreachable", workflows.Progress{Phase: workflows.PhaseLoading, SlicesDone: 4, SlicesStarted: 5, SlicesTotal: 12, Replicas: 2,
			T0: t0, ETA: now.Add(50 * time.Minute),
			Warnings: []string{"replica 1 (http://b:8000) unreachable for the last 2 slices: connection refused"},
			ByReplica: []workflows.ReplicaProgress{
				{Replica: 0, URL: "http://a:8000", Completed: 2400, TTFTp99: 500},
				{Replica: 1, URL: "http://b:8000", Completed: 1203, Failed: 2400, TTFTp99: 498, LastError: "connection refused", UnreachableSlices: 2},
			}},
			[]string{
				"WARNING: replica 1 (http://b:8000) unreachable for the last 2 slices: connection refused",
				"replica 0 http://a:8000  loading  slice 5/12  elapsed 10m0s  left 50m0s  ok 2400  failed 0  TTFT p99 500.0 ms  last error —",
				"replica 1 http://b:8000  loading  slice 5/12  elapsed 10m0s  left 50m0s  UNREACHABLE 2 slice(s)  ok 1203  failed 2400  TTFT p99 498.0 ms  last error connection refused",
			}},
		{"stopped early", workflows.Progress{Phase: workflows.PhaseAggregating, SlicesDone: 3, SlicesStarted: 3, SlicesTotal: 12, Replicas: 1,
			T0: t0, ETA: now.Add(50 * time.Minute), Stopped: true, StopReason: "enough data",
			ByReplica: []workflows.ReplicaProgress{{Replica: 0, Completed: 10, TTFTp99: 1}}},
			[]string{"replica 0  aggregating  slice 3/12  elapsed 10m0s  left — (stopping: enough data)  ok 10  failed 0  TTFT p99 1.0 ms  last error —"}},
		{"finished", workflows.Progress{Phase: workflows.PhaseDone, SlicesDone: 12, SlicesStarted: 12, SlicesTotal: 12, Replicas: 1,
			T0: now.Add(-2 * time.Hour), ETA: now.Add(-time.Hour),
			ByReplica: []workflows.ReplicaProgress{{Replica: 0, Completed: 14400, TTFTp99: 505}}},
			[]string{"replica 0  done  slice 12/12  elapsed 2h0m0s  left 0s  ok 14400  failed 0  TTFT p99 505.0 ms  last error —"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := liveLines(tc.p, now)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// On a terminal the view is redrawn in place: up over what was shown,
// each line cleared, and lines left over from a longer view blanked.
func TestRedraw(t *testing.T) {
	var b bytes.Buffer
	shown := redraw(&b, nil, []string{"a", "b", "c"})
	if b.String() != "\r\x1b[2Ka\n\r\x1b[2Kb\n\r\x1b[2Kc\n" {
		t.Errorf("first draw %q", b.String())
	}
	b.Reset()
	shown = redraw(&b, shown, []string{"d"})
	if b.String() != "\x1b[3A\r\x1b[2Kd\n\r\x1b[2K\n\r\x1b[2K\n" || len(shown) != 3 {
		t.Errorf("redraw %q, %d lines on screen", b.String(), len(shown))
	}
}
