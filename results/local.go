package results

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// tempPrefix starts the names of the local store's in-progress files; keys
// may not use it, and List never shows such files.
const tempPrefix = ".tmp-"

// LocalStore keeps objects as files under a root directory, one file per key.
type LocalStore struct {
	root string // absolute
}

// NewLocal returns a store rooted at dir (created on first write).
func NewLocal(dir string) (*LocalStore, error) {
	if dir == "" {
		return nil, errors.New("results: empty local directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("results: local directory %q: %w", dir, err)
	}
	return &LocalStore{root: abs}, nil
}

// Root is the store's absolute root directory.
func (s *LocalStore) Root() string { return s.root }

func (s *LocalStore) path(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

// Location is the object's file path.
func (s *LocalStore) Location(key string) string { return s.path(key) }

func (s *LocalStore) Put(ctx context.Context, key string, body []byte) error {
	return s.PutReader(ctx, key, bytes.NewReader(body))
}

// PutReader writes to a temporary file beside the target, syncs it and
// renames it into place, so readers see the old object or the whole new one,
// never a partial file, even after a crash.
func (s *LocalStore) PutReader(ctx context.Context, key string, r io.Reader) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.writeAtomic(s.path(key), r); err != nil {
		return fmt.Errorf("results: put %s: %w", s.Location(key), err)
	}
	return nil
}

func (s *LocalStore) writeAtomic(target string, r io.Reader) error {
	dir := filepath.Dir(target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, r); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return err
	}
	committed = true
	syncDir(dir)
	return nil
}

// syncDir makes a rename durable; filesystems that cannot sync a directory
// still renamed atomically, so its error is ignored.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

func (s *LocalStore) Get(ctx context.Context, key string) ([]byte, error) {
	return readAll(ctx, s, key)
}

func (s *LocalStore) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("results: %s: %w", s.Location(key), ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("results: open %s: %w", s.Location(key), err)
	}
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("results: %s: %w", s.Location(key), ErrNotFound)
	}
	return f, nil
}

func (s *LocalStore) Exists(ctx context.Context, key string) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	info, err := os.Stat(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("results: stat %s: %w", s.Location(key), err)
	}
	return info.Mode().IsRegular(), nil
}

// List walks only the directory that holds prefix's last complete segment.
func (s *LocalStore) List(ctx context.Context, prefix string) ([]string, error) {
	for _, seg := range strings.Split(prefix, "/") {
		if seg == ".." {
			return nil, fmt.Errorf("results: list prefix %q: path segment \"..\"", prefix)
		}
	}
	start := s.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = s.path(prefix[:i])
	}
	var keys []string
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == start && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() || strings.HasPrefix(d.Name(), tempPrefix) {
			return nil
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		if key := filepath.ToSlash(rel); strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("results: list %s: %w", s.Location(prefix), err)
	}
	sort.Strings(keys)
	return keys, nil
}
