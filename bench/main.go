// Command bench measures the load generator against the project's simulator
// on this machine: capacity, timing accuracy against the simulator's chunk
// log and a minimal blocking-socket client (the machine's floor), 1,000
// concurrent streams, memory over long stress runs, and aggregation of a
// large stored run. It prints a table with the targets next to each figure
// and writes everything as JSON; nothing is asserted.
//
// The simulator runs in a child process pinned to core 1 and the generator
// in another child pinned to core 0 (taskset), so each one's CPU time and
// peak RSS are its own.
//
//	go run ./bench                 # every scenario, a few minutes on 2 cores
//	go run ./bench --quick         # CI-sized
//	go run ./bench --scenarios accuracy --rates 200,500
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == modeSim:
		err = simMain(os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == modeGen:
		err = genMain(os.Args[2:])
	default:
		err = benchMain(os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

var allScenarios = []string{"capacity", "accuracy", "concurrency", "stress", "aggregation", "storage"}

// options are the orchestrator's flags; zero sizes mean "the default for
// --quick or for a full run".
type options struct {
	scenarios        []string
	quick            bool
	noFloor          bool
	out, markdown    string
	profileDir       string
	keep             bool
	concurrencies    []int
	capacityRequests int
	rates            []float64
	accuracySeconds  float64
	streams, tokens  int
	stressRequests   []int
	stressRate       float64
	aggRecords       int
	// storage: the shares of the real shape and each record's output tokens.
	storageFractions []float64
	storageTokens    int
}

func parseOptions(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	scenarios := fs.String("scenarios", strings.Join(allScenarios, ","), "comma-separated subset of "+strings.Join(allScenarios, ","))
	fs.BoolVar(&o.quick, "quick", false, "CI-sized runs (about a minute)")
	fs.StringVar(&o.out, "out", "bench-results.json", "write every figure as JSON here")
	fs.StringVar(&o.markdown, "markdown", "", "also write the machine description and the table as markdown here")
	fs.StringVar(&o.profileDir, "cpuprofile-dir", "", "write a pprof CPU profile of each generator run here")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (chunk logs, measurements, stores)")
	fs.BoolVar(&o.noFloor, "no-floor", false, "accuracy: no floor probes beside the engine (their threads share its core)")
	concurrencies := fs.String("concurrencies", "64,256,1024", "capacity: max_concurrency values")
	fs.IntVar(&o.capacityRequests, "capacity-requests", 0, "capacity: requests per level (default 8x the concurrency, at least 4000; quick: 2x, at least 500)")
	rates := fs.String("rates", "100,200,500,1000", "accuracy: Poisson request rates")
	fs.Float64Var(&o.accuracySeconds, "accuracy-seconds", 0, "accuracy: seconds of arrivals per rate (default 6; quick 2)")
	fs.IntVar(&o.streams, "streams", 0, "concurrency: concurrent streams (default 1000; quick 200)")
	fs.IntVar(&o.tokens, "stream-tokens", 0, "concurrency: tokens per stream (default 1024; quick 256)")
	stress := fs.String("stress-requests", "", "stress: run lengths in requests (default 100000,500000; quick 10000,50000)")
	fs.Float64Var(&o.stressRate, "stress-rate", 2000, "stress: request rate")
	fs.IntVar(&o.aggRecords, "agg-records", 0, "aggregation: stored records (default 500000; quick 100000)")
	fractions := fs.String("storage-fractions", "", "storage: shares of the real shape (default 0.25,0.5,1; quick 0.05,0.1)")
	fs.IntVar(&o.storageTokens, "storage-output-tokens", 2, "storage: output tokens of each stored request (its ITL values are one fewer)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.scenarios = strings.Split(*scenarios, ",")
	for _, s := range o.scenarios {
		if !contains(allScenarios, s) {
			return o, fmt.Errorf("--scenarios: unknown %q", s)
		}
	}
	var err error
	if o.concurrencies, err = parseList(*concurrencies, strconv.Atoi); err != nil {
		return o, fmt.Errorf("--concurrencies: %w", err)
	}
	if o.rates, err = parseList(*rates, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }); err != nil {
		return o, fmt.Errorf("--rates: %w", err)
	}
	if *stress == "" {
		*stress = pick(o.quick, "10000,50000", "100000,500000")
	}
	if o.stressRequests, err = parseList(*stress, strconv.Atoi); err != nil {
		return o, fmt.Errorf("--stress-requests: %w", err)
	}
	if *fractions == "" {
		*fractions = pick(o.quick, "0.05,0.1", "0.25,0.5,1")
	}
	if o.storageFractions, err = parseList(*fractions, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }); err != nil {
		return o, fmt.Errorf("--storage-fractions: %w", err)
	}
	if o.storageTokens < 1 {
		return o, fmt.Errorf("--storage-output-tokens: must be at least 1, got %d", o.storageTokens)
	}
	o.accuracySeconds = orDefault(o.accuracySeconds, pick(o.quick, 2.0, 6.0))
	o.streams = orDefault(o.streams, pick(o.quick, 200, 1000))
	o.tokens = orDefault(o.tokens, pick(o.quick, 256, 1024))
	o.aggRecords = orDefault(o.aggRecords, pick(o.quick, 100_000, 500_000))
	return o, nil
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func pick[T any](quick bool, q, full T) T {
	if quick {
		return q
	}
	return full
}

func orDefault[T int | float64](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

func parseList[T any](s string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for f := range strings.SplitSeq(s, ",") {
		v, err := parse(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (o options) capacityRequestsFor(concurrency int) int {
	if o.capacityRequests > 0 {
		return o.capacityRequests
	}
	if o.quick {
		return max(2*concurrency, 500)
	}
	return max(8*concurrency, 4000)
}

func benchMain(args []string) error {
	o, err := parseOptions(args)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "vib-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "bench: keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
	}
	b := &bench{opts: o, tmp: tmp, pin: detectPinning()}
	b.rep.Machine = describeMachine()
	b.rep.Pinning = b.pin.String()
	b.rep.Command = "go run ./bench " + strings.Join(args, " ")
	b.rep.Started = time.Now().UTC().Format(time.RFC3339)
	fmt.Fprintf(os.Stderr, "bench: %s; %s\n", b.rep.Machine, b.rep.Pinning)

	steps := map[string]func() error{
		"capacity": b.capacity, "accuracy": b.accuracy, "concurrency": b.concurrency,
		"stress": b.stress, "aggregation": b.aggregation, "storage": b.storage,
	}
	var errs []error
	for _, s := range allScenarios {
		if !contains(o.scenarios, s) {
			continue
		}
		start := time.Now()
		if err := steps[s](); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s, err))
			fmt.Fprintf(os.Stderr, "bench: %s failed: %v\n", s, err)
		}
		fmt.Fprintf(os.Stderr, "bench: %s took %.0f s\n", s, time.Since(start).Seconds())
	}
	b.rep.Finished = time.Now().UTC().Format(time.RFC3339)

	table := b.rep.table()
	fmt.Print(table)
	if err := writeJSON(o.out, b.rep); err != nil {
		errs = append(errs, err)
	}
	if o.markdown != "" {
		md := fmt.Sprintf("Machine: %s\n\nPinning: %s\n\nCommand: `%s` (started %s, finished %s)\n\n%s",
			b.rep.Machine, b.rep.Pinning, b.rep.Command, b.rep.Started, b.rep.Finished, table)
		if err := os.WriteFile(o.markdown, []byte(md), 0o644); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// describeMachine names the CPU, the core count, the kernel and the load
// average at the start (other work on the machine skews every figure).
func describeMachine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if name, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
				break
			}
		}
	}
	var uts syscall.Utsname
	kernel := ""
	if syscall.Uname(&uts) == nil {
		var sb strings.Builder
		for _, c := range uts.Release {
			if c == 0 {
				break
			}
			sb.WriteByte(byte(c))
		}
		kernel = ", Linux " + sb.String()
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = ", load average " + strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return fmt.Sprintf("%d CPUs (nproc), %s%s, %s%s; getpid(2) costs %s, time.Now %s",
		runtime.NumCPU(), model, kernel, runtime.Version(), load, costOf(func() { syscall.Getpid() }), costOf(func() { time.Now() }))
}

// costOf times fn: system-call cost sets the floor of every per-token
// CPU figure (a virtual machine may make it ten times a bare machine's).
func costOf(fn func()) time.Duration {
	const n = 200_000
	start := time.Now()
	for range n {
		fn()
	}
	return time.Since(start) / n
}

// bench runs the scenarios and collects their figures.
type bench struct {
	opts options
	tmp  string
	pin  pinning
	rep  report
}

func (b *bench) path(name string) string { return filepath.Join(b.tmp, name) }

func (b *bench) profilePath(name string) string {
	if b.opts.profileDir == "" {
		return ""
	}
	return filepath.Join(b.opts.profileDir, name+".pprof")
}

// withSim runs fn against a fresh simulator child and stops it afterwards
// (which flushes its chunk log).
func (b *bench) withSim(s simSettings, fn func(base string) error) error {
	sim, err := b.pin.startSim(s)
	if err != nil {
		return err
	}
	err = fn(sim.Base)
	return errors.Join(err, sim.stop())
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// capacity runs each concurrency with the simulator flushing every token
// event alone (then the simulator's core is the limit) and in groups of
// capacityBurst, as vLLM's multi-step scheduling emits them.
func (b *bench) capacity() error {
	for _, flush := range []int{1, capacityBurst} {
		for _, c := range b.opts.concurrencies {
			n := b.opts.capacityRequestsFor(c)
			progress("capacity: max_concurrency %d, %d requests, %d token events per flush", c, n, flush)
			var g genResult
			err := b.withSim(simSettings{FlushEvery: flush}, func(base string) (err error) {
				g, err = b.pin.runGenerator(job{Kind: kindLoad, Base: base, Requests: n, MaxConcurrency: c,
					Tokens: 128, Seed: 1, CPUProfile: b.profilePath(fmt.Sprintf("capacity-c%d-f%d", c, flush))}, 10*time.Minute)
				return err
			})
			if err != nil {
				return err
			}
			b.rep.Capacity = append(b.rep.Capacity, capacityOf(c, n, flush, g))
		}
	}
	return nil
}

// capacityBurst is --num-scheduler-steps in the stress shape: 16 tokens per step.
const capacityBurst = 16

// loadWithTruth runs one load job against a simulator with a chunk log and
// compares both clients' timings with it.
func (b *bench) loadWithTruth(name string, ttft, itl time.Duration, j job) (genResult, timingErrors, timingErrors, error) {
	chunkLog, measure := b.path(name+".chunks.jsonl"), b.path(name+".measured.jsonl")
	j.Measure = measure
	j.CPUProfile = b.profilePath(name)
	var g genResult
	err := b.withSim(simSettings{TTFT: ttft, ITL: itl, ChunkLog: chunkLog}, func(base string) (err error) {
		j.Base = base
		g, err = b.pin.runGenerator(j, 10*time.Minute)
		return err
	})
	if err != nil {
		return g, timingErrors{}, timingErrors{}, err
	}
	log, err := readChunkLog(chunkLog)
	if err != nil {
		return g, timingErrors{}, timingErrors{}, err
	}
	engineMs, floorMs, err := readMeasured(measure)
	if err != nil {
		return g, timingErrors{}, timingErrors{}, err
	}
	return g, compareTimings(engineMs, log), compareTimings(floorMs, log), nil
}

func (b *bench) accuracy() error {
	for _, rate := range b.opts.rates {
		n := max(int(rate*b.opts.accuracySeconds), 1)
		floorRate := min(max(rate/10, 10), 50)
		floorN := max(int(floorRate*b.opts.accuracySeconds), 1)
		if b.opts.noFloor {
			floorN = 0
		}
		progress("accuracy: Poisson %g req/s, %d requests (+%d floor probes)", rate, n, floorN)
		g, eng, fl, err := b.loadWithTruth(fmt.Sprintf("accuracy-%g", rate), 100*time.Millisecond, 20*time.Millisecond,
			job{Kind: kindLoad, Rate: rate, Requests: n, Tokens: 128, Seed: 2, FloorRate: floorRate, FloorRequests: floorN})
		if err != nil {
			return err
		}
		b.rep.Accuracy = append(b.rep.Accuracy, accuracyOf(rate, n, 128, g, eng, fl))
	}
	return nil
}

func (b *bench) concurrency() error {
	n, tokens := b.opts.streams, b.opts.tokens
	progress("concurrency: %d streams of %d tokens at ITL 20 ms (+10 floor streams)", n, tokens)
	g, eng, fl, err := b.loadWithTruth("concurrency", 100*time.Millisecond, 20*time.Millisecond,
		job{Kind: kindLoad, Requests: n, Tokens: tokens, Seed: 3, FloorRate: 10, FloorRequests: 10})
	if err != nil {
		return err
	}
	r := accuracyOf(0, n, tokens, g, eng, fl)
	b.rep.Concurrency = &r
	return nil
}

func (b *bench) stress() error {
	var errs []error
	for _, n := range b.opts.stressRequests {
		progress("stress: sonnet 512/128/2 chat, %d requests at %g req/s", n, b.opts.stressRate)
		dir := b.path(fmt.Sprintf("stress-%d", n))
		var g genResult
		err := b.withSim(simSettings{TTFT: 10 * time.Millisecond, ITL: 10 * time.Millisecond}, func(base string) (err error) {
			g, err = b.pin.runGenerator(job{Kind: kindStress, Base: base, Rate: b.opts.stressRate, Requests: n,
				Seed: 4, StoreDir: dir, RunID: "stress", CPUProfile: b.profilePath(fmt.Sprintf("stress-%d", n))},
				2*time.Minute+time.Duration(float64(n)/b.opts.stressRate*3*float64(time.Second)))
			return err
		})
		if !b.opts.keep {
			_ = os.RemoveAll(dir)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%d requests: %w", n, err))
			continue // a longer run may still show what the shorter could not
		}
		b.rep.Stress = append(b.rep.Stress, stressOf(n, b.opts.stressRate, g))
	}
	return errors.Join(errs...)
}

func (b *bench) aggregation() error {
	n := b.opts.aggRecords
	dir := b.path("aggregate")
	progress("aggregation: writing %d synthetic records with 10 ITL values each", n)
	start := time.Now()
	if err := writeSyntheticParts(context.Background(), dir, "agg", n, 10); err != nil {
		return err
	}
	progress("aggregation: parts written in %.1f s; aggregating", time.Since(start).Seconds())
	g, err := b.pin.runGenerator(job{Kind: kindAggregate, Requests: n, StoreDir: dir, RunID: "agg",
		CPUProfile: b.profilePath("aggregation")}, 10*time.Minute)
	if err != nil {
		return err
	}
	if g.AggregatedRecords != n {
		return fmt.Errorf("aggregated %d records, stored %d", g.AggregatedRecords, n)
	}
	b.rep.Aggregation = &aggregationResult{Records: n, Seconds: g.AggregateSeconds, CPUSeconds: g.EngineCPUSeconds,
		PeakRSSMB: max(g.RunPeakRSSMB, g.ProcessMaxRSSMB), Gen: g}
	return nil
}
