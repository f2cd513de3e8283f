package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
)

// Recorder streams one attempt's records of one (slice, replica) into
// numbered part objects: a part is cut every FlushEvery or MaxRecords
// records, whichever comes first, and written by one background goroutine,
// so Add never waits on the store. A part that cannot be written is kept
// and retried with backoff until Close's deadline; parts beyond MemoryLimit
// bytes wait on local disk (SpillDir) instead of in memory.
//
// Every record is also appended to a write-ahead log in SpillDir as it is
// added, and the log is removed once every part is stored. A process that
// is killed, or a Close that gives up on the store, leaves the log behind:
// RecoverSpilled (run by the next attempt and at worker start) stores it as
// the attempt's part WALPart, so what was measured is never lost with the
// process. OnFlush runs after each part is stored, in part order.
type Recorder struct {
	Store      results.Store
	RunID      string
	Slice      int
	Replica    int
	Attempt    int
	FlushEvery time.Duration
	MaxRecords int
	// PutTimeout bounds one try to store a part (a store that does not
	// answer at all must not hold the writer).
	PutTimeout  time.Duration
	MemoryLimit int    // bytes of unstored parts held in memory
	SpillDir    string // default: os.TempDir()/vib-spill
	OnFlush     func(partsStored, recordsStored int)
	OnRetry     func(err error, partsWaiting int)

	cutMu     sync.Mutex // one cut at a time, so parts queue in number order
	mu        sync.Mutex
	buf       []metrics.Record
	queue     []*pendingPart
	queued    int // bytes of queue held in memory
	nextPart  int
	closed    bool
	stored    int
	records   int
	lastErr   error
	wal       *os.File
	walErr    error
	wake      chan struct{}
	done      chan struct{}
	writerCtx context.Context
	stopWrite context.CancelFunc
	stopTick  chan struct{}
}

type pendingPart struct {
	key     string
	body    []byte // nil when spilled
	spilled string // file holding the body
	records int
}

// Start begins the background writer. Its writes have their own context:
// a stopped or cancelled run still stores every record it measured.
func (r *Recorder) Start() {
	if r.FlushEvery <= 0 {
		r.FlushEvery = 2 * time.Second
	}
	if r.MaxRecords <= 0 {
		r.MaxRecords = 2000
	}
	if r.PutTimeout <= 0 {
		r.PutTimeout = 30 * time.Second
	}
	if r.MemoryLimit <= 0 {
		r.MemoryLimit = 64 << 20
	}
	if r.SpillDir == "" {
		r.SpillDir = DefaultSpillDir()
	}
	r.wake = make(chan struct{}, 1)
	r.done = make(chan struct{})
	r.stopTick = make(chan struct{})
	r.writerCtx, r.stopWrite = context.WithCancel(context.Background())
	r.wal, r.walErr = openWAL(r.SpillDir, results.WALKey(r.RunID, r.Slice, r.Replica, r.Attempt))
	go r.write()
	go r.tick()
}

// DefaultSpillDir is where recorders keep parts the store did not take.
func DefaultSpillDir() string { return filepath.Join(os.TempDir(), "vib-spill") }

// Add queues one record; it never blocks on the store.
func (r *Recorder) Add(rec metrics.Record) {
	line, err := json.Marshal(rec)
	r.mu.Lock()
	if r.wal != nil && err == nil {
		// One write(2) per record: it survives the process being killed.
		_, err = r.wal.Write(append(line, '\n'))
	}
	if err != nil && r.walErr == nil {
		r.walErr = err
	}
	r.buf = append(r.buf, rec)
	full := len(r.buf) >= r.MaxRecords
	r.mu.Unlock()
	if full {
		r.cut()
	}
}

// cut turns the buffered records into the next part.
func (r *Recorder) cut() {
	r.cutMu.Lock()
	defer r.cutMu.Unlock()
	r.mu.Lock()
	recs := r.buf
	r.buf = nil
	if len(recs) == 0 || r.closed {
		r.mu.Unlock()
		return
	}
	n := r.nextPart
	r.nextPart++
	r.mu.Unlock()
	// Encoding runs outside the lock so Add never waits on it.
	p := &pendingPart{key: results.PartKey(r.RunID, r.Slice, r.Replica, r.Attempt, n), records: len(recs)}
	body, err := results.EncodePart(recs)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil { // a record that cannot be encoded is a bug; never drop the others silently
		r.lastErr = err
		return
	}
	p.body = body
	if r.queued+len(body) > r.MemoryLimit {
		if err := r.spill(p); err != nil {
			r.lastErr = err
		}
	}
	if p.body != nil {
		r.queued += len(p.body)
	}
	r.queue = append(r.queue, p)
	r.signal()
}

func (r *Recorder) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// spill moves a part's body to local disk, named by its store key.
func (r *Recorder) spill(p *pendingPart) error {
	path := filepath.Join(r.SpillDir, filepath.FromSlash(p.key))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(path, p.body, 0o600); err != nil {
		return err
	}
	p.spilled, p.body = path, nil
	return nil
}

func (r *Recorder) tick() {
	t := time.NewTicker(r.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r.cut()
		case <-r.stopTick:
			return
		}
	}
}

