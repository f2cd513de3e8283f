package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
)

// Recorder streams one (slice, replica)'s records into numbered part files
// in the store: a part is cut every FlushEvery or MaxRecords records,
// whichever comes first, and written by one background goroutine, so the
// caller never waits on the store. OnFlush runs after each part is stored
// (the LoadSlice activity heartbeats there: flush, then heartbeat).
type Recorder struct {
	Store      results.Store
	RunID      string
	Slice      int
	Replica    int
	FirstPart  int // parts already stored by an earlier attempt
	FlushEvery time.Duration
	MaxRecords int
	OnFlush    func(partsStored, recordsStored int)

	mu      sync.Mutex // guards the buffer and the counters; never held while sending
	sendMu  sync.Mutex // orders sends on parts against its closing
	closed  bool
	buf     []metrics.Record
	parts   chan []metrics.Record
	done    chan struct{}
	err     error
	stored  int
	records int
}

// Start begins the background writer. ctx bounds the writes.
func (r *Recorder) Start(ctx context.Context) {
	if r.FlushEvery <= 0 {
		r.FlushEvery = 2 * time.Second
	}
	if r.MaxRecords <= 0 {
		r.MaxRecords = 2000
	}
	r.stored = r.FirstPart
	r.parts = make(chan []metrics.Record, 16)
	r.done = make(chan struct{})
	go r.write(ctx, r.parts)
	go r.tick(ctx)
}

// Add queues one record. When the writer falls behind by a whole queue of
// parts, Add waits for it.
func (r *Recorder) Add(rec metrics.Record) {
	r.mu.Lock()
	r.buf = append(r.buf, rec)
	full := len(r.buf) >= r.MaxRecords
	r.mu.Unlock()
	if full {
		r.cut()
	}
}

// cut hands the buffered records to the writer as one part.
func (r *Recorder) cut() {
	r.sendMu.Lock()
	defer r.sendMu.Unlock()
	if r.closed {
		return
	}
	r.mu.Lock()
	recs := r.buf
	r.buf = nil
	r.mu.Unlock()
	if len(recs) > 0 {
		r.parts <- recs
	}
}

func (r *Recorder) tick(ctx context.Context) {
	t := time.NewTicker(r.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r.cut()
		case <-r.done:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (r *Recorder) write(ctx context.Context, parts <-chan []metrics.Record) {
	part := r.FirstPart
	for recs := range parts {
		if err := r.put(ctx, part, recs); err != nil {
			r.mu.Lock()
			if r.err == nil {
				r.err = err
			}
			r.mu.Unlock()
			continue
		}
		part++
		r.mu.Lock()
		r.stored, r.records = part, r.records+len(recs)
		stored, records := r.stored, r.records
		r.mu.Unlock()
		if r.OnFlush != nil {
			r.OnFlush(stored, records)
		}
	}
	close(r.done)
}

// put writes one part, retrying briefly: the store's own client retries
// too, and a part that cannot be written fails the slice (its retry resends
// nothing stored and records the rest as interrupted).
func (r *Recorder) put(ctx context.Context, part int, recs []metrics.Record) error {
	body, err := results.EncodePart(recs)
	if err != nil {
		return err
	}
	key := results.PartKey(r.RunID, r.Slice, r.Replica, part)
	for attempt := 0; ; attempt++ {
		err = r.Store.Put(ctx, key, body)
		if err == nil || attempt == 4 || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 500 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("store part %s: %w", key, err)
	}
	return nil
}

// Close writes what is buffered and waits until every part is stored.
func (r *Recorder) Close() error {
	r.cut()
	r.sendMu.Lock()
	r.closed = true
	close(r.parts)
	r.sendMu.Unlock()
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Stored is how many parts and records are safely in the store.
func (r *Recorder) Stored() (parts, records int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stored, r.records
}
