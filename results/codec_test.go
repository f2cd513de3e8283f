package results_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
)

func decodeAll(t *testing.T, b []byte) []metrics.Record {
	t.Helper()
	var got []metrics.Record
	if err := results.DecodePart(bytes.NewReader(b), func(r metrics.Record) error {
		got = append(got, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestPartRoundTrip(t *testing.T) {
	recs := makeRecords(500, 1)
	enc, err := results.EncodePart(recs)
	if err != nil {
		t.Fatal(err)
	}
	got := decodeAll(t, enc)
	if !reflect.DeepEqual(got, recs) {
		for i := range recs {
			if !reflect.DeepEqual(got[i], recs[i]) {
				t.Fatalf("record %d:\n got %+v\nwant %+v", i, got[i], recs[i])
			}
		}
		t.Fatalf("decoded %d records, want %d", len(got), len(recs))
	}
	// The plain content is one JSON object per line.
	zr, err := gzip.NewReader(bytes.NewReader(enc))
	if err != nil {
		t.Fatal(err)
	}
	var plain bytes.Buffer
	plain.ReadFrom(zr)
	if n := strings.Count(plain.String(), "\n"); n != len(recs) {
		t.Fatalf("%d lines, want %d", n, len(recs))
	}
	if zr.Header.Name != "" || !zr.Header.ModTime.IsZero() {
		t.Fatalf("gzip header carries name %q / mtime %v", zr.Header.Name, zr.Header.ModTime)
	}
}

func TestPartEmpty(t *testing.T) {
	enc, err := results.EncodePart(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeAll(t, enc); len(got) != 0 {
		t.Fatalf("decoded %d records from an empty part", len(got))
	}
}

func TestPartDeterministic(t *testing.T) {
	a, err := results.EncodePart(makeRecords(300, 7))
	if err != nil {
		t.Fatal(err)
	}
	b, err := results.EncodePart(makeRecords(300, 7))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("same records encoded to different bytes")
	}
	c, _ := results.EncodePart(makeRecords(300, 8))
	if bytes.Equal(a, c) {
		t.Fatal("different records encoded to the same bytes")
	}
}

func TestEncodePartRejectsNaN(t *testing.T) {
	recs := makeRecords(3, 1)
	recs[1].TTFT = math.NaN()
	if _, err := results.EncodePart(recs); err == nil || !strings.Contains(err.Error(), "req-1") {
		t.Fatalf("err = %v, want one naming req-1", err)
	}
}

func gzipLines(lines ...string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	for _, l := range lines {
		fmt.Fprintln(zw, l)
	}
	zw.Close()
	return buf.Bytes()
}

func TestDecodePartCorrupt(t *testing.T) {
	good, _ := results.EncodePart(makeRecords(50, 3))
	flipped := bytes.Clone(good)
	flipped[len(flipped)-6] ^= 0xff // inside the CRC-32 trailer
	cases := []struct {
		name  string
		input []byte
		want  string
	}{
		{"not gzip", []byte("{\"request_id\":\"x\"}\n"), "not gzip"},
		{"empty", nil, "not gzip"},
		{"bad json line", gzipLines(`{"request_id":"a"}`, `{"request_id":"b"}`, `{"request_id":`), "line 3"},
		{"wrong type", gzipLines(`{"request_id":"a"}`, `{"prompt_len":"ten"}`), "line 2"},
		{"truncated", good[:len(good)/2], "line"},
		{"bad checksum", flipped, "checksum"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := results.DecodePart(bytes.NewReader(c.input), func(metrics.Record) error { return nil })
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestDecodePartStopsOnCallbackError(t *testing.T) {
	enc, _ := results.EncodePart(makeRecords(10, 1))
	stop := errors.New("stop")
	n := 0
	err := results.DecodePart(bytes.NewReader(enc), func(metrics.Record) error {
		n++
		if n == 4 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 4 {
		t.Fatalf("err = %v after %d records", err, n)
	}
}

// ReadParts visits parts in (slice, replica, part) order, whatever order they
// were written in, and skips compactions, other objects and other runs.
func TestReadParts(t *testing.T) {
	s, _ := newLocal(t)
	ctx := context.Background()
	type part struct{ slice, replica, part int }
	written := []part{{10, 0, 0}, {2, 1, 0}, {2, 0, 11}, {2, 0, 2}, {0, 0, 0}}
	var want []string
	for _, p := range []part{{0, 0, 0}, {2, 0, 2}, {2, 0, 11}, {2, 1, 0}, {10, 0, 0}} {
		for i := range 3 {
			want = append(want, fmt.Sprintf("%d/%d/%d/%d", p.slice, p.replica, p.part, i))
		}
	}
	for _, p := range written {
		recs := make([]metrics.Record, 3)
		for i := range recs {
			recs[i].RequestID = fmt.Sprintf("%d/%d/%d/%d", p.slice, p.replica, p.part, i)
		}
		enc, err := results.EncodePart(recs)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, results.PartKey("run", p.slice, p.replica, 1, p.part), enc); err != nil {
			t.Fatal(err)
		}
	}
	other, _ := results.EncodePart([]metrics.Record{{RequestID: "other run"}})
	s.Put(ctx, results.PartKey("run2", 0, 0, 1, 0), other)
	s.Put(ctx, results.SliceGPUKey("run", 2), []byte(`{"gpu_power_avg_w":300}`))
	s.Put(ctx, results.CompactKey("run", 2, 0, 1), []byte("a compaction is not a part"))

	var got []string
	if err := results.ReadParts(ctx, s, "run", func(r metrics.Record) error {
		got = append(got, r.RequestID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ReadParts order\n got %v\nwant %v", got, want)
	}

	units, err := results.ListUnits(ctx, s, "run")
	if err != nil || len(units) != 4 || units[1].Slice != 2 || units[1].Replica != 0 || len(units[1].Objects) != 3 ||
		units[1].Objects[2] != (results.ObjectRef{RunID: "run", Slice: 2, Replica: 0, Kind: results.KindPart, Attempt: 1, Part: 11}) {
		t.Fatalf("ListUnits = %+v, %v", units, err)
	}

	// A corrupt part is named in the error.
	bad := results.PartKey("run", 2, 1, 1, 0)
	s.Put(ctx, bad, []byte("garbage"))
	err = results.ReadParts(ctx, s, "run", func(metrics.Record) error { return nil })
	if err == nil || !strings.Contains(err.Error(), s.Location(bad)) {
		t.Fatalf("err = %v, want one naming %s", err, s.Location(bad))
	}
}
