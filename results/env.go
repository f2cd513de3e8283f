package results

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Environment variables that FromEnv reads.
const (
	EnvBucket        = "BENCHMARK_RESULTS_BUCKET"
	EnvDirectory     = "BENCHMARK_RESULTS_DIRECTORY"
	EnvS3Endpoint    = "BENCHMARK_S3_ENDPOINT"
	EnvS3PathStyle   = "BENCHMARK_S3_PATH_STYLE"
	DefaultLocalRoot = "./results"
)

// FromEnv picks the store the environment describes: S3 when
// BENCHMARK_RESULTS_BUCKET is set, else a local directory.
//
// S3: root prefix BENCHMARK_RESULTS_DIRECTORY; endpoint BENCHMARK_S3_ENDPOINT,
// AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL; path-style addressing when
// BENCHMARK_S3_PATH_STYLE is true, or by default with a custom endpoint;
// region AWS_REGION (default us-east-1); retries AWS_MAX_ATTEMPTS. Keys from
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN when getenv
// has them, else the SDK's default credential chain.
//
// Local: root BENCHMARK_RESULTS_DIRECTORY, default ./results.
func FromEnv(ctx context.Context, getenv func(string) string) (Store, error) {
	bucket := getenv(EnvBucket)
	if bucket == "" {
		dir := getenv(EnvDirectory)
		if dir == "" {
			dir = DefaultLocalRoot
		}
		return NewLocal(dir)
	}

	cfg := S3Config{
		Bucket:   bucket,
		Root:     getenv(EnvDirectory),
		Region:   getenv("AWS_REGION"),
		Endpoint: firstSet(getenv, EnvS3Endpoint, "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
	}
	cfg.PathStyle = cfg.Endpoint != ""
	if v := getenv(EnvS3PathStyle); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("results: %s=%q is not a boolean", EnvS3PathStyle, v)
		}
		cfg.PathStyle = b
	}
	if v := getenv("AWS_MAX_ATTEMPTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("results: AWS_MAX_ATTEMPTS=%q is not a positive integer", v)
		}
		cfg.MaxAttempts = n
	}
	if id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
		cfg.Credentials = credentials.NewStaticCredentialsProvider(id, secret, getenv("AWS_SESSION_TOKEN"))
	}
	return NewS3(ctx, cfg)
}

func firstSet(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if v := getenv(n); v != "" {
			return v
		}
	}
	return ""
}
