package results_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"

	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
	"github.com/vibench/vllm-inference-benchmark/results/s3test"
)

// A part as the recorder flushes it: a few thousand records.
const benchPartRecords = 2000

func BenchmarkEncodePart(b *testing.B) {
	recs := makeRecords(benchPartRecords, 1)
	var enc []byte
	for b.Loop() {
		var err error
		if enc, err = results.EncodePart(recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchPartRecords)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(len(enc))/benchPartRecords, "gz-bytes/record")
}

func BenchmarkDecodePart(b *testing.B) {
	enc, _ := results.EncodePart(makeRecords(benchPartRecords, 1))
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if err := results.DecodePart(bytes.NewReader(enc), func(metrics.Record) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchPartRecords)/b.Elapsed().Seconds(), "records/s")
}

func benchPut(b *testing.B, s results.Store, body []byte) {
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	i := 0
	for b.Loop() {
		if err := s.Put(ctx, results.PartKey("bench", 0, 0, 1, i), body); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func s3Bench(b *testing.B) results.Store {
	_, env := s3test.Start(b, "bench")
	s, err := results.FromEnv(context.Background(), getenvFrom(env))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkS3PutPart(b *testing.B) {
	enc, _ := results.EncodePart(makeRecords(benchPartRecords, 1))
	benchPut(b, s3Bench(b), enc)
}

func BenchmarkLocalPutPart(b *testing.B) {
	s, err := results.NewLocal(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	enc, _ := results.EncodePart(makeRecords(benchPartRecords, 1))
	benchPut(b, s, enc)
}

// 32 MiB through the transfer manager: four 8 MiB parts.
func BenchmarkS3PutMultipart(b *testing.B) {
	body := make([]byte, 32<<20)
	rand.Read(body)
	s := s3Bench(b)
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := s.PutReader(ctx, "bench/big.bin", bytes.NewReader(body)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkS3GetPart(b *testing.B) {
	s := s3Bench(b)
	enc, _ := results.EncodePart(makeRecords(benchPartRecords, 1))
	ctx := context.Background()
	if err := s.Put(ctx, "bench/part.jsonl.gz", enc); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := s.Get(ctx, "bench/part.jsonl.gz"); err != nil {
			b.Fatal(err)
		}
	}
}
