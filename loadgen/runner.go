package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/vibench/vllm-inference-benchmark/datasets"
	"github.com/vibench/vllm-inference-benchmark/metrics"
)

// Arrival is one scheduled request: which sample, and when to send it.
type Arrival struct {
	Index  int     // sample index, passed to RunOptions.Samples
	Offset float64 // send time in seconds from RunOptions.T0
}

// RunOptions describe one open-loop dispatch.
type RunOptions struct {
	Client *Client
	// Samples returns sample i; it is called from many goroutines at once.
	Samples func(i int) (datasets.Sample, error)
	// Arrivals in send order (offsets must not decrease); pass only the
	// arrivals this run should send.
	Arrivals []Arrival
	// T0 anchors the offsets, so consecutive slices of one long schedule
	// join seamlessly. Arrivals already due when Run starts go out at once.
	// Zero means the time Run starts.
	T0             time.Time
	MaxConcurrency int // 0 = unlimited
	// RequestIDPrefix + the arrival's Index is each request's x-request-id.
	RequestIDPrefix string
	Replica         int
	// Sink receives every arrival's record exactly once, from one
	// goroutine, as requests finish (unsent ones at the end).
	Sink func(metrics.Record)
	// CutOffGrace is how long requests in flight when ctx ends may still
	// finish before they are cut off (0: at once). Sending stops at once
	// either way; a response the server is completing is then measured
	// instead of being recorded as cut off.
	CutOffGrace time.Duration
}

// Stats is the client's view of a run, and its health check: large send
// lateness or CPU time near the wall time mean the client, not the server,
// limited the run.
type Stats struct {
	Duration    float64 // vLLM's benchmark duration: from just before dispatch until every request ended, s
	Sent        int     // requests handed to the server
	Completed   int
	Failed      int
	Interrupted int
	// Send lateness (actual dispatch minus scheduled time) over sent
	// requests, seconds, percentiles within 1%; time waiting for a
	// concurrency slot is not in it.
	LatenessP50 float64
	LatenessP99 float64
	LatenessMax float64
	SendRate    float64 // requests/s between the first and the last dispatch
	CPUSeconds  float64 // user+system CPU time of this process during the run
}

// Run sends opts.Arrivals on their schedule: a slow server never delays a
// send, only MaxConcurrency does (the wait for a slot is the record's
// QueueTime; the request's clock starts after it, as in vLLM). One
// dispatcher goroutine keeps time; each in-flight request has its own
// goroutine. When ctx ends, unsent arrivals are recorded as interrupted
// (ReasonNotSent) and in-flight ones are cancelled (after CutOffGrace) and
// recorded as interrupted (ReasonCutOff); Run then returns ctx.Err() with
// Stats complete.
func Run(ctx context.Context, opts RunOptions) (Stats, error) {
	if err := opts.validate(); err != nil {
		return Stats{}, err
	}
	if opts.T0.IsZero() {
		opts.T0 = time.Now()
	}
	cpu0 := cpuSeconds()
	start := time.Now()

	d := &dispatcher{
		opts:    opts,
		records: make(chan metrics.Record, 1024),
		margin:  initialSpinMargin,
		// With a single P, nanosleep and a plain spin would hold the only P
		// and starve net/http's goroutines reading https streams (their
		// TTFT and ITL would absorb the wait). The raw transport's reactors
		// time tokens by the kernel's receive timestamps: a late read does
		// not move them.
		ownsThread: runtime.GOMAXPROCS(0) > 1 || opts.Client.raw != nil,
	}
	if opts.MaxConcurrency > 0 {
		d.freed = make(chan struct{}, opts.MaxConcurrency)
	}
	var st Stats
	sinkDone := make(chan struct{})
	go func() {
		defer close(sinkDone)
		for r := range d.records {
			switch r.Status {
			case metrics.StatusCompleted:
				st.Completed++
			case metrics.StatusInterrupted:
				st.Interrupted++
			default:
				st.Failed++
			}
			if opts.Sink != nil {
				opts.Sink(r)
			}
		}
	}()

	inFlight, cutOff := context.WithCancel(context.WithoutCancel(ctx))
	defer cutOff()
	stopGrace := context.AfterFunc(ctx, func() { time.AfterFunc(opts.CutOffGrace, cutOff) })
	defer stopGrace()
	d.inFlightCtx = inFlight
	d.dispatch(ctx)
	d.wg.Wait()
	st.Duration = time.Since(start).Seconds()
	close(d.records)
	<-sinkDone

	st.Sent = int(d.lateness.Count)
	st.CPUSeconds = cpuSeconds() - cpu0
	if n := st.Sent; n > 0 {
		st.LatenessP50 = d.lateness.Quantile(0.50)
		st.LatenessP99 = d.lateness.Quantile(0.99)
		st.LatenessMax = d.lateness.Max
		if span := d.lastSend.Sub(d.firstSend).Seconds(); n > 1 && span > 0 {
			st.SendRate = float64(n-1) / span
		}
	}
	return st, ctx.Err()
}

