package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/datasets"
	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/loadgen"
	"github.com/vibench/vllm-inference-benchmark/loadgen/schedule"
	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
)

const (
	benchModel  = "meta-llama/Llama-3.1-8B-Instruct"
	benchPrompt = "Write a long story about a load generator that was never the bottleneck."

	engineIDPrefix = "gen-"
	floorIDPrefix  = "floor-"
)

// Job kinds.
const (
	kindLoad        = "load"         // fixed completions requests, optional floor probes
	kindStress      = "stress"       // the stress shape through engine.NewPlan and engine.Recorder
	kindAggregate   = "aggregate"    // engine.Aggregate over stored parts
	kindAggregateS3 = "aggregate-s3" // engine.Aggregate over a run on an S3 endpoint (Base)
)

// job is what the orchestrator asks one generator child to do.
type job struct {
	Kind string `json:"kind"`
	Base string `json:"base,omitempty"` // simulator root URL

	Rate           float64 `json:"rate,omitempty"` // requests/s; 0 sends everything at once (inf)
	Requests       int     `json:"requests"`
	MaxConcurrency int     `json:"max_concurrency,omitempty"`
	Tokens         int     `json:"tokens,omitempty"` // output tokens per request
	Seed           int64   `json:"seed"`
	// Measure is a file for per-request timings (JSON lines); empty: none.
	Measure string `json:"measure,omitempty"`
	// Floor probes run alongside the engine's load: FloorRequests at
	// FloorRate per second (Poisson), FloorTokens each.
	FloorRate     float64 `json:"floor_rate,omitempty"`
	FloorRequests int     `json:"floor_requests,omitempty"`

	// Checkpoint: the aggregation stores a checkpoint every few seconds,
	// then resumes from the last one (kindAggregateS3).
	Checkpoint bool `json:"checkpoint,omitempty"`

	StoreDir   string `json:"store_dir,omitempty"`
	RunID      string `json:"run_id,omitempty"`
	CPUProfile string `json:"cpu_profile,omitempty"`
}

// measured is one request's timing as a client saw it.
type measured struct {
	ID string `json:"id"`
	// StartUnixNs is when the client's TTFT clock started, on the wall
	// clock that the simulator's chunk log uses too.
	StartUnixNs int64     `json:"start_unix_ns"`
	OK          bool      `json:"ok"`
	Error       string    `json:"error,omitempty"`
	Tokens      int       `json:"tokens"`
	TTFT        float64   `json:"ttft"`
	ITL         []float64 `json:"itl"`
	Lateness    float64   `json:"lateness"`
}

type rssSample struct {
	T  float64 `json:"t"`  // seconds since the run started
	MB float64 `json:"mb"` // VmRSS
}

