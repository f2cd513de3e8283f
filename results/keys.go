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
//	<run-id>/manifest.json, request.json
//	<run-id>/slices/<slice:5>/<replica:3>/part-a<attempt:3>-<part:6>.jsonl.gz
//	<run-id>/slices/<slice:5>/<replica:3>/compact-a<attempt:3>.jsonl.gz, .json
//	<run-id>/slices/<slice:5>/gpu.json
//	<run-id>/result.json, result.txt, timeseries.json, timeseries.csv, report.html
//	<run-id>/aggregate-checkpoint.gob
//
// Every object a LoadSlice attempt writes carries its attempt number, so two
// attempts of one slice (a retry and a worker cut off from Temporal that is
// still writing) never overwrite each other's objects.

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

// SlicesPrefix is the prefix of every object of the run's slices.
func SlicesPrefix(runID string) string { return runID + "/slices/" }

// ReplicaPrefix is the prefix of the objects of one (slice, replica).
func ReplicaPrefix(runID string, slice, replica int) string {
	return fmt.Sprintf("%s/slices/%05d/%03d/", runID, slice, replica)
}

// PartKey is part n of the records that one attempt of replica's share of
// slice k stored.
func PartKey(runID string, slice, replica, attempt, part int) string {
	return fmt.Sprintf("%spart-a%03d-%06d.jsonl.gz", ReplicaPrefix(runID, slice, replica), attempt, part)
}

// CompactKey holds every record of one (slice, replica) as one object,
// written by the attempt that finished it; CompactMarkerKey, written after
// it, says which parts it holds.
func CompactKey(runID string, slice, replica, attempt int) string {
	return fmt.Sprintf("%scompact-a%03d.jsonl.gz", ReplicaPrefix(runID, slice, replica), attempt)
}

func CompactMarkerKey(runID string, slice, replica, attempt int) string {
	return fmt.Sprintf("%scompact-a%03d.json", ReplicaPrefix(runID, slice, replica), attempt)
}

// WALKey names an attempt's write-ahead log of records. It lives on the
// worker's local disk, never in the store: recovering it stores its records
// as a part.
func WALKey(runID string, slice, replica, attempt int) string {
	return fmt.Sprintf("%swal-a%03d.jsonl", ReplicaPrefix(runID, slice, replica), attempt)
}

func ManifestKey(runID string) string       { return runID + "/manifest.json" }
func RequestKey(runID string) string        { return runID + "/request.json" }
func ResultKey(runID string) string         { return runID + "/result.json" }
func TableKey(runID string) string          { return runID + "/result.txt" }
func TimeseriesJSONKey(runID string) string { return runID + "/timeseries.json" }
func TimeseriesCSVKey(runID string) string  { return runID + "/timeseries.csv" }
func ReportKey(runID string) string         { return runID + "/report.html" }

// AggregateCheckpointKey holds what the run's aggregation has computed so
// far, for a retry to go on from. Any attempt's copy is a valid one: each
// holds the number of slices it covers.
func AggregateCheckpointKey(runID string) string { return runID + "/aggregate-checkpoint.gob" }

// SliceGPUKey holds the GPUs' power and utilisation over slice k (DCGM
// exporter metrics read from Prometheus).
func SliceGPUKey(runID string, slice int) string {
	return fmt.Sprintf("%s/slices/%05d/gpu.json", runID, slice)
}

// Kinds of the objects under a (slice, replica) prefix.
const (
	KindPart          = "part"
	KindCompact       = "compact"
	KindCompactMarker = "compact-marker"
	KindWAL           = "wal"
)

// ObjectRef names one object of a (slice, replica).
type ObjectRef struct {
	RunID   string
	Slice   int
	Replica int
	Kind    string
	Attempt int
	Part    int // parts only
}

// PartRef is an ObjectRef of kind KindPart.
type PartRef = ObjectRef

// Key is the object's store key.
func (o ObjectRef) Key() string {
	switch o.Kind {
	case KindCompact:
		return CompactKey(o.RunID, o.Slice, o.Replica, o.Attempt)
	case KindCompactMarker:
		return CompactMarkerKey(o.RunID, o.Slice, o.Replica, o.Attempt)
	case KindWAL:
		return WALKey(o.RunID, o.Slice, o.Replica, o.Attempt)
	}
	return PartKey(o.RunID, o.Slice, o.Replica, o.Attempt, o.Part)
}

// Less orders objects by slice, replica, kind, attempt, part.
func (o ObjectRef) Less(q ObjectRef) bool {
	if o.Slice != q.Slice {
		return o.Slice < q.Slice
	}
	if o.Replica != q.Replica {
		return o.Replica < q.Replica
	}
	if o.Kind != q.Kind {
		return o.Kind < q.Kind
	}
	if o.Attempt != q.Attempt {
		return o.Attempt < q.Attempt
	}
	return o.Part < q.Part
}

var errNotSliceObject = errors.New("not a slice object key")

// ParseObjectKey reads a key written by PartKey, CompactKey,
// CompactMarkerKey or WALKey back into its numbers. It accepts only the exact forms
// they write.
func ParseObjectKey(key string) (ObjectRef, error) {
	fail := func() (ObjectRef, error) {
		return ObjectRef{}, fmt.Errorf("results: %q: %w", key, errNotSliceObject)
	}
	segs := strings.Split(key, "/")
	if len(segs) != 5 || segs[1] != "slices" || ValidateRunID(segs[0]) != nil {
		return fail()
	}
	ref := ObjectRef{RunID: segs[0]}
	var numbers []string
	name := segs[4]
	switch {
	case strings.HasPrefix(name, "part-a") && strings.HasSuffix(name, ".jsonl.gz"):
		ref.Kind = KindPart
		a, p, ok := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(name, "part-a"), ".jsonl.gz"), "-")
		if !ok {
			return fail()
		}
		numbers = []string{a, p}
	case strings.HasPrefix(name, "compact-a") && strings.HasSuffix(name, ".jsonl.gz"):
		ref.Kind = KindCompact
		numbers = []string{strings.TrimSuffix(strings.TrimPrefix(name, "compact-a"), ".jsonl.gz")}
	case strings.HasPrefix(name, "compact-a") && strings.HasSuffix(name, ".json"):
		ref.Kind = KindCompactMarker
		numbers = []string{strings.TrimSuffix(strings.TrimPrefix(name, "compact-a"), ".json")}
	case strings.HasPrefix(name, "wal-a") && strings.HasSuffix(name, ".jsonl"):
		ref.Kind = KindWAL
		numbers = []string{strings.TrimSuffix(strings.TrimPrefix(name, "wal-a"), ".jsonl")}
	default:
		return fail()
	}
	var nums []int
	for _, s := range append([]string{segs[2], segs[3]}, numbers...) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return fail()
		}
		nums = append(nums, n)
	}
	ref.Slice, ref.Replica, ref.Attempt = nums[0], nums[1], nums[2]
	if ref.Kind == KindPart {
		ref.Part = nums[3]
	}
	if ref.Key() != key {
		return fail()
	}
	return ref, nil
}
