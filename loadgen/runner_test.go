package loadgen

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vibench/vllm-inference-benchmark/datasets"
	"github.com/vibench/vllm-inference-benchmark/metrics"
)

func samplesFor(n int) func(int) (datasets.Sample, error) {
	return func(i int) (datasets.Sample, error) {
		if i < 0 || i >= n {
			return datasets.Sample{}, errors.New("no such sample")
		}
		return datasets.Sample{Index: i, Prompt: "p", PromptLen: 1, ExpectedOutputLen: 2}, nil
	}
}

// collect gathers records and fails the test if the sink is called from
// two goroutines at once.
type collect struct {
	busy atomic.Bool
	recs []metrics.Record
}

func (c *collect) sink(t *testing.T) func(metrics.Record) {
	return func(r metrics.Record) {
		if !c.busy.CompareAndSwap(false, true) {
			t.Error("Sink called concurrently")
		}
		c.recs = append(c.recs, r)
		c.busy.Store(false)
	}
}

func (c *collect) byIndex(t *testing.T, n int) map[int]metrics.Record {
	t.Helper()
	m := map[int]metrics.Record{}
	for _, r := range c.recs {
		if _, dup := m[r.Index]; dup {
			t.Errorf("index %d recorded twice", r.Index)
		}
		m[r.Index] = r
	}
	if len(m) != n || len(c.recs) != n {
		t.Fatalf("%d records for %d distinct indexes, want %d", len(c.recs), len(m), n)
	}
	return m
}

func TestRunSendsEveryArrivalOnSchedule(t *testing.T) {
	srv := streamServer(t, false, 2, false)
	c := newTestClient(t, srv.URL, false, nil)
	const n = 200
	arr := make([]Arrival, n)
	for i := range arr {
		arr[i] = Arrival{Index: i, Offset: float64(i) * 0.002}
	}
	var col collect
	t0 := time.Now().Add(20 * time.Millisecond)
	st, err := Run(context.Background(), RunOptions{Client: c, Samples: samplesFor(n), Arrivals: arr, T0: t0,
		RequestIDPrefix: "bench-ab-", Replica: 2, Sink: col.sink(t)})
	if err != nil {
		t.Fatal(err)
	}
	m := col.byIndex(t, n)
	var delays []float64
	for i, r := range m {
		if r.Status != metrics.StatusCompleted || r.RequestID != "bench-ab-"+itoa(i) || r.Replica != 2 || r.ScheduledAt != arr[i].Offset {
			t.Fatalf("record %+v", r)
		}
		// Never early.
		if sentAt := r.StartTime - MonotonicSeconds(t0); r.Lateness < 0 || sentAt < r.ScheduledAt {
			t.Errorf("index %d scheduled %.4f sent %.4f lateness %.6f", i, r.ScheduledAt, sentAt, r.Lateness)
		}
		delays = append(delays, r.StartTime-MonotonicSeconds(t0)-r.ScheduledAt)
	}
	// And on time: a generous bound on the median delay, which a dispatcher
	// that waits on responses or drifts would exceed (this checks scheduling,
	// not speed).
	slices.Sort(delays)
	if med := delays[n/2]; med > 0.1 {
		t.Errorf("median send delay %.4f s", med)
	}
	if st.Sent != n || st.Completed != n || st.Failed != 0 || st.Interrupted != 0 || st.Duration < 0.398 ||
		st.LatenessMax < st.LatenessP99 || st.LatenessP99 < st.LatenessP50 || st.SendRate < 200 || st.CPUSeconds <= 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestRunMaxConcurrencyQueues(t *testing.T) {
	var inFlight, peak atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(40 * time.Millisecond)
		inFlight.Add(-1)
		_, _ = io.WriteString(w, strings.Join(tokenEvents(true, 1), ""))
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, true, func(o *ClientOptions) { o.MaxConcurrency = 3 })
	const n = 12
	arr := make([]Arrival, n)
	for i := range arr {
		arr[i] = Arrival{Index: i}
	}
	var col collect
	st, err := Run(context.Background(), RunOptions{Client: c, Samples: samplesFor(n), Arrivals: arr, MaxConcurrency: 3, Sink: col.sink(t)})
	if err != nil {
		t.Fatal(err)
	}
	m := col.byIndex(t, n)
	if peak.Load() != 3 {
		t.Errorf("peak concurrency %d, want 3", peak.Load())
	}
	// FIFO: arrival i waits for i/3 rounds of 40 ms.
	for i, r := range m {
		round := float64(i / 3)
		if r.Status != metrics.StatusCompleted || r.QueueTime < round*0.04-0.005 || (i < 3 && r.QueueTime > 0.01) {
			t.Errorf("index %d queue %.4f status %s", i, r.QueueTime, r.Status)
		}
		// The request's own clock starts after the slot: latency excludes
		// the queue (the last round queued 120 ms for a 40 ms request).
		if i >= 9 && r.Latency >= r.QueueTime {
			t.Errorf("index %d latency %.3f includes queueing", i, r.Latency)
		}
	}
	if st.Completed != n {
		t.Errorf("stats %+v", st)
	}
}

