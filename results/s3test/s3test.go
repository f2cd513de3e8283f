// Package s3test runs a real S3-compatible HTTP server (gofakes3, in memory)
// for tests and scripts, so the results store is exercised through the real
// AWS SDK.
package s3test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Fixed test credentials; gofakes3 accepts any.
const (
	AccessKeyID     = "fakes3-access-key"
	SecretAccessKey = "fakes3-secret-key"
	Region          = "us-east-1"
)

// NewHandler returns an in-memory S3 server with the given buckets created.
func NewHandler(buckets ...string) (http.Handler, error) {
	backend := s3mem.New()
	for _, b := range buckets {
		if err := backend.CreateBucket(b); err != nil {
			return nil, fmt.Errorf("s3test: create bucket %q: %w", b, err)
		}
	}
	return gofakes3.New(backend).Server(), nil
}

// Env is the environment that points results.FromEnv at an S3 endpoint
// serving bucket, with path-style addressing and the fixed test credentials.
func Env(endpoint, bucket string) map[string]string {
	return map[string]string{
		"BENCHMARK_RESULTS_BUCKET": bucket,
		"BENCHMARK_S3_ENDPOINT":    endpoint,
		"BENCHMARK_S3_PATH_STYLE":  "true",
		"AWS_REGION":               Region,
		"AWS_ACCESS_KEY_ID":        AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":    SecretAccessKey,
	}
}

// Start serves an in-memory S3 over HTTP, stopped when the test ends, and
// creates bucket through the AWS SDK. It returns the endpoint URL and the
// environment for results.FromEnv (look it up with
// func(k string) string { return env[k] }, or set it with t.Setenv for code
// that reads os.Getenv).
func Start(t testing.TB, bucket string) (endpoint string, env map[string]string) {
	t.Helper()
	h, err := NewHandler()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if err := CreateBucket(context.Background(), srv.URL, bucket); err != nil {
		t.Fatal(err)
	}
	return srv.URL, Env(srv.URL, bucket)
}

// CreateBucket creates bucket on the S3 endpoint with the test credentials.
func CreateBucket(ctx context.Context, endpoint, bucket string) error {
	client := s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
	})
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return fmt.Errorf("s3test: create bucket %q: %w", bucket, err)
	}
	return nil
}
