package engine

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/vibench/vllm-inference-benchmark/metrics"
)

// Failures are result.json's account of what failed where: each replica's
// requests by how they ended, its failures by reason, the slices in which
// it could not be reached at all, and its TTFT and ITL p99 (a slow replica
// beside healthy ones).
type Failures struct {
	FailedPct float64           `json:"failed_pct"` // failed / (completed + failed), all replicas
	Replicas  []ReplicaFailures `json:"replicas"`
	Warnings  []string          `json:"warnings,omitempty"`
}

// ReplicaFailures is one replica's part of Failures.
type ReplicaFailures struct {
	Replica     int           `json:"replica"`
	Requests    int           `json:"requests"`
	Completed   int           `json:"completed"`
	Failed      int           `json:"failed"`
	Interrupted int           `json:"interrupted"`
	FailedPct   float64       `json:"failed_pct"`
	Reasons     []ReasonCount `json:"failed_by_reason"`
	// UnreachableSlices (from 1) are the slices in which every request sent
	// to the replica failed to connect.
	UnreachableSlices []int   `json:"unreachable_slices,omitempty"`
	TTFTP99Ms         float64 `json:"ttft_p99_ms"`
	ITLP99Ms          float64 `json:"itl_p99_ms"`
	// Running figures while a run is read (a checkpoint keeps them).
	ByReason map[string]int    `json:"-"`
	TTFT     metrics.Histogram `json:"-"`
	ITL      metrics.Histogram `json:"-"`
}

// ReasonCount is how many requests failed for one reason.
type ReasonCount struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
}

// unreachableWarnAfter is how many slices a replica may be unreachable in
// before the run carries a warning.
const unreachableWarnAfter = 1

type failureCounter struct {
	Replicas []*ReplicaFailures
}

// addUnit counts one (slice, replica)'s records.
func (f *failureCounter) addUnit(slice, replica int, recs []metrics.Record) {
	for len(f.Replicas) <= replica {
		f.Replicas = append(f.Replicas, &ReplicaFailures{Replica: len(f.Replicas)})
	}
	r := f.Replicas[replica]
	if r.ByReason == nil { // new, or restored empty from a checkpoint
		r.ByReason = map[string]int{}
	}
	sent, refused := 0, 0
	for _, rec := range recs {
		r.Requests++
		switch {
		case rec.Status == metrics.StatusInterrupted:
			r.Interrupted++
			continue
		case rec.Success:
			r.Completed++
			r.TTFT.Add(rec.TTFT)
			for _, gap := range rec.ITL {
				r.ITL.Add(gap)
			}
		default:
			r.Failed++
			reason := metrics.FailureReason(rec.Error)
			r.ByReason[reason]++
			if metrics.IsConnectFailure(reason) {
				refused++
			}
		}
		sent++
	}
	if sent > 0 && refused == sent {
		r.UnreachableSlices = append(r.UnreachableSlices, slice+1)
	}
}

func (f *failureCounter) result() Failures {
	out := Failures{Replicas: []ReplicaFailures{}}
	completed, failed := 0, 0
	for _, r := range f.Replicas {
		for reason, n := range r.ByReason {
			r.Reasons = append(r.Reasons, ReasonCount{Reason: reason, Count: n})
		}
		slices.SortFunc(r.Reasons, func(a, b ReasonCount) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Reason, b.Reason))
		})
		if r.Reasons == nil {
			r.Reasons = []ReasonCount{}
		}
		r.FailedPct = pctOf(r.Failed, r.Completed+r.Failed)
		if r.TTFT.Count > 0 {
			r.TTFTP99Ms = r.TTFT.Quantile(0.99) * 1000
		}
		if r.ITL.Count > 0 {
			r.ITLP99Ms = r.ITL.Quantile(0.99) * 1000
		}
		completed, failed = completed+r.Completed, failed+r.Failed
		if n := len(r.UnreachableSlices); n > unreachableWarnAfter {
			out.Warnings = append(out.Warnings, fmt.Sprintf("replica %d was unreachable in %d slices (first %d, last %d): every request sent to it failed to connect",
				r.Replica, n, r.UnreachableSlices[0], r.UnreachableSlices[n-1]))
		}
		out.Replicas = append(out.Replicas, *r)
	}
	out.FailedPct = pctOf(failed, completed+failed)
	return out
}

func pctOf(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}
