package results_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/vibench/vllm-inference-benchmark/results"
)

// failingReader yields some bytes, then an error, as a crashing producer would.
type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("producer died")
	}
	n := min(len(p), r.n)
	for i := range n {
		p[i] = 'x'
	}
	r.n -= n
	return n, nil
}

// testStoreContract checks the behaviour every Store shares.
func testStoreContract(t *testing.T, s results.Store) {
	ctx := context.Background()

	t.Run("NotFound", func(t *testing.T) {
		if _, err := s.Get(ctx, "none/x.json"); !errors.Is(err, results.ErrNotFound) {
			t.Fatalf("Get missing: %v, want ErrNotFound", err)
		}
		if _, err := s.Open(ctx, "none/x.json"); !errors.Is(err, results.ErrNotFound) {
			t.Fatalf("Open missing: %v, want ErrNotFound", err)
		}
		if ok, err := s.Exists(ctx, "none/x.json"); ok || err != nil {
			t.Fatalf("Exists missing = %v, %v", ok, err)
		}
		keys, err := s.List(ctx, "none/")
		if err != nil || len(keys) != 0 {
			t.Fatalf("List empty prefix = %v, %v", keys, err)
		}
	})

	t.Run("PutGetOpenExists", func(t *testing.T) {
		body := []byte(`{"a":1}` + "\n")
		if err := s.Put(ctx, "run/request.json", body); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "run/request.json")
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("Get = %q, %v; want %q", got, err, body)
		}
		rc, err := s.Open(ctx, "run/request.json")
		if err != nil {
			t.Fatal(err)
		}
		streamed, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(streamed, body) {
			t.Fatalf("Open read %q, %v", streamed, err)
		}
		if ok, err := s.Exists(ctx, "run/request.json"); !ok || err != nil {
			t.Fatalf("Exists = %v, %v", ok, err)
		}
		// A directory-like prefix is not an object.
		if ok, _ := s.Exists(ctx, "run"); ok {
			t.Fatal("Exists(run) = true for a prefix")
		}
		if err := s.Put(ctx, "run/empty.txt", nil); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Get(ctx, "run/empty.txt"); err != nil || len(got) != 0 {
			t.Fatalf("empty object = %q, %v", got, err)
		}
	})

	t.Run("IdempotentPut", func(t *testing.T) {
		key := results.PartKey("idem", 3, 1, 1, 7)
		body := []byte("same bytes")
		for range 3 {
			if err := s.Put(ctx, key, body); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Get(ctx, key)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("Get = %q, %v", got, err)
		}
		keys, err := s.List(ctx, "idem/")
		if err != nil || !slices.Equal(keys, []string{key}) {
			t.Fatalf("List = %v, %v", keys, err)
		}
	})

	t.Run("FailedWriteKeepsOldObject", func(t *testing.T) {
		if err := s.Put(ctx, "fail/result.json", []byte("old")); err != nil {
			t.Fatal(err)
		}
		if err := s.PutReader(ctx, "fail/result.json", &failingReader{n: 1 << 20}); err == nil {
			t.Fatal("PutReader with a failing reader succeeded")
		}
		if err := s.PutReader(ctx, "fail/new.json", &failingReader{n: 100}); err == nil {
			t.Fatal("PutReader with a failing reader succeeded")
		}
		if got, err := s.Get(ctx, "fail/result.json"); err != nil || string(got) != "old" {
			t.Fatalf("after failed overwrite Get = %q, %v; want old", got, err)
		}
		if _, err := s.Get(ctx, "fail/new.json"); !errors.Is(err, results.ErrNotFound) {
			t.Fatalf("failed new write left an object: %v", err)
		}
		keys, err := s.List(ctx, "fail/")
		if err != nil || !slices.Equal(keys, []string{"fail/result.json"}) {
			t.Fatalf("List = %v, %v", keys, err)
		}
	})

	t.Run("List", func(t *testing.T) {
		want := []string{
			"ls/a.json",
			"ls/slices/00001/000/part-000000.jsonl.gz",
			"ls/slices/00001/000/part-000001.jsonl.gz",
			"ls/slices/00001/summary.json",
			"ls2/x.json",
			"lsz/deep/er/y.csv",
		}
		for _, k := range slices.Backward(want) {
			if err := s.Put(ctx, k, []byte(k)); err != nil {
				t.Fatal(err)
			}
		}
		check := func(prefix string, want []string) {
			t.Helper()
			got, err := s.List(ctx, prefix)
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("List(%q) = %v, %v; want %v", prefix, got, err, want)
			}
		}
		check("ls/", want[:4])
		check("ls", want)
		check("ls/slices/00001/0", want[1:3])
		check("lsz/deep/", want[5:])
		all, err := s.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range want {
			if !slices.Contains(all, k) {
				t.Fatalf("List(\"\") lacks %q: %v", k, all)
			}
		}
		if !slices.IsSorted(all) {
			t.Fatalf("List(\"\") not sorted: %v", all)
		}
	})

	t.Run("BadKeys", func(t *testing.T) {
		for _, key := range []string{"", "/abs", "a//b", "../x", "a/../../x", "a/./b", "a/", "a/.tmp-1"} {
			if err := s.Put(ctx, key, []byte("x")); err == nil {
				t.Errorf("Put(%q) accepted", key)
			}
			if _, err := s.Get(ctx, key); err == nil || errors.Is(err, results.ErrNotFound) {
				t.Errorf("Get(%q) = %v, want a key error", key, err)
			}
		}
	})
}