// genResult is what a generator child reports.
type genResult struct {
	Stats     loadgen.Stats `json:"stats"`
	Completed int           `json:"completed"`
	Failed    int           `json:"failed"`
	Tokens    int64         `json:"tokens"` // output tokens of the engine's completed requests
	FirstErr  string        `json:"first_error,omitempty"`

	// CPU time of the measured phase; the floor probes' threads are
	// subtracted from EngineCPUSeconds.
	EngineCPUSeconds float64 `json:"engine_cpu_s"`
	FloorCPUSeconds  float64 `json:"floor_cpu_s"`
	// ReadCalls is how many read system calls the process made in the
	// measured phase (/proc/self/io syscr), floor probes included.
	ReadCalls   int64 `json:"read_calls"`
	FloorTokens int64 `json:"floor_tokens"`
	FloorFailed int   `json:"floor_failed,omitempty"`

	SetupSeconds   float64     `json:"setup_s,omitempty"`
	SetupRSSMB     float64     `json:"setup_rss_mb,omitempty"`      // VmRSS once the plan was built
	SetupPeakMB    float64     `json:"setup_peak_rss_mb,omitempty"` // VmHWM up to then
	RunPeakRSSMB   float64     `json:"run_peak_rss_mb,omitempty"`   // VmHWM of the measured phase alone
	PeakResetWorks bool        `json:"peak_reset_works,omitempty"`
	RSS            []rssSample `json:"rss,omitempty"`

	AggregateSeconds  float64 `json:"aggregate_s,omitempty"`
	AggregatedRecords int     `json:"aggregated_records,omitempty"`
	AggregatePasses   int     `json:"aggregate_passes,omitempty"`
	// With job.Checkpoint: the checkpoints stored (the last one's size, the
	// puts' time) and the resumed aggregation from the last one.
	Checkpoints     int     `json:"checkpoints,omitempty"`
	CheckpointMB    float64 `json:"checkpoint_mb,omitempty"`
	CheckpointPutS  float64 `json:"checkpoint_put_s,omitempty"`
	ResumeFromPass  int     `json:"resume_from_pass,omitempty"`
	ResumeFromSlice int     `json:"resume_from_slice,omitempty"`
	ResumeSeconds   float64 `json:"resume_s,omitempty"`

	// Filled by the orchestrator from wait4: the child's whole life.
	ProcessCPUSeconds float64 `json:"process_cpu_s"`
	ProcessMaxRSSMB   float64 `json:"process_max_rss_mb"`
}

