package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
	"github.com/vibench/vllm-inference-benchmark/results/s3test"
)

// The real stress shape in the store: 500,000 prompts per replica at 12
// req/s in 5-minute slices on 2 replicas, a part every 2 s.
const (
	realSlices         = 139
	realReplicas       = 2
	realPartsPerUnit   = 150
	realRecordsPerPart = 24 // 12 req/s x 2 s
	storeLatency       = 30 * time.Millisecond
	// checkpointEvery is shorter than the Aggregate activity's (a minute),
	// which the real shape never reaches, so that checkpoints are taken.
	checkpointEvery = 3 * time.Second
	storageBucket   = "bench"
)

// storageResult is one shape of the storage scenario.
type storageResult struct {
	Fraction        float64 `json:"fraction"`
	Slices          int     `json:"slices"`
	Objects         int     `json:"objects"`
	Records         int     `json:"records"`
	OutputTokens    int     `json:"output_tokens"` // each record's
	WriteSeconds    float64 `json:"write_s"`
	CompactSeconds  float64 `json:"compact_s"` // every unit compacted, 16 units at a time
	AggregateS      float64 `json:"aggregate_s"`
	AggregateCPU    float64 `json:"aggregate_cpu_s"`
	Passes          int     `json:"passes"` // the aggregation's over the store
	PeakRSSMB       float64 `json:"peak_rss_mb"`
	S3Requests      int64   `json:"s3_requests"` // by the aggregation
	PartsOnlyS      float64 `json:"parts_only_aggregate_s,omitempty"`
	PartsOnlyS3Reqs int64   `json:"parts_only_s3_requests,omitempty"`
	// The largest shape again with a checkpoint every checkpointEvery, and
	// a retry resumed from the last one.
	CheckpointedS   float64 `json:"checkpointed_aggregate_s,omitempty"`
	Checkpoints     int     `json:"checkpoints,omitempty"`
	CheckpointMB    float64 `json:"checkpoint_mb,omitempty"`
	CheckpointPutS  float64 `json:"checkpoint_put_s,omitempty"`
	ResumeFromPass  int     `json:"resume_from_pass,omitempty"`
	ResumeFromSlice int     `json:"resume_from_slice,omitempty"`
	ResumeS         float64 `json:"resume_s,omitempty"`
}

// storage stores the real shape (and its quarter and half) on an S3 server
// that answers every request after 30 ms, compacts it as LoadSlice does,
// and times engine.Aggregate over it in a generator child (its own peak
// RSS). The quarter shape is also aggregated before compaction, from its
// parts alone.
func (b *bench) storage() error {
	fractions := b.opts.storageFractions
	h, err := s3test.NewHandler(storageBucket)
	if err != nil {
		return err
	}
	faults := s3test.NewFaults(h)
	srv := httptest.NewServer(faults)
	defer srv.Close()
	faults.SetLatency(storeLatency)
	store, err := results.FromEnv(context.Background(), envOf(s3test.Env(srv.URL, storageBucket)))
	if err != nil {
		return err
	}
	for i, f := range fractions {
		r := storageResult{Fraction: f, Slices: max(1, int(float64(realSlices)*f+0.5)), OutputTokens: b.opts.storageTokens}
		runID := fmt.Sprintf("shape-%d", i)
		progress("storage: writing %d slices x %d replicas x %d parts at %v a request", r.Slices, realReplicas, realPartsPerUnit, storeLatency)
		start := time.Now()
		if r.Records, err = writeRealShape(store, runID, r.Slices, b.opts.storageTokens); err != nil {
			return err
		}
		r.WriteSeconds = time.Since(start).Seconds()
		r.Objects = r.Slices * realReplicas * realPartsPerUnit
		aggregate := func(checkpoint bool) (genResult, int64, error) {
			before := faults.Requests()
			g, err := b.pin.runGenerator(job{Kind: kindAggregateS3, Requests: r.Records, Base: srv.URL, RunID: runID, Checkpoint: checkpoint}, 20*time.Minute)
			if err == nil && g.AggregatedRecords != r.Records {
				err = fmt.Errorf("aggregated %d records, stored %d", g.AggregatedRecords, r.Records)
			}
			return g, faults.Requests() - before, err
		}
		if i == 0 {
			progress("storage: aggregating %d parts without compaction", r.Objects)
			g, reqs, err := aggregate(false)
			if err != nil {
				return err
			}
			r.PartsOnlyS, r.PartsOnlyS3Reqs = g.AggregateSeconds, reqs
		}
		progress("storage: compacting %d units", r.Slices*realReplicas)
		start = time.Now()
		if err := compactAll(store, runID, r.Slices); err != nil {
			return err
		}
		r.CompactSeconds = time.Since(start).Seconds()
		progress("storage: aggregating")
		g, reqs, err := aggregate(false)
		if err != nil {
			return err
		}
		r.AggregateS, r.AggregateCPU, r.Passes, r.S3Requests = g.AggregateSeconds, g.EngineCPUSeconds, g.AggregatePasses, reqs
		// The child's own VmHWM: its rusage maxrss would also count this
		// process (it holds the S3 server's objects) as it was at the fork.
		r.PeakRSSMB = g.RunPeakRSSMB
		if i == len(fractions)-1 {
			progress("storage: aggregating with a checkpoint every %v, then resuming from the last", checkpointEvery)
			if g, _, err = aggregate(true); err != nil {
				return err
			}
			r.CheckpointedS, r.Checkpoints, r.CheckpointMB, r.CheckpointPutS = g.AggregateSeconds, g.Checkpoints, g.CheckpointMB, g.CheckpointPutS
			r.ResumeFromPass, r.ResumeFromSlice, r.ResumeS = g.ResumeFromPass, g.ResumeFromSlice, g.ResumeSeconds
		}
		b.rep.Storage = append(b.rep.Storage, r)
	}
	return nil
}