func TestRunCancelRecordsEveryArrivalOnce(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	defer once.Do(func() { close(release) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, tokenEvents(false, 1)[0])
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer once.Do(func() { close(release) })
	c := newTestClient(t, srv.URL, false, func(o *ClientOptions) { o.MaxConcurrency = 4 })
	const n = 40
	arr := make([]Arrival, n)
	for i := range arr {
		arr[i] = Arrival{Index: i, Offset: float64(i) * 0.05} // 2 s of schedule
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var col collect
	st, err := Run(ctx, RunOptions{Client: c, Samples: samplesFor(n), Arrivals: arr, MaxConcurrency: 4, Sink: col.sink(t)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v", err)
	}
	m := col.byIndex(t, n)
	var cut, notSent int
	for i, r := range m {
		switch {
		case r.Status == metrics.StatusInterrupted && r.Error == ReasonCutOff:
			cut++
		case r.Status == metrics.StatusInterrupted && r.Error == ReasonNotSent:
			notSent++
		default:
			t.Errorf("index %d: %+v", i, r)
		}
	}
	// 4 slots hold requests that never finish; later due arrivals queue.
	if cut != 4 || notSent != n-4 || st.Interrupted != n || st.Sent < 4 {
		t.Errorf("cut %d notSent %d stats %+v", cut, notSent, st)
	}
}

// A stop ends sending at once; requests already in flight get the grace to
// finish (and are measured), and only those still streaming after it are
// cut off.
func TestRunCutOffGraceMeasuresRequestsFinishingAfterTheStop(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev := tokenEvents(false, 2)
		_, _ = io.WriteString(w, ev[0])
		w.(http.Flusher).Flush()
		hold := 300 * time.Millisecond
		if r.Header.Get("X-Request-Id") == "g-1" {
			hold = 5 * time.Second // still streaming when the grace ends
		}
		select {
		case <-time.After(hold):
		case <-r.Context().Done():
			return
		}
		for _, e := range ev[1:] {
			_, _ = io.WriteString(w, e)
		}
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, false, nil)
	arr := []Arrival{{Index: 0, Offset: 0}, {Index: 1, Offset: 0.01}, {Index: 2, Offset: 1}}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var col collect
	start := time.Now()
	_, err := Run(ctx, RunOptions{Client: c, Samples: samplesFor(3), Arrivals: arr, RequestIDPrefix: "g-",
		CutOffGrace: time.Second, Sink: col.sink(t)})
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v", err)
	}
	m := col.byIndex(t, 3)
	if r := m[0]; r.Status != metrics.StatusCompleted || r.OutputTokens != 2 {
		t.Errorf("index 0 finished 200 ms after the stop, within the grace: %+v", r)
	}
	if r := m[1]; r.Status != metrics.StatusInterrupted || r.Error != ReasonCutOff {
		t.Errorf("index 1 was still streaming after the grace: %+v", r)
	}
	if r := m[2]; r.Status != metrics.StatusInterrupted || r.Error != ReasonNotSent {
		t.Errorf("index 2 fell due after the stop: %+v", r)
	}
	if took < time.Second || took > 3*time.Second {
		t.Errorf("Run returned after %v: want the stop (0.1 s) plus the 1 s grace", took)
	}
}

func TestRunPastT0AndSampleErrors(t *testing.T) {
	srv := streamServer(t, true, 1, false)
	c := newTestClient(t, srv.URL, true, nil)
	arr := []Arrival{{Index: 0, Offset: 0}, {Index: 1, Offset: 0.5}, {Index: 99, Offset: 0.6}}
	var col collect
	st, err := Run(context.Background(), RunOptions{Client: c, Samples: samplesFor(2), Arrivals: arr,
		T0: time.Now().Add(-time.Second), Sink: col.sink(t)})
	if err != nil {
		t.Fatal(err)
	}
	m := col.byIndex(t, 3)
	if m[1].Lateness < 0.4 || m[0].Status != metrics.StatusCompleted {
		t.Errorf("late arrivals: %+v %+v", m[0], m[1])
	}
	if r := m[99]; r.Status != metrics.StatusFailed || r.Error != "sample: no such sample" {
		t.Errorf("sample error: %+v", r)
	}
	if st.Duration > 0.5 || st.Failed != 1 || st.Completed != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestRunValidates(t *testing.T) {
	c := newTestClient(t, "http://h", false, nil)
	for want, o := range map[string]RunOptions{
		"RunOptions.Client":         {Samples: samplesFor(1)},
		"RunOptions.Samples":        {Client: c},
		"RunOptions.Arrivals[1]":    {Client: c, Samples: samplesFor(1), Arrivals: []Arrival{{0, 1}, {1, 0.5}}},
		"RunOptions.MaxConcurrency": {Client: c, Samples: samplesFor(1), MaxConcurrency: -2},
	} {
		if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err %v, want %q", err, want)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
