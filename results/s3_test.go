package results_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
	"github.com/vibench/vllm-inference-benchmark/results/s3test"
)

func getenvFrom(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func TestS3StoreContract(t *testing.T) {
	_, env := s3test.Start(t, "bench")
	s, err := results.FromEnv(context.Background(), getenvFrom(env))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*results.S3Store); !ok {
		t.Fatalf("FromEnv with a bucket gave %T", s)
	}
	testStoreContract(t, s)
}

func TestS3StoreUnderRootDirectory(t *testing.T) {
	_, env := s3test.Start(t, "bench")
	env["BENCHMARK_RESULTS_DIRECTORY"] = "/team/runs/"
	s, err := results.FromEnv(context.Background(), getenvFrom(env))
	if err != nil {
		t.Fatal(err)
	}
	key := results.PartKey("run-1", 17, 1, 1, 3)
	if got, want := s.Location(key), "s3://bench/team/runs/run-1/slices/00017/001/part-a001-000003.jsonl.gz"; got != want {
		t.Fatalf("Location = %q, want %q", got, want)
	}
	testStoreContract(t, s)

	// The same bucket seen without the root holds the objects under it.
	delete(env, "BENCHMARK_RESULTS_DIRECTORY")
	top, err := results.FromEnv(context.Background(), getenvFrom(env))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := top.Exists(context.Background(), "team/runs/run/request.json"); !ok || err != nil {
		t.Fatalf("object not under the root prefix: %v, %v", ok, err)
	}
}

// countingServer serves gofakes3 and counts ListObjectsV2 and UploadPart calls.
type countingServer struct {
	lists, uploadParts atomic.Int64
}

func (c *countingServer) start(t *testing.T, bucket string) map[string]string {
	h, err := s3test.NewHandler(bucket)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.Method == http.MethodGet && q.Get("list-type") == "2" {
			c.lists.Add(1)
		}
		if r.Method == http.MethodPut && q.Has("partNumber") && q.Has("uploadId") {
			c.uploadParts.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return s3test.Env(srv.URL, bucket)
}

func TestS3ListPagesPastOneThousandKeys(t *testing.T) {
	var srv countingServer
	env := srv.start(t, "bench")
	s, err := results.FromEnv(context.Background(), getenvFrom(env))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const n = 1234
	for i := range n {
		if err := s.Put(ctx, results.PartKey("big", i/100, i%3, 1, i), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	s.Put(ctx, results.RequestKey("big"), []byte("{}"))
	keys, err := s.List(ctx, results.SlicesPrefix("big"))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != n {
		t.Fatalf("List returned %d keys, want %d", len(keys), n)
	}
	if srv.lists.Load() < 2 {
		t.Fatalf("%d ListObjectsV2 calls, want at least 2 pages", srv.lists.Load())
	}
	units, err := results.ListUnits(ctx, s, "big")
	if err != nil {
		t.Fatal(err)
	}
	var refs []results.ObjectRef
	for _, u := range units {
		refs = append(refs, u.Objects...)
	}
	if len(refs) != n {
		t.Fatalf("ListUnits: %d objects, want %d", len(refs), n)
	}
	for i := 1; i < len(refs); i++ {
		if !refs[i-1].Less(refs[i]) {
			t.Fatalf("parts out of order at %d: %+v then %+v", i, refs[i-1], refs[i])
		}
	}
}

func TestS3MultipartUpload(t *testing.T) {
	var srv countingServer
	env := srv.start(t, "bench")
	ctx := context.Background()
	s, err := results.NewS3(ctx, results.S3Config{
		Bucket:             env["BENCHMARK_RESULTS_BUCKET"],
		Endpoint:           env["BENCHMARK_S3_ENDPOINT"],
		PathStyle:          true,
		PartSize:           5 << 20,
		MultipartThreshold: 5 << 20,
		Credentials:        staticCreds(),
	})
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 11<<20+123) // three parts: 5 MiB, 5 MiB, the rest
	rand.Read(body)

	// A stream of unknown length.
	if err := s.PutReader(ctx, "mp/stream.bin", io.MultiReader(bytes.NewReader(body))); err != nil {
		t.Fatal(err)
	}
	if got := srv.uploadParts.Load(); got != 3 {
		t.Fatalf("%d UploadPart calls, want 3", got)
	}
	// A file (seekable, known length).
	path := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := s.PutReader(ctx, "mp/file.bin", f); err != nil {
		t.Fatal(err)
	}
	if got := srv.uploadParts.Load(); got != 6 {
		t.Fatalf("%d UploadPart calls after the file, want 6", got)
	}
	for _, key := range []string{"mp/stream.bin", "mp/file.bin"} {
		got, err := s.Get(ctx, key)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("Get %s: %d bytes, %v; want %d identical bytes", key, len(got), err, len(body))
		}
	}
	// Under the threshold a single PutObject is used.
	if err := s.Put(ctx, "mp/small.bin", body[:1<<20]); err != nil {
		t.Fatal(err)
	}
	if got := srv.uploadParts.Load(); got != 6 {
		t.Fatalf("small object went up in parts (%d UploadPart calls)", got)
	}
}

func TestS3ReadParts(t *testing.T) {
	_, env := s3test.Start(t, "bench")
	ctx := context.Background()
	s, err := results.FromEnv(ctx, getenvFrom(env))
	if err != nil {
		t.Fatal(err)
	}
	recs := makeRecords(1000, 5)
	for i := 0; i < len(recs); i += 250 {
		enc, err := results.EncodePart(recs[i : i+250])
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, results.PartKey("run", i/500, 0, 1, i/250%2), enc); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	err = results.ReadParts(ctx, s, "run", func(r metrics.Record) error {
		if r.Index != n {
			return fmt.Errorf("record %d arrived at position %d", r.Index, n)
		}
		n++
		return nil
	})
	if err != nil || n != len(recs) {
		t.Fatalf("ReadParts: %d records, %v", n, err)
	}
}

func TestFromEnvS3Settings(t *testing.T) {
	ctx := context.Background()
	env := map[string]string{"BENCHMARK_RESULTS_BUCKET": "b"}
	s, err := results.FromEnv(ctx, getenvFrom(env))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Location("r/result.json"); got != "s3://b/r/result.json" {
		t.Fatalf("Location = %q", got)
	}
	env["BENCHMARK_S3_PATH_STYLE"] = "maybe"
	if _, err := results.FromEnv(ctx, getenvFrom(env)); err == nil {
		t.Fatal("accepted BENCHMARK_S3_PATH_STYLE=maybe")
	}
	delete(env, "BENCHMARK_S3_PATH_STYLE")
	env["AWS_MAX_ATTEMPTS"] = "0"
	if _, err := results.FromEnv(ctx, getenvFrom(env)); err == nil {
		t.Fatal("accepted AWS_MAX_ATTEMPTS=0")
	}
}

// The SDK's standard endpoint variables reach the store too.
func TestFromEnvStandardEndpointVariable(t *testing.T) {
	endpoint, env := s3test.Start(t, "bench")
	delete(env, "BENCHMARK_S3_ENDPOINT")
	delete(env, "BENCHMARK_S3_PATH_STYLE") // path style follows from a custom endpoint
	env["AWS_ENDPOINT_URL_S3"] = endpoint
	env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1" // lower precedence
	s, err := results.FromEnv(context.Background(), getenvFrom(env))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), "r/request.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
}

