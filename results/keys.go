package results

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Key layout of one run, relative to the store's root. Numbers are
// zero-padded so that lexical key order is numeric order:
//
//	<run-id>/request.json
//	<run-id>/slices/<slice:5>/<replica:3>/part-<part:6>.jsonl.gz
//	<run-id>/slices/<slice:5>/summary.json
//	<run-id>/result.json, result.txt, timeseries.json, timeseries.csv, report.html

// ValidateRunID reports whether runID can name a run: one non-empty key
// segment (no slash, not "." or "..").
func ValidateRunID(runID string) error {
	if strings.Contains(runID, "/") {
		return fmt.Errorf("results: run id %q contains a slash", runID)
	}
	if err := checkSegment(runID); err != nil {
		return fmt.Errorf("results: run id %q: %w", runID, err)
	}
	return nil
}

// RunPrefix is the prefix of every key of the run, ending in a slash.
func RunPrefix(runID string) string { return runID + "/" }

// SlicesPrefix is the prefix of every part and slice summary of the run.
func SlicesPrefix(runID string) string { return runID + "/slices/" }

// ReplicaPrefix is the prefix of the parts of one (slice, replica).
func ReplicaPrefix(runID string, slice, replica int) string {
	return fmt.Sprintf("%s/slices/%05d/%03d/", runID, slice, replica)
}

// PartKey is part n of the records that replica sent in slice k.
func PartKey(runID string, slice, replica, part int) string {
	return fmt.Sprintf("%spart-%06d.jsonl.gz", ReplicaPrefix(runID, slice, replica), part)
}

func SliceSummaryKey(runID string, slice int) string {
	return fmt.Sprintf("%s/slices/%05d/summary.json", runID, slice)
}

func RequestKey(runID string) string        { return runID + "/request.json" }
func ResultKey(runID string) string         { return runID + "/result.json" }
func TableKey(runID string) string          { return runID + "/result.txt" }
func TimeseriesJSONKey(runID string) string { return runID + "/timeseries.json" }
func TimeseriesCSVKey(runID string) string  { return runID + "/timeseries.csv" }
func ReportKey(runID string) string         { return runID + "/report.html" }

// PartRef names one part of a run.
type PartRef struct {
	RunID   string
	Slice   int
	Replica int
	Part    int
}

// Key is the part's store key.
func (p PartRef) Key() string { return PartKey(p.RunID, p.Slice, p.Replica, p.Part) }

// Less orders parts by slice, then replica, then part.
func (p PartRef) Less(q PartRef) bool {
	if p.Slice != q.Slice {
		return p.Slice < q.Slice
	}
	if p.Replica != q.Replica {
		return p.Replica < q.Replica
	}
	return p.Part < q.Part
}

var errNotPartKey = errors.New("not a part key")

// ParsePartKey reads a key written by PartKey back into its numbers. It
// accepts only the exact form PartKey writes.
func ParsePartKey(key string) (PartRef, error) {
	fail := func() (PartRef, error) {
		return PartRef{}, fmt.Errorf("results: %q: %w", key, errNotPartKey)
	}
	segs := strings.Split(key, "/")
	if len(segs) != 5 || segs[1] != "slices" || ValidateRunID(segs[0]) != nil {
		return fail()
	}
	name, ok := strings.CutPrefix(segs[4], "part-")
	if !ok {
		return fail()
	}
	if name, ok = strings.CutSuffix(name, ".jsonl.gz"); !ok {
		return fail()
	}
	var nums [3]int
	for i, s := range []string{segs[2], segs[3], name} {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return fail()
		}
		nums[i] = n
	}
	ref := PartRef{RunID: segs[0], Slice: nums[0], Replica: nums[1], Part: nums[2]}
	if ref.Key() != key {
		return fail()
	}
	return ref, nil
}

// ServerMetricsKey holds what replica's server reported on its own /metrics
// during slice k.
func ServerMetricsKey(runID string, slice, replica int) string {
	return ReplicaPrefix(runID, slice, replica) + "server-metrics.json"
}

// ClientStatsKey holds the load generator's own figures (CPU, duration) for
// replica's share of slice k.
func ClientStatsKey(runID string, slice, replica int) string {
	return ReplicaPrefix(runID, slice, replica) + "client.json"
}

// SliceGPUKey holds the GPUs' power and utilisation over slice k (DCGM
// exporter metrics read from Prometheus).
func SliceGPUKey(runID string, slice int) string {
	return fmt.Sprintf("%s/slices/%05d/gpu.json", runID, slice)
}