// write stores queued parts in order, retrying each until it lands or the
// writer is stopped.
func (r *Recorder) write() {
	defer close(r.done)
	backoff := 250 * time.Millisecond
	for {
		p, ok := r.head()
		if !ok {
			return
		}
		err := r.put(p)
		if err == nil {
			backoff = 250 * time.Millisecond
			r.mu.Lock()
			r.queue = r.queue[1:]
			if p.body != nil {
				r.queued -= len(p.body)
			}
			r.stored++
			r.records += p.records
			stored, records := r.stored, r.records
			r.mu.Unlock()
			if p.spilled != "" {
				os.Remove(p.spilled)
			}
			if r.OnFlush != nil {
				r.OnFlush(stored, records)
			}
			continue
		}
		r.mu.Lock()
		r.lastErr = err
		waiting := len(r.queue)
		r.mu.Unlock()
		if r.OnRetry != nil {
			r.OnRetry(err, waiting)
		}
		select {
		case <-time.After(backoff):
		case <-r.writerCtx.Done():
			return
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// head waits for the oldest unstored part; false once closed and empty, or
// when the writer is stopped.
func (r *Recorder) head() (*pendingPart, bool) {
	for {
		r.mu.Lock()
		if len(r.queue) > 0 {
			p := r.queue[0]
			r.mu.Unlock()
			return p, true
		}
		closed := r.closed
		r.mu.Unlock()
		if closed {
			return nil, false
		}
		select {
		case <-r.wake:
		case <-r.writerCtx.Done():
			return nil, false
		}
	}
}

func (r *Recorder) put(p *pendingPart) error {
	body := p.body
	if body == nil {
		var err error
		if body, err = os.ReadFile(p.spilled); err != nil {
			return fmt.Errorf("read spilled part %s: %w", p.key, err)
		}
	}
	ctx, cancel := context.WithTimeout(r.writerCtx, r.PutTimeout)
	defer cancel()
	if err := r.Store.Put(ctx, p.key, body); err != nil {
		return fmt.Errorf("store part %s: %w", p.key, err)
	}
	return nil
}

// Close cuts what is buffered and waits until every part is stored or ctx
// ends. When parts are still unstored then, the write-ahead log stays on
// local disk for RecoverSpilled and the error says how many records wait.
func (r *Recorder) Close(ctx context.Context) error {
	r.cut()
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	close(r.stopTick)
	r.signal()
	select {
	case <-r.done:
	case <-ctx.Done():
		r.stopWrite()
		<-r.done
	}
	r.stopWrite()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.wal != nil {
		r.wal.Close()
	}
	if len(r.queue) == 0 {
		if r.wal != nil {
			os.Remove(r.wal.Name())
		}
		return nil
	}
	waiting := 0
	for _, p := range r.queue {
		waiting += p.records
	}
	if r.wal == nil {
		return fmt.Errorf("%d records in %d parts not stored, and no write-ahead log (%v): %w", waiting, len(r.queue), r.walErr, r.lastErr)
	}
	return fmt.Errorf("%d records in %d parts not stored yet, kept in %s for the next attempt: %w",
		waiting, len(r.queue), r.wal.Name(), r.lastErr)
}

// Stored is how many parts and records this recorder has safely stored.
func (r *Recorder) Stored() (parts, records int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stored, r.records
}

// WALPart is the part number under which a recovered write-ahead log is
// stored: above any part a recorder cuts.
const WALPart = 999999

func openWAL(spillDir, key string) (*os.File, error) {
	path := filepath.Join(spillDir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
}

// RecoverSpilled stores what recorders on this machine left in spillDir
// under prefix ("" for all): spilled parts under their own keys, and
// write-ahead logs as part WALPart of their attempt (a record also in a
// stored part is read once, by ReadUnit's rule). Each file is removed once
// stored.
func RecoverSpilled(ctx context.Context, store results.Store, spillDir, prefix string) (int, error) {
	if spillDir == "" {
		spillDir = DefaultSpillDir()
	}
	root := filepath.Join(spillDir, filepath.FromSlash(prefix))
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(spillDir, path)
		if err != nil {
			return err
		}
		ref, err := results.ParseObjectKey(filepath.ToSlash(rel))
		if err != nil {
			return nil // not a recorder's file
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		key := ref.Key()
		if ref.Kind == results.KindWAL {
			ref.Kind, ref.Part = results.KindPart, WALPart
			key = ref.Key()
			if body, err = walPart(body); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if body == nil { // an empty log
				return os.Remove(path)
			}
		}
		if err := store.Put(ctx, key, body); err != nil {
			return err
		}
		n++
		return os.Remove(path)
	})
	return n, err
}

// walPart encodes a write-ahead log's records as a part (nil when it holds
// none). A killed process may leave its last line half-written: that
// record was never complete, and is dropped.
func walPart(body []byte) ([]byte, error) {
	var recs []metrics.Record
	for _, line := range bytes.Split(body, []byte("\n")) {
		var rec metrics.Record
		if len(line) > 0 && json.Unmarshal(line, &rec) == nil {
			recs = append(recs, rec)
		}
	}
	if len(recs) == 0 {
		return nil, nil
	}
	return results.EncodePart(recs)
}