func (o *RunOptions) validate() error {
	switch {
	case o.Client == nil:
		return errors.New("RunOptions.Client is nil")
	case o.Samples == nil:
		return errors.New("RunOptions.Samples is nil")
	case o.MaxConcurrency < 0:
		return fmt.Errorf("RunOptions.MaxConcurrency %d: want 0 (unlimited) or more", o.MaxConcurrency)
	}
	for i, a := range o.Arrivals {
		if math.IsNaN(a.Offset) || math.IsInf(a.Offset, 0) {
			return fmt.Errorf("RunOptions.Arrivals[%d]: offset %v is not finite", i, a.Offset)
		}
		if i > 0 && a.Offset < o.Arrivals[i-1].Offset {
			return fmt.Errorf("RunOptions.Arrivals[%d]: offset %v is before the previous one (%v)", i, a.Offset, o.Arrivals[i-1].Offset)
		}
	}
	return nil
}

// Go timers wake up to a millisecond late (the runtime's idle poller
// sleeps in whole milliseconds), so the dispatcher waits on a timer only
// until coarseWait before a send, sleeps most of the rest in nanosleep(2)
// (hrtimer precision, tens of µs), and spins the last margin. The margin
// follows the nanosleep wake-ups it observes.
const (
	coarseWait        = 2 * time.Millisecond
	initialSpinMargin = 100 * time.Microsecond
	minSpinMargin     = 30 * time.Microsecond
	maxSpinMargin     = 500 * time.Microsecond
)

type dispatcher struct {
	opts     RunOptions
	records  chan metrics.Record
	freed    chan struct{} // a request released its concurrency slot
	wg       sync.WaitGroup
	inFlight int
	queue    []queued // due arrivals waiting for a slot, oldest first
	margin   time.Duration
	// ownsThread: with more than one P the dispatcher may hold one in
	// nanosleep and spinning; with one it must yield to the readers.
	ownsThread bool

	inFlightCtx         context.Context   // what requests run under: ends CutOffGrace after ctx
	lateness            metrics.Histogram // constant memory over any run length
	firstSend, lastSend time.Time
}

type queued struct {
	a        Arrival
	released time.Time
}

func (d *dispatcher) dispatch(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	arrivals := d.opts.Arrivals
	next := 0
	for next < len(arrivals) && ctx.Err() == nil {
		a := arrivals[next]
		deadline := d.opts.T0.Add(time.Duration(a.Offset * float64(time.Second)))
		if !d.waitUntil(ctx, timer, deadline) {
			break
		}
		released := time.Now()
		next++
		d.lateness.Add(released.Sub(deadline).Seconds())
		if d.firstSend.IsZero() {
			d.firstSend = released
		}
		d.lastSend = released
		d.queue = append(d.queue, queued{a, released})
		d.launchQueued(ctx)
	}
	for len(d.queue) > 0 && ctx.Err() == nil {
		select {
		case <-d.freed:
			d.inFlight--
			d.launchQueued(ctx)
		case <-ctx.Done():
		}
	}
	for _, q := range d.queue {
		d.records <- d.notSent(q.a)
	}
	d.queue = nil
	for _, a := range arrivals[next:] {
		d.records <- d.notSent(a)
	}
}

