package results

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	gojson "github.com/goccy/go-json"
	"io"
	"sort"

	"github.com/vibench/vllm-inference-benchmark/metrics"
)

// MaxPartLine bounds one encoded record when decoding, so a corrupt part
// cannot make DecodePart buffer without limit.
const MaxPartLine = 64 << 20

// EncodePart encodes records as gzip'd JSON lines, one record per line. The
// same records always give the same bytes: the gzip header carries no name
// and no modification time.
func EncodePart(records []metrics.Record) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	// BestSpeed: parts are flushed during the run, on the load generator's CPU;
	// it costs about 13% more bytes than the default level.
	zw.Header = gzip.Header{OS: 255} // 255: unknown OS, as Go writes by default
	enc := json.NewEncoder(zw)
	enc.SetEscapeHTML(false)
	for i := range records {
		if err := enc.Encode(&records[i]); err != nil {
			return nil, fmt.Errorf("results: encode record %d (%s): %w", i, records[i].RequestID, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DecodePart streams the records of an encoded part to fn, one line at a
// time. Concatenated parts (a compaction) decode as one stream. Corrupt input fails with an error that names the line; fn's error is
// returned as it is.
func DecodePart(r io.Reader, fn func(metrics.Record) error) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("results: part is not gzip: %w", err)
	}
	defer zr.Close()
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 0, 64<<10), MaxPartLine)
	line := 0
	for sc.Scan() {
		line++
		var rec metrics.Record
		// go-json decodes the same records as encoding/json about twice as
		// fast: the ITL arrays' floats are most of an aggregation's time.
		if err := gojson.Unmarshal(sc.Bytes(), &rec); err != nil {
			return fmt.Errorf("results: part line %d: %w", line, err)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("results: part line %d: %w", line+1, err)
	}
	return nil
}

// Unit is everything stored for one (slice, replica), objects in
// ObjectRef.Less order.
type Unit struct {
	Slice, Replica int
	Objects        []ObjectRef
}

// ListUnits lists the run's slice objects once and groups them by (slice,
// replica), in that order.
func ListUnits(ctx context.Context, store Store, runID string) ([]Unit, error) {
	if err := ValidateRunID(runID); err != nil {
		return nil, err
	}
	keys, err := store.List(ctx, SlicesPrefix(runID))
	if err != nil {
		return nil, err
	}
	var refs []ObjectRef
	for _, key := range keys {
		if ref, err := ParseObjectKey(key); err == nil { // gpu.json is no unit's
			refs = append(refs, ref)
		}
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].Less(refs[j]) })
	var units []Unit
	for _, ref := range refs {
		if n := len(units); n == 0 || units[n-1].Slice != ref.Slice || units[n-1].Replica != ref.Replica {
			units = append(units, Unit{Slice: ref.Slice, Replica: ref.Replica})
		}
		units[len(units)-1].Objects = append(units[len(units)-1].Objects, ref)
	}
	return units, nil
}

// ReadParts streams every record of every part of the run to fn, as
// stored: parts in (slice, replica, attempt, part) order, compactions
// skipped, nothing deduplicated.
func ReadParts(ctx context.Context, store Store, runID string, fn func(metrics.Record) error) error {
	units, err := ListUnits(ctx, store, runID)
	if err != nil {
		return err
	}
	for _, u := range units {
		for _, o := range u.Objects {
			if o.Kind != KindPart {
				continue
			}
			if err := readPart(ctx, store, o.Key(), fn); err != nil {
				return err
			}
		}
	}
	return nil
}

func readPart(ctx context.Context, store Store, key string, fn func(metrics.Record) error) error {
	rc, err := store.Open(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := DecodePart(rc, fn); err != nil {
		return fmt.Errorf("%s: %w", store.Location(key), err)
	}
	return nil
}