func envOf(env map[string]string) func(string) string { return func(k string) string { return env[k] } }

// writeRealShape stores the parts of every (slice, replica), 64 puts at a
// time, as sonnet records of 512 prompt and the given output tokens.
func writeRealShape(store results.Store, runID string, slices, tokens int) (int, error) {
	type put struct {
		key  string
		body []byte
	}
	puts := make(chan put)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range puts {
				if err := store.Put(context.Background(), p.key, p.body); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			}
		}()
	}
	n := 0
	for s := range slices {
		for rep := range realReplicas {
			for part := range realPartsPerUnit {
				recs := make([]metrics.Record, realRecordsPerPart)
				for k := range recs {
					i := (s*realPartsPerUnit+part)*realRecordsPerPart + k
					at := float64(i) / 12
					ttft := 0.050 + float64(i%13)*0.001
					itl := make([]float64, tokens-1)
					latency := ttft
					for j := range itl {
						itl[j] = 0.011 + float64((i+j)%7)*0.0005
						latency += itl[j]
					}
					recs[k] = metrics.Record{RequestID: fmt.Sprintf("bench-0000cafe-r%d-%d", rep, i), PromptLen: 512,
						ExpectedOutputLen: tokens, Success: true, OutputTokens: tokens, TTFT: ttft, ITL: itl,
						Latency: latency, StartTime: at, Index: i, Replica: rep, Status: metrics.StatusCompleted,
						ScheduledAt: at, Lateness: 0.00005}
				}
				body, err := results.EncodePart(recs)
				if err != nil {
					return 0, err
				}
				puts <- put{results.PartKey(runID, s, rep, 1, part), body}
				n += len(recs)
			}
		}
	}
	close(puts)
	wg.Wait()
	return n, firstErr
}

// compactAll compacts every unit as each LoadSlice does at its end, 16 at
// a time (in a run they are spread over the whole run).
func compactAll(store results.Store, runID string, slices int) error {
	sem := make(chan struct{}, 16)
	errs := make(chan error, slices*realReplicas)
	var wg sync.WaitGroup
	for s := range slices {
		for rep := range realReplicas {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				errs <- engine.Compact(context.Background(), store, runID, s, rep, 1, &engine.ClientStats{Sent: 3600}, nil)
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// runAggregateS3 runs engine.Aggregate over a run stored on the S3
// endpoint j.Base.
func runAggregateS3(j job) (genResult, error) {
	var res genResult
	store, err := results.FromEnv(context.Background(), envOf(s3test.Env(j.Base, storageBucket)))
	if err != nil {
		return res, err
	}
	res.SetupRSSMB = procStatusMB("VmRSS")
	cpu0 := processCPUSeconds()
	start := time.Now()
	opts := engine.AggregateOptions{Request: aggregateRequest(j.Requests), Model: benchModel, Date: time.Now(), Scheduled: j.Requests,
		Progress: func(pass, _, _ int) { res.AggregatePasses = max(res.AggregatePasses, pass) }}
	key := results.AggregateCheckpointKey(j.RunID)
	if j.Checkpoint {
		opts.CheckpointEvery = checkpointEvery
		opts.Checkpoint = func(state []byte, pass, read int) {
			put := time.Now()
			if store.Put(context.Background(), key, state) == nil {
				res.Checkpoints, res.CheckpointMB, res.ResumeFromPass, res.ResumeFromSlice = res.Checkpoints+1, float64(len(state))/(1<<20), pass, read
				res.CheckpointPutS += time.Since(put).Seconds()
			}
		}
	}
	out, err := engine.Aggregate(context.Background(), store, j.RunID, opts)
	if err != nil {
		return res, err
	}
	res.AggregateSeconds = time.Since(start).Seconds()
	res.EngineCPUSeconds = processCPUSeconds() - cpu0
	res.AggregatedRecords = out.Result.Statuses.Completed + out.Result.Statuses.Failed + out.Result.Statuses.Interrupted
	res.RunPeakRSSMB = procStatusMB("VmHWM")
	if res.Checkpoints > 0 {
		// A retry: fetch the last checkpoint and read on from it.
		start = time.Now()
		state, err := store.Get(context.Background(), key)
		if err != nil {
			return res, err
		}
		opts.Checkpoint, opts.Resume = nil, state
		again, err := engine.Aggregate(context.Background(), store, j.RunID, opts)
		if err != nil {
			return res, err
		}
		res.ResumeSeconds = time.Since(start).Seconds()
		if again.Result.Statuses != out.Result.Statuses {
			return res, fmt.Errorf("the resumed aggregation counted %+v, the whole one %+v", again.Result.Statuses, out.Result.Statuses)
		}
	}
	return res, nil
}
