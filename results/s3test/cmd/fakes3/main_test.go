package main

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/vibench/vllm-inference-benchmark/results"
	"github.com/vibench/vllm-inference-benchmark/results/s3test"
)

func TestServeCreatesBucketsAndStops(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, []string{"one", "two"}) }()

	endpoint := "http://" + ln.Addr().String()
	for _, bucket := range []string{"one", "two"} {
		env := s3test.Env(endpoint, bucket)
		s, err := results.FromEnv(context.Background(), func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Put(context.Background(), "r/request.json", []byte(bucket)); err != nil {
			t.Fatalf("put to bucket %s: %v", bucket, err)
		}
		if got, err := s.Get(context.Background(), "r/request.json"); err != nil || string(got) != bucket {
			t.Fatalf("get from bucket %s: %q, %v", bucket, got, err)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatal("still accepting connections after shutdown")
	}
}
