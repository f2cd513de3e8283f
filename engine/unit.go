package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
)

// fetchConcurrency is how many store reads run at once when a unit's parts
// or a run's units are read: at 30 ms a request, 16 keep a run of 278 units
// under a second of round trips.
const fetchConcurrency = 16

// Compaction is the marker written after a (slice, replica)'s compaction
// object: which parts it holds, and the attempt's client and server figures.
type Compaction struct {
	Attempt int            `json:"attempt"`
	Parts   []string       `json:"parts"` // part keys folded in, in key order
	Client  *ClientStats   `json:"client,omitempty"`
	Server  *ServerMetrics `json:"server,omitempty"`
}

// Compact folds every part stored for (slice, replica), by any attempt,
// into one object (the parts' gzip members concatenated, in key order),
// then writes the marker naming them. Readers then need two objects per
// unit instead of one per part; parts written after it (by an attempt cut
// off from Temporal that still reaches the store) are read beside it.
func Compact(ctx context.Context, store results.Store, runID string, slice, replica, attempt int, client *ClientStats, server *ServerMetrics) error {
	keys, err := store.List(ctx, results.ReplicaPrefix(runID, slice, replica))
	if err != nil {
		return err
	}
	var parts []string
	for _, k := range keys {
		if ref, err := results.ParseObjectKey(k); err == nil && ref.Kind == results.KindPart {
			parts = append(parts, k)
		}
	}
	if len(parts) == 0 {
		return nil
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(results.FetchOrdered(ctx, fetchConcurrency, parts, store.Get, func(_ int, body []byte) error {
			_, err := pw.Write(body)
			return err
		}))
	}()
	err = store.PutReader(ctx, results.CompactKey(runID, slice, replica, attempt), pr)
	pr.CloseWithError(err)
	if err != nil {
		return fmt.Errorf("compact slice %d replica %d: %w", slice, replica, err)
	}
	marker, err := json.Marshal(Compaction{Attempt: attempt, Parts: parts, Client: client, Server: server})
	if err != nil {
		return err
	}
	return store.Put(ctx, results.CompactMarkerKey(runID, slice, replica, attempt), marker)
}

// UnitRecords is what a (slice, replica) holds, read by the rule below.
type UnitRecords struct {
	Slice, Replica int
	Records        []metrics.Record // one per request index, in index order
	Duplicates     int              // further records of an index, dropped
	Compaction     *Compaction      // nil when the unit was never compacted
}

// ReadUnit reads one (slice, replica). Its sources, in read order: the
// compaction of the highest attempt that wrote both its object and its
// marker, then every part that compaction does not hold, in key order
// (attempt, then part); without a compaction, every part in key order.
// Each request index is taken once: a measured record (completed or failed)
// over an interrupted one, and otherwise the first in read order.
func ReadUnit(ctx context.Context, store results.Store, u results.Unit) (*UnitRecords, error) {
	out := &UnitRecords{Slice: u.Slice, Replica: u.Replica}
	has := map[string]bool{}
	for _, o := range u.Objects {
		has[o.Key()] = true
	}
	var sources []string
	for _, o := range slices.Backward(u.Objects) {
		if o.Kind != results.KindCompactMarker || !has[results.CompactKey(o.RunID, o.Slice, o.Replica, o.Attempt)] {
			continue
		}
		b, err := store.Get(ctx, o.Key())
		if err != nil {
			return nil, err
		}
		var m Compaction
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", store.Location(o.Key()), err)
		}
		out.Compaction = &m
		sources = append(sources, results.CompactKey(o.RunID, o.Slice, o.Replica, o.Attempt))
		for _, p := range m.Parts {
			has[p] = false
		}
		break
	}
	for _, o := range u.Objects {
		if o.Kind == results.KindPart && has[o.Key()] {
			sources = append(sources, o.Key())
		}
	}
	at := map[int]int{}
	err := results.FetchOrdered(ctx, fetchConcurrency, sources, store.Get, func(i int, body []byte) error {
		err := results.DecodePart(bytes.NewReader(body), func(r metrics.Record) error {
			j, seen := at[r.Index]
			if !seen {
				at[r.Index] = len(out.Records)
				out.Records = append(out.Records, r)
				return nil
			}
			out.Duplicates++
			if out.Records[j].Status == metrics.StatusInterrupted && r.Status != metrics.StatusInterrupted {
				out.Records[j] = r
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", store.Location(sources[i]), err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out.Records, func(a, b metrics.Record) int { return a.Index - b.Index })
	return out, nil
}

// ReadUnitOf reads one (slice, replica) by its prefix.
func ReadUnitOf(ctx context.Context, store results.Store, runID string, slice, replica int) (*UnitRecords, error) {
	keys, err := store.List(ctx, results.ReplicaPrefix(runID, slice, replica))
	if err != nil {
		return nil, err
	}
	u := results.Unit{Slice: slice, Replica: replica}
	for _, k := range keys {
		if ref, err := results.ParseObjectKey(k); err == nil {
			u.Objects = append(u.Objects, ref)
		}
	}
	slices.SortFunc(u.Objects, func(a, b results.ObjectRef) int {
		if a.Less(b) {
			return -1
		}
		if b.Less(a) {
			return 1
		}
		return 0
	})
	return ReadUnit(ctx, store, u)
}

// ReadRecords streams every record of the run to fn by ReadUnit's rule,
// units in (slice, replica) order.
func ReadRecords(ctx context.Context, store results.Store, runID string, fn func(metrics.Record) error) error {
	units, err := results.ListUnits(ctx, store, runID)
	if err != nil {
		return err
	}
	return results.FetchOrdered(ctx, fetchConcurrency, units, func(ctx context.Context, u results.Unit) (*UnitRecords, error) {
		return ReadUnit(ctx, store, u)
	}, func(_ int, ur *UnitRecords) error {
		for _, r := range ur.Records {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
}
