package s3test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Faults sits in front of an S3 handler and injects what real object
// stores do: a fixed latency on every request, and outages during which
// requests get no answer at all until the outage ends (the client's own
// timeout is all that frees it).
type Faults struct {
	next     http.Handler
	latency  atomic.Int64 // nanoseconds
	mu       sync.Mutex
	down     chan struct{} // non-nil while down; closed when back up
	requests atomic.Int64
	stalled  atomic.Int64
}

// NewFaults wraps h.
func NewFaults(h http.Handler) *Faults { return &Faults{next: h} }

// SetLatency delays every request by d from now on.
func (f *Faults) SetLatency(d time.Duration) { f.latency.Store(int64(d)) }

// Down starts an outage: requests hang without an answer until Up.
func (f *Faults) Down() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down == nil {
		f.down = make(chan struct{})
	}
}

// Up ends the outage; held requests are then served.
func (f *Faults) Up() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down != nil {
		close(f.down)
		f.down = nil
	}
}

// Requests is how many requests arrived; Stalled how many an outage held.
func (f *Faults) Requests() int64 { return f.requests.Load() }
func (f *Faults) Stalled() int64  { return f.stalled.Load() }

func (f *Faults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down != nil {
		f.stalled.Add(1)
		select {
		case <-down:
		case <-r.Context().Done():
			return // the client gave up on an answer that never came
		}
	}
	if d := time.Duration(f.latency.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	f.next.ServeHTTP(w, r)
}

// StartFaulty is Start with Faults in front of the server.
func StartFaulty(t testing.TB, bucket string) (endpoint string, env map[string]string, faults *Faults) {
	t.Helper()
	h, err := NewHandler()
	if err != nil {
		t.Fatal(err)
	}
	faults = NewFaults(h)
	srv := httptest.NewServer(faults)
	t.Cleanup(func() {
		faults.Up()
		srv.Close()
	})
	if err := CreateBucket(t.Context(), srv.URL, bucket); err != nil {
		t.Fatal(err)
	}
	return srv.URL, Env(srv.URL, bucket), faults
}