// waitUntil returns at deadline, serving freed slots while the deadline
// is more than coarseWait away; false if ctx ended first.
func (d *dispatcher) waitUntil(ctx context.Context, timer *time.Timer, deadline time.Time) bool {
	for {
		remaining := time.Until(deadline)
		switch {
		case remaining <= 0:
			return true
		case remaining > coarseWait:
			timer.Reset(remaining - coarseWait)
			select {
			case <-timer.C:
			case <-d.freed:
				timer.Stop()
				d.inFlight--
				d.launchQueued(ctx)
			case <-ctx.Done():
				timer.Stop()
				return false
			}
		case !d.ownsThread:
			for time.Now().Before(deadline) {
				runtime.Gosched()
			}
			return true
		case remaining > d.margin:
			wake := time.Now().Add(remaining - d.margin)
			sleep(remaining - d.margin)
			d.adaptMargin(time.Since(wake))
		default:
			// A plain spin: runtime.Gosched here could queue the dispatcher
			// behind busy request goroutines.
			for time.Now().Before(deadline) {
			}
			return true
		}
	}
}

// adaptMargin widens the spin margin at once after a late wake-up and
// narrows it slowly while wake-ups are prompt.
func (d *dispatcher) adaptMargin(late time.Duration) {
	want := late + late/4 + 20*time.Microsecond
	if want > d.margin {
		d.margin = want
	} else {
		d.margin -= (d.margin - want) / 64
	}
	d.margin = min(max(d.margin, minSpinMargin), maxSpinMargin)
}

// launchQueued starts queued arrivals while slots are free.
func (d *dispatcher) launchQueued(ctx context.Context) {
	capped := d.opts.MaxConcurrency > 0
	for len(d.queue) > 0 && (!capped || d.inFlight < d.opts.MaxConcurrency) {
		q := d.queue[0]
		d.queue = d.queue[1:]
		if len(d.queue) == 0 {
			d.queue = d.queue[:0:0] // let a drained backlog's array go
		}
		d.inFlight++
		d.wg.Add(1)
		go d.send(ctx, q, time.Now())
	}
}

func (d *dispatcher) send(ctx context.Context, q queued, acquired time.Time) {
	defer d.wg.Done()
	id := d.opts.RequestIDPrefix + strconv.Itoa(q.a.Index)
	var rec metrics.Record
	if s, err := d.opts.Samples(q.a.Index); err != nil {
		rec = metrics.Record{RequestID: id, ITL: []float64{}, Status: metrics.StatusFailed, Error: "sample: " + err.Error()}
	} else if ctx.Err() != nil {
		rec = d.notSent(q.a)
	} else {
		rec = d.opts.Client.Do(d.inFlightCtx, s, id)
	}
	rec.Index = q.a.Index
	rec.Replica = d.opts.Replica
	rec.ScheduledAt = q.a.Offset
	rec.Lateness = q.released.Sub(d.opts.T0).Seconds() - q.a.Offset
	rec.QueueTime = acquired.Sub(q.released).Seconds()
	if d.freed != nil {
		d.freed <- struct{}{}
	}
	d.records <- rec
}

func (d *dispatcher) notSent(a Arrival) metrics.Record {
	return metrics.Record{
		RequestID:   d.opts.RequestIDPrefix + strconv.Itoa(a.Index),
		ITL:         []float64{},
		Error:       ReasonNotSent,
		Index:       a.Index,
		Replica:     d.opts.Replica,
		Status:      metrics.StatusInterrupted,
		ScheduledAt: a.Offset,
	}
}
