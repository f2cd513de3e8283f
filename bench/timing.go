package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
	"github.com/vibench/vllm-inference-benchmark/simulator/vllmsim"
)

// errStats summarise absolute timing errors, in milliseconds.
type errStats struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean_ms"`
	P50  float64 `json:"p50_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
}

func errStatsOf(abs []float64) errStats {
	if len(abs) == 0 {
		return errStats{}
	}
	slices.Sort(abs)
	sum := 0.0
	for _, v := range abs {
		sum += v
	}
	ms := func(s float64) float64 { return s * 1000 }
	return errStats{N: len(abs), Mean: ms(sum / float64(len(abs))),
		P50: ms(percentile(abs, 50)), P99: ms(percentile(abs, 99)), Max: ms(abs[len(abs)-1])}
}

// percentile of sorted values, interpolating linearly as numpy does.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	pos := p / 100 * float64(len(sorted)-1)
	lo := int(pos)
	if lo+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[lo] + (pos-float64(lo))*(sorted[lo+1]-sorted[lo])
}

// timingErrors compare one client's measured TTFT and ITL with the times
// the simulator's write+flush of each chunk returned.
type timingErrors struct {
	Requests  int      `json:"requests"`  // matched with the chunk log
	Unmatched int      `json:"unmatched"` // no log entry, or a different token count
	Failed    int      `json:"failed"`
	TTFT      errStats `json:"ttft_abs_error"`
	ITL       errStats `json:"itl_abs_error"`
}

// compareTimings joins measurements with chunk-log entries by request id.
// The true TTFT runs from the client's own clock start (converted to the
// wall clock) to the flush of the first token chunk, so its error is the
// first token's delivery delay: loopback, wake-up and client code. Time the
// request spent reaching the handler is real latency, not an error.
func compareTimings(ms []measured, log map[string]vllmsim.ChunkLogEntry) timingErrors {
	var out timingErrors
	var ttft, itl []float64
	for _, m := range ms {
		if !m.OK {
			out.Failed++
			continue
		}
		e, ok := log[m.ID]
		if !ok || len(e.TokenNs) != m.Tokens || len(m.ITL) != len(e.TokenNs)-1 {
			out.Unmatched++
			continue
		}
		out.Requests++
		ttft = append(ttft, math.Abs(m.TTFT-float64(e.TokenNs[0]-m.StartUnixNs)/1e9))
		for k, got := range m.ITL {
			itl = append(itl, math.Abs(got-float64(e.TokenNs[k+1]-e.TokenNs[k])/1e9))
		}
	}
	out.TTFT, out.ITL = errStatsOf(ttft), errStatsOf(itl)
	return out
}

func readChunkLog(path string) (map[string]vllmsim.ChunkLogEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]vllmsim.ChunkLogEntry{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var e vllmsim.ChunkLogEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out[e.RequestID] = e
	}
	return out, sc.Err()
}

// readMeasured splits a measurement file into the engine's and the floor's.
func readMeasured(path string) (engine, floor []measured, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var m measured
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		if strings.HasPrefix(m.ID, floorIDPrefix) {
			floor = append(floor, m)
		} else {
			engine = append(engine, m)
		}
	}
	return engine, floor, sc.Err()
}

// writeSyntheticParts stores n completed chat records with itlValues ITL
// values each, as a 2,000 req/s run with 60 s slices and the engine's
// default part size would have stored them.
func writeSyntheticParts(ctx context.Context, dir, runID string, n, itlValues int) error {
	store, err := results.NewLocal(dir)
	if err != nil {
		return err
	}
	const (
		rate         = 2000.0
		sliceSeconds = 60.0
		partRecords  = 2000
	)
	var part []metrics.Record
	slice, partNo := 0, 0
	flush := func() error {
		if len(part) == 0 {
			return nil
		}
		body, err := results.EncodePart(part)
		if err != nil {
			return err
		}
		part = part[:0]
		partNo++
		return store.Put(ctx, results.PartKey(runID, slice, 0, 1, partNo-1), body)
	}
	for i := range n {
		at := float64(i) / rate
		if s := int(at / sliceSeconds); s != slice {
			if err := flush(); err != nil {
				return err
			}
			slice, partNo = s, 0
		}
		itl := make([]float64, itlValues)
		for k := range itl {
			itl[k] = 0.010 + float64((i+k)%7)*0.0003
		}
		ttft := 0.050 + float64(i%13)*0.001
		part = append(part, metrics.Record{
			RequestID: fmt.Sprintf("bench-0000cafe-%d", i), PromptLen: 512, ExpectedOutputLen: itlValues + 1,
			Success: true, OutputTokens: itlValues + 1, TTFT: ttft, ITL: itl,
			Latency: ttft + float64(itlValues)*0.011, StartTime: at, Error: "",
			Index: i, Status: metrics.StatusCompleted, ScheduledAt: at, Lateness: 0.00005,
		})
		if len(part) == partRecords {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
