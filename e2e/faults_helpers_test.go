package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"

	"github.com/vibench/vllm-inference-benchmark/activities"
	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
	"github.com/vibench/vllm-inference-benchmark/simulator/vllmsim"
)

// answerLog counts what a simulated replica received and answered, by
// x-request-id: a request is answered when its handler wrote the whole
// stream to a client that was still there.
type answerLog struct {
	mu       sync.Mutex
	received map[string]int
	answered map[string]time.Time
	recvAt   []time.Time
}

func startLoggedSim(t *testing.T) (string, *answerLog) {
	t.Helper()
	sim, err := vllmsim.New(vllmsim.Config{Model: model, TTFT: 20 * time.Millisecond, ITL: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	l := &answerLog{received: map[string]int{}, answered: map[string]time.Time{}}
	h := sim.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if id == "" {
			h.ServeHTTP(w, r)
			return
		}
		l.mu.Lock()
		l.received[id]++
		l.recvAt = append(l.recvAt, time.Now())
		l.mu.Unlock()
		h.ServeHTTP(w, r)
		if r.Context().Err() == nil {
			l.mu.Lock()
			l.answered[id] = time.Now()
			l.mu.Unlock()
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, l
}

// longestGap is the longest time between two requests received in
// [from, to].
func (l *answerLog) longestGap(from, to time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var at []time.Time
	for _, ts := range l.recvAt {
		if !ts.Before(from) && !ts.After(to) {
			at = append(at, ts)
		}
	}
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	var gap time.Duration
	for i := 1; i < len(at); i++ {
		gap = max(gap, at[i].Sub(at[i-1]))
	}
	return gap
}

func (l *answerLog) lastReceived() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var last time.Time
	for _, ts := range l.recvAt {
		last = latest(last, ts)
	}
	return last
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// proxy forwards TCP to target; blackhole stops every byte both ways (the
// connections stay open, as across a network partition) until restore.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	gate   chan struct{} // closed while traffic flows
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, gate: make(chan struct{})}
	close(p.gate)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	t.Cleanup(func() { p.restore(); ln.Close() })
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) open() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gate
}

func (p *proxy) blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gate = make(chan struct{})
}

func (p *proxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
}

func (p *proxy) serve(c net.Conn) {
	defer c.Close()
	<-p.open()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				<-p.open() // held while blackholed
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
}

func (w *workerProc) terminate() {
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	_ = w.cmd.Wait()
}

// workerEnv is the environment of a worker process with its own spill
// directory (each worker keeps its own write-ahead logs, as each pod does).
func workerEnv(t *testing.T, temporalAddr string, s3env map[string]string) []string {
	env := append(os.Environ(), "TEMPORAL_ADDRESS="+temporalAddr, "BENCHMARK_RESULTS_BUCKET=bench",
		"BENCHMARK_RESULTS_DIRECTORY=e2e", "VIB_SPILL_DIR="+filepath.Join(t.TempDir(), "spill"))
	for k, v := range s3env {
		env = append(env, k+"="+v)
	}
	return env
}