func genMain(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: bench %s '<job json>'", modeGen)
	}
	var j job
	if err := json.Unmarshal([]byte(args[0]), &j); err != nil {
		return err
	}
	var (
		res genResult
		err error
	)
	switch j.Kind {
	case kindLoad:
		res, err = runLoad(j)
	case kindStress:
		res, err = runStress(j)
	case kindAggregate:
		res, err = runAggregate(j)
	case kindAggregateS3:
		res, err = runAggregateS3(j)
	default:
		err = fmt.Errorf("unknown job kind %q", j.Kind)
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// profile CPU-profiles fn into path when path is set.
func profile(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	return fn()
}

// arrivals is the vLLM schedule for n requests at rate (Poisson); rate 0
// sends everything at once.
func arrivals(n int, rate float64, seed int64) ([]loadgen.Arrival, error) {
	r := rate
	if r == 0 {
		r = math.Inf(1)
	}
	offsets, err := schedule.Offsets(schedule.Params{N: n, RequestRate: r, Burstiness: 1, Seed: seed})
	if err != nil {
		return nil, err
	}
	out := make([]loadgen.Arrival, n)
	for i, off := range offsets {
		out[i] = loadgen.Arrival{Index: i, Offset: off}
	}
	return out, nil
}

// runLoad sends j.Requests completions requests through loadgen.Run and,
// alongside, the floor probes; it reports CPU time and (with j.Measure)
// every request's timings.
func runLoad(j job) (genResult, error) {
	ctx := context.Background()
	var res genResult
	client, err := loadgen.NewClient(loadgen.ClientOptions{
		Backend: loadgen.BackendOpenAI, URL: j.Base + "/v1/completions", Model: benchModel,
		IgnoreEOS: true, MaxConcurrency: j.MaxConcurrency,
	})
	if err != nil {
		return res, err
	}
	defer client.Close()
	sample := datasets.Sample{Prompt: benchPrompt, PromptLen: 16, ExpectedOutputLen: j.Tokens}
	if rec := client.Do(ctx, sample, "warmup"); !rec.Success {
		return res, fmt.Errorf("warm-up request failed: %s", rec.Error)
	}
	engineArrivals, err := arrivals(j.Requests, j.Rate, j.Seed)
	if err != nil {
		return res, err
	}
	var floorArrivals []loadgen.Arrival
	var floor *floorClient
	if j.FloorRequests > 0 {
		if floorArrivals, err = arrivals(j.FloorRequests, j.FloorRate, j.Seed+1); err != nil {
			return res, err
		}
		if floor, err = newFloorClient(j.Base); err != nil {
			return res, err
		}
	}

	var engineRecs []measured
	var floorRecs []floorResult
	err = profile(j.CPUProfile, func() error {
		t0 := time.Now().Add(100 * time.Millisecond)
		cpu0, reads0 := processCPUSeconds(), readCalls()
		var floorWG sync.WaitGroup
		floorOut := make(chan floorResult, len(floorArrivals))
		floorWG.Go(func() {
			var each sync.WaitGroup
			for _, a := range floorArrivals {
				time.Sleep(time.Until(t0.Add(time.Duration(a.Offset * float64(time.Second)))))
				id := fmt.Sprintf("%s%d", floorIDPrefix, a.Index)
				each.Go(func() { floorOut <- floor.do(id, j.Tokens) })
			}
			each.Wait()
		})
		st, err := loadgen.Run(ctx, loadgen.RunOptions{
			Client: client, Samples: func(int) (datasets.Sample, error) { return sample, nil },
			Arrivals: engineArrivals, T0: t0, MaxConcurrency: j.MaxConcurrency,
			RequestIDPrefix: engineIDPrefix,
			Sink: func(r metrics.Record) {
				if r.Status != metrics.StatusCompleted {
					res.Failed++
					if res.FirstErr == "" {
						res.FirstErr = r.Error
					}
					return
				}
				res.Completed++
				res.Tokens += int64(r.OutputTokens)
				if j.Measure != "" {
					engineRecs = append(engineRecs, measured{ID: r.RequestID, StartUnixNs: monoToUnixNs(r.StartTime), OK: r.Success, Error: r.Error,
						Tokens: r.OutputTokens, TTFT: r.TTFT, ITL: r.ITL, Lateness: r.Lateness})
				}
			},
		})
		floorWG.Wait()
		close(floorOut)
		for f := range floorOut {
			floorRecs = append(floorRecs, f)
			res.FloorCPUSeconds += f.CPUSeconds
			res.FloorTokens += int64(f.Tokens)
			if !f.OK {
				res.FloorFailed++
			}
		}
		res.Stats = st
		res.EngineCPUSeconds = processCPUSeconds() - cpu0 - res.FloorCPUSeconds
		res.ReadCalls = readCalls() - reads0
		return err
	})
	if err != nil {
		return res, err
	}
	if j.Measure != "" {
		if err := writeMeasured(j.Measure, engineRecs, floorRecs); err != nil {
			return res, err
		}
	}
	return res, nil
}

// monoToUnixNs converts a Record.StartTime (loadgen's monotonic seconds)
// to Unix nanoseconds, anchored once so that the conversion keeps the
// monotonic clock's intervals.
var monoToUnixNs = func() func(float64) int64 {
	now := time.Now()
	base := now.UnixNano() - int64(loadgen.MonotonicSeconds(now)*1e9)
	return func(s float64) int64 { return base + int64(s*1e9) }
}()

func writeMeasured(path string, engineRecs []measured, floorRecs []floorResult) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, m := range engineRecs {
		if err := enc.Encode(m); err != nil {
			return err
		}
	}
	for _, m := range floorRecs {
		if err := enc.Encode(m.measured); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// stressRequest is the production stress shape (sonnet 512/128/2, the
// demo's chat request) at rate, for n requests.
func stressRequest(n int, rate float64, seed int64) config.Request {
	r := config.Rate(rate)
	return config.Request{
		Model: benchModel, Backend: loadgen.BackendOpenAIChat, DatasetName: "sonnet",
		SonnetInputLen: 512, SonnetPrefixLen: 128, SonnetOutputLen: 2,
		NumPrompts: n, RequestRate: &r, Seed: seed, SliceSeconds: 60,
	}.Defaults()
}

// rssSampler records VmRSS at a fixed cadence.
type rssSampler struct {
	start   time.Time
	stopped chan struct{}
	done    chan []rssSample
}

func sampleRSS(every time.Duration) *rssSampler {
	s := &rssSampler{start: time.Now(), stopped: make(chan struct{}), done: make(chan []rssSample, 1)}
	go func() {
		var out []rssSample
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			out = append(out, rssSample{T: time.Since(s.start).Seconds(), MB: procStatusMB("VmRSS")})
			select {
			case <-t.C:
			case <-s.stopped:
				s.done <- out
				return
			}
		}
	}()
	return s
}

func (s *rssSampler) stop() []rssSample {
	close(s.stopped)
	return <-s.done
}

// runStress builds the plan as a worker does (tokenizer, sonnet dataset,
// schedule), then sends the whole schedule with every record going to part
// files through engine.Recorder, sampling RSS as it goes.
func runStress(j job) (genResult, error) {
	ctx := context.Background()
	var res genResult
	req := stressRequest(j.Requests, j.Rate, j.Seed)
	setup := time.Now()
	plan, err := engine.NewPlan(ctx, req, j.Base)
	if err != nil {
		return res, err
	}
	client, err := plan.Client(j.Base)
	if err != nil {
		return res, err
	}
	store, err := results.NewLocal(j.StoreDir)
	if err != nil {
		return res, err
	}
	res.SetupSeconds = time.Since(setup).Seconds()
	res.SetupRSSMB = procStatusMB("VmRSS")
	res.SetupPeakMB = procStatusMB("VmHWM")
	res.PeakResetWorks = resetPeakRSS()

	err = profile(j.CPUProfile, func() error {
		rss := sampleRSS(500 * time.Millisecond)
		defer func() { res.RSS = rss.stop() }()
		rec := &engine.Recorder{Store: store, RunID: j.RunID, Attempt: 1}
		rec.Start()
		cpu0, reads0 := processCPUSeconds(), readCalls()
		st, err := loadgen.Run(ctx, loadgen.RunOptions{
			Client: client, Samples: plan.Dataset.Sample, Arrivals: plan.AllArrivals(),
			MaxConcurrency: req.MaxConcurrency, RequestIDPrefix: engine.RequestIDPrefix(req, j.RunID, 0),
			Sink: func(r metrics.Record) {
				if r.Status == metrics.StatusCompleted {
					res.Completed++
					res.Tokens += int64(r.OutputTokens)
				} else {
					res.Failed++
					if res.FirstErr == "" {
						res.FirstErr = r.Error
					}
				}
				rec.Add(r)
			},
		})
		if cerr := rec.Close(context.WithoutCancel(ctx)); err == nil {
			err = cerr
		}
		res.Stats = st
		res.EngineCPUSeconds = processCPUSeconds() - cpu0
		res.ReadCalls = readCalls() - reads0
		res.RunPeakRSSMB = procStatusMB("VmHWM")
		return err
	})
	return res, err
}

// aggregateRequest is the request the synthetic aggregation run claims.
func aggregateRequest(n int) config.Request {
	return stressRequest(n, 2000, 0)
}

// runAggregate runs engine.Aggregate over the parts already in j.StoreDir.
func runAggregate(j job) (genResult, error) {
	var res genResult
	store, err := results.NewLocal(j.StoreDir)
	if err != nil {
		return res, err
	}
	res.SetupRSSMB = procStatusMB("VmRSS")
	err = profile(j.CPUProfile, func() error {
		cpu0 := processCPUSeconds()
		start := time.Now()
		out, err := engine.Aggregate(context.Background(), store, j.RunID, engine.AggregateOptions{
			Request: aggregateRequest(j.Requests), Model: benchModel, Date: time.Now(), Scheduled: j.Requests,
		})
		if err != nil {
			return err
		}
		res.AggregateSeconds = time.Since(start).Seconds()
		res.EngineCPUSeconds = processCPUSeconds() - cpu0
		res.AggregatedRecords = out.Result.Statuses.Completed + out.Result.Statuses.Failed + out.Result.Statuses.Interrupted
		res.Completed = out.Result.Completed
		return nil
	})
	res.RunPeakRSSMB = procStatusMB("VmHWM")
	return res, err
}