func TestS3ErrorsCarryNoSecret(t *testing.T) {
	const secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYSECRETKEY"
	const keyID = "AKIASECRETIDENTIFIER"
	ctx := context.Background()
	endpoint, env := s3test.Start(t, "bench")
	env["AWS_SECRET_ACCESS_KEY"] = secret
	env["AWS_ACCESS_KEY_ID"] = keyID
	env["AWS_SESSION_TOKEN"] = secret + "-token"
	env["AWS_MAX_ATTEMPTS"] = "1"

	var errs []error
	var locations []string
	// Only a missing key in an existing bucket is ErrNotFound; a missing
	// bucket or an unreachable endpoint is a configuration error.
	check := func(env map[string]string, wantNotFound bool) {
		s, err := results.FromEnv(ctx, getenvFrom(env))
		if err != nil {
			errs = append(errs, err)
			return
		}
		locations = append(locations, s.Location("r/result.json"))
		_, err = s.Get(ctx, "r/missing.json")
		if errors.Is(err, results.ErrNotFound) != wantNotFound {
			t.Errorf("Get missing: %v; want ErrNotFound: %v", err, wantNotFound)
		}
		errs = append(errs, err)
		_, err = s.Open(ctx, "../bad")
		errs = append(errs, err)
		errs = append(errs, s.Put(ctx, "r/x.json", []byte("{}")))
		_, err = s.List(ctx, "r/")
		errs = append(errs, err)
		errs = append(errs, results.ReadParts(ctx, s, "r", func(metrics.Record) error { return nil }))
	}
	check(env, true)
	env["BENCHMARK_RESULTS_BUCKET"] = "no-such-bucket"
	check(env, false)
	env["BENCHMARK_S3_ENDPOINT"] = "http://127.0.0.1:1" // nothing listens there
	check(env, false)
	env["BENCHMARK_S3_ENDPOINT"] = endpoint
	env["BENCHMARK_S3_PATH_STYLE"] = "not-a-bool"
	check(env, false)

	var failures int
	for _, err := range errs {
		if err == nil {
			continue
		}
		failures++
		for _, s := range []string{secret, keyID} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error reveals a credential: %v", err)
			}
		}
	}
	if failures < 10 {
		t.Fatalf("only %d operations failed; the test must exercise failures", failures)
	}
	for _, loc := range locations {
		if strings.Contains(loc, secret) || strings.Contains(loc, keyID) {
			t.Errorf("Location reveals a credential: %q", loc)
		}
	}
}
