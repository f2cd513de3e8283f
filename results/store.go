// Package results stores a benchmark run's durable outputs (request, record
// parts, slice summaries, result, report) in S3 or a local directory, with
// one key layout for both, and encodes record parts as gzip'd JSON lines.
package results

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrNotFound is returned (wrapped) by Get and Open when a key has no object.
var ErrNotFound = errors.New("object not found")

// Store holds objects under slash-separated keys relative to its root
// directory. Writing the same key again replaces the object whole, so a
// retried write of the same bytes is harmless.
type Store interface {
	// Put writes body to key.
	Put(ctx context.Context, key string, body []byte) error
	// PutReader writes everything r yields to key; large streams go up in parts.
	PutReader(ctx context.Context, key string, r io.Reader) error
	// Get reads the whole object at key.
	Get(ctx context.Context, key string) ([]byte, error)
	// Open streams the object at key; the caller closes it.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// List returns every key that starts with prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// Exists reports whether key has an object.
	Exists(ctx context.Context, key string) (bool, error)
	// Location names key for humans: s3://bucket/root/key or a file path.
	Location(key string) string
}

// checkKey rejects keys that could escape the root or collide with the local
// store's temporary files.
func checkKey(key string) error {
	if key == "" {
		return errors.New("results: empty key")
	}
	for _, seg := range strings.Split(key, "/") {
		if err := checkSegment(seg); err != nil {
			return fmt.Errorf("results: key %q: %w", key, err)
		}
	}
	return nil
}

func checkSegment(seg string) error {
	switch {
	case seg == "":
		return errors.New("empty path segment")
	case seg == "." || seg == "..":
		return fmt.Errorf("path segment %q", seg)
	case strings.HasPrefix(seg, tempPrefix):
		return fmt.Errorf("segment starts with reserved %q", tempPrefix)
	case strings.ContainsAny(seg, "\\\x00"):
		return errors.New("backslash or NUL in segment")
	}
	return nil
}

// readAll is Get for a store that can Open a key and name its location.
func readAll(ctx context.Context, s interface {
	Open(context.Context, string) (io.ReadCloser, error)
	Location(string) string
}, key string) ([]byte, error) {
	rc, err := s.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	body, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("results: read %s: %w", s.Location(key), err)
	}
	return body, nil
}