func storeFor(t *testing.T, s3env map[string]string) results.Store {
	t.Helper()
	store, err := results.FromEnv(t.Context(), func(k string) string {
		if v, ok := s3env[k]; ok {
			return v
		}
		return map[string]string{"BENCHMARK_RESULTS_BUCKET": "bench", "BENCHMARK_RESULTS_DIRECTORY": "e2e"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// checkNothingLost compares what the simulators answered with what the
// store holds: each scheduled request once; every answered request stored
// as completed except those answered within a SIGKILL's window (the killed
// client never read them); no request received twice; result.json equal,
// byte for byte, to a recomputation from the store alone.
func checkNothingLost(ctx context.Context, t *testing.T, store results.Store, runID string, logs []*answerLog, kills []time.Time) engine.Accounting {
	t.Helper()
	body, err := store.Get(ctx, results.ResultKey(runID))
	if err != nil {
		t.Fatal(err)
	}
	var saved struct {
		Accounting engine.Accounting `json:"run_accounting"`
	}
	if err := json.Unmarshal(body, &saved); err != nil {
		t.Fatalf("result.json: %v", err)
	}
	a := saved.Accounting
	if a.Completed+a.Failed+a.Interrupted+a.NotRun != a.Scheduled || a.Scheduled == 0 {
		t.Errorf("accounting %+v: every scheduled request must be counted exactly once", a)
	}
	final, err := engine.Finalize(ctx, store, runID, engine.FinalizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if final.ResultJSON != string(body) {
		t.Errorf("result.json differs from the recomputation from the store alone:\nstored %s\nagain  %s", body, final.ResultJSON)
	}
	stored := map[string]metrics.Record{}
	if err := engine.ReadRecords(ctx, store, runID, func(r metrics.Record) error {
		if _, dup := stored[r.RequestID]; dup {
			t.Errorf("request %s read twice", r.RequestID)
		}
		stored[r.RequestID] = r
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	answered, lostToKill, twice := 0, 0, 0
	for _, l := range logs {
		l.mu.Lock()
		for id, n := range l.received {
			if n > 1 {
				twice++
				t.Errorf("request %s received %d times", id, n)
			}
		}
		for id, at := range l.answered {
			answered++
			if r, ok := stored[id]; ok && r.Status == metrics.StatusCompleted {
				continue
			}
			nearKill := false
			for _, k := range kills {
				nearKill = nearKill || (at.After(k.Add(-time.Second)) && at.Before(k.Add(time.Second)))
			}
			if nearKill {
				lostToKill++
				continue
			}
			t.Errorf("request %s answered at %s is stored as %+v", id, at.Format("15:04:05.000"), stored[id])
		}
		l.mu.Unlock()
	}
	t.Logf("answered %d, stored completed %d, failed %d, interrupted %d, not run %d, duplicates dropped %d; "+
		"answered but not measured (killed client, within 1 s of a SIGKILL) %d; received twice %d",
		answered, a.Completed, a.Failed, a.Interrupted, a.NotRun, a.Duplicates, lostToKill, twice)
	return a
}

// sliceWorkers counts the LoadSlice attempts each worker identity started.
func sliceWorkers(ctx context.Context, t *testing.T, c client.Client, id string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for _, events := range runHistories(ctx, t, c, id) {
		scheduled := map[int64]string{}
		for _, e := range events {
			if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
				scheduled[e.GetEventId()] = a.GetActivityType().GetName()
			}
			if a := e.GetActivityTaskStartedEventAttributes(); a != nil && scheduled[a.GetScheduledEventId()] == "LoadSlice" {
				counts[a.GetIdentity()]++
			}
		}
	}
	return counts
}

// runHistories returns the events of each execution of a run, from the
// first through every continue-as-new, then of each slice child they
// started (where the slices' activities ran).
func runHistories(ctx context.Context, t *testing.T, c client.Client, id string) [][]*historypb.HistoryEvent {
	t.Helper()
	read := func(id, runID string) []*historypb.HistoryEvent {
		var events []*historypb.HistoryEvent
		it := c.GetWorkflowHistory(ctx, id, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				t.Fatalf("history of %s: %v", id, err)
			}
			events = append(events, e)
		}
		return events
	}
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	var runs, children [][]*historypb.HistoryEvent
	for runID := desc.GetWorkflowExecutionInfo().GetFirstRunId(); runID != ""; {
		events := read(id, runID)
		runs, runID = append(runs, events), ""
		for _, e := range events {
			if a := e.GetStartChildWorkflowExecutionInitiatedEventAttributes(); a != nil {
				children = append(children, read(a.GetWorkflowId(), ""))
			}
			if a := e.GetWorkflowExecutionContinuedAsNewEventAttributes(); a != nil {
				runID = a.GetNewExecutionRunId()
			}
		}
	}
	return append(runs, children...)
}

// overdueRecords counts the stored requests a slice that started late
// recorded as interrupted instead of sending them.
func overdueRecords(ctx context.Context, t *testing.T, store results.Store, runID string) int {
	t.Helper()
	n := 0
	if err := engine.ReadRecords(ctx, store, runID, func(r metrics.Record) error {
		if strings.HasPrefix(r.Error, activities.ReasonOverdue) {
			n++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}
