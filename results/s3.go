package results

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Defaults for S3Config's zero values.
const (
	DefaultRegion             = "us-east-1"
	DefaultMaxAttempts        = 5
	DefaultPartSize           = 8 << 20
	DefaultMultipartThreshold = 16 << 20
	minPartSize               = 5 << 20 // S3's smallest part but the last
)

// S3Config says where an S3Store keeps its objects and how it reaches them.
// Credentials are never part of it: they come from the SDK's default chain
// unless Credentials is set.
type S3Config struct {
	Bucket string
	// Root is the key prefix inside the bucket that store keys are relative
	// to ("" is the bucket's top).
	Root   string
	Region string // default DefaultRegion
	// Endpoint is a custom S3-compatible endpoint URL (MinIO, ...); "" means AWS.
	Endpoint  string
	PathStyle bool
	// MaxAttempts bounds the SDK's standard retryer per request (default
	// DefaultMaxAttempts; 1 disables retries).
	MaxAttempts int
	// PartSize and MultipartThreshold drive the transfer manager: streams of
	// at least MultipartThreshold bytes go up in PartSize parts.
	PartSize           int64
	MultipartThreshold int64
	Credentials        aws.CredentialsProvider
}

// S3Store keeps objects in an S3 bucket (or an S3-compatible store).
type S3Store struct {
	client   *s3.Client
	uploader *transfermanager.Client
	bucket   string
	root     string // "" or a key prefix without leading/trailing slash
}

// NewS3 builds the client from the SDK's default configuration chain plus cfg.
func NewS3(ctx context.Context, cfg S3Config) (*S3Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("results: empty S3 bucket")
	}
	root := cleanRoot(cfg.Root)
	if root != "" {
		if err := checkKey(root); err != nil {
			return nil, fmt.Errorf("results: S3 root: %w", err)
		}
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.MultipartThreshold == 0 {
		cfg.MultipartThreshold = DefaultMultipartThreshold
	}
	if cfg.PartSize < minPartSize {
		return nil, fmt.Errorf("results: S3 part size %d is under S3's minimum %d", cfg.PartSize, minPartSize)
	}

	opts := []func(*config.LoadOptions) error{
		config.WithRegion(cfg.Region),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = cfg.MaxAttempts })
		}),
	}
	if cfg.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(cfg.Credentials))
	}
	// Many S3-compatible stores reject the checksums that the SDK now adds to
	// every request by default; send them only where an operation requires.
	checksums := aws.RequestChecksumCalculationWhenSupported
	if cfg.Endpoint != "" {
		checksums = aws.RequestChecksumCalculationWhenRequired
		opts = append(opts,
			config.WithRequestChecksumCalculation(checksums),
			config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("results: load AWS configuration: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
	})
	uploader := transfermanager.New(client, func(o *transfermanager.Options) {
		o.PartSizeBytes = cfg.PartSize
		o.MultipartUploadThreshold = cfg.MultipartThreshold
		o.RequestChecksumCalculation = checksums
		o.FailTimeout = 30 * time.Second // time to abort a failed multipart upload after ctx ends
	})
	return &S3Store{client: client, uploader: uploader, bucket: cfg.Bucket, root: root}, nil
}

func cleanRoot(dir string) string {
	return strings.Trim(path.Clean("/"+dir), "/")
}

func (s *S3Store) objectKey(key string) string {
	if s.root == "" {
		return key
	}
	return s.root + "/" + key
}

// Location is s3://bucket/root/key.
func (s *S3Store) Location(key string) string {
	return "s3://" + s.bucket + "/" + s.objectKey(key)
}

func (s *S3Store) Put(ctx context.Context, key string, body []byte) error {
	return s.PutReader(ctx, key, bytes.NewReader(body))
}

// PutReader sends r in one PutObject when it is under the multipart
// threshold, else as a multipart upload that is aborted on failure.
func (s *S3Store) PutReader(ctx context.Context, key string, r io.Reader) error {
	if err := checkKey(key); err != nil {
		return err
	}
	in := &transfermanager.UploadObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.objectKey(key)),
		Body:   r,
	}
	if ct := contentType(key); ct != "" {
		in.ContentType = aws.String(ct)
	}
	if _, err := s.uploader.UploadObject(ctx, in); err != nil {
		return fmt.Errorf("results: put %s: %w", s.Location(key), err)
	}
	return nil
}

func (s *S3Store) Get(ctx context.Context, key string) ([]byte, error) {
	return readAll(ctx, s, key)
}

func (s *S3Store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.objectKey(key)),
	})
	if err != nil {
		return nil, s.wrap("get", key, err)
	}
	return out.Body, nil
}

func (s *S3Store) Exists(ctx context.Context, key string) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	_, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.objectKey(key)),
	})
	if err == nil {
		return true, nil
	}
	if err = s.wrap("head", key, err); errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return false, err
}

func (s *S3Store) List(ctx context.Context, prefix string) ([]string, error) {
	full := s.objectKey(prefix)
	if s.root != "" && prefix == "" {
		full = s.root + "/"
	}
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(full),
	})
	var keys []string
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("results: list %s: %w", s.Location(prefix), err)
		}
		for _, obj := range page.Contents {
			key := aws.ToString(obj.Key)
			if s.root != "" {
				key = strings.TrimPrefix(key, s.root+"/")
			}
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	return keys, nil
}

// wrap names the object in err and turns S3's "no such key" into ErrNotFound.
func (s *S3Store) wrap(op, key string, err error) error {
	var noSuchKey *types.NoSuchKey
	var notFound *types.NotFound
	var apiErr smithy.APIError
	if errors.As(err, &noSuchKey) || errors.As(err, &notFound) ||
		(errors.As(err, &apiErr) && (apiErr.ErrorCode() == "NoSuchKey" || apiErr.ErrorCode() == "NotFound")) {
		return fmt.Errorf("results: %s: %w", s.Location(key), ErrNotFound)
	}
	return fmt.Errorf("results: %s %s: %w", op, s.Location(key), err)
}

// contentType lets browsers and consoles show report.html and friends.
func contentType(key string) string {
	switch path.Ext(key) {
	case ".json":
		return "application/json"
	case ".html":
		return "text/html; charset=utf-8"
	case ".csv":
		return "text/csv; charset=utf-8"
	case ".txt":
		return "text/plain; charset=utf-8"
	case ".gz":
		return "application/gzip"
	}
	return ""
}
