package engine

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ServerMetrics is what a vLLM server reported on its own /metrics during a
// slice: gauges averaged (and peaked) over samples, counters as deltas.
type ServerMetrics struct {
	Samples          int     `json:"samples"`
	RunningMean      float64 `json:"server_running"`
	WaitingMean      float64 `json:"server_waiting"`
	WaitingMax       float64 `json:"server_waiting_max"`
	KVCacheUsageMean float64 `json:"kv_cache_usage"`
	KVCacheUsageMax  float64 `json:"kv_cache_usage_max"`
	Preemptions      float64 `json:"preemptions"`
	PromptTokens     float64 `json:"server_prompt_tokens"`
	GenerationTokens float64 `json:"server_generation_tokens"`
}

// vLLM's metric names (v0 and v1 spellings of the cache gauge).
const (
	mRunning     = "vllm:num_requests_running"
	mWaiting     = "vllm:num_requests_waiting"
	mCacheV0     = "vllm:gpu_cache_usage_perc"
	mCacheV1     = "vllm:kv_cache_usage_perc"
	mPreemptions = "vllm:num_preemptions_total"
	mPrompt      = "vllm:prompt_tokens_total"
	mGeneration  = "vllm:generation_tokens_total"
)

// ScrapeVLLM reads a server's /metrics and sums each vLLM metric over its
// label sets.
func ScrapeVLLM(ctx context.Context, hc *http.Client, baseURL string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(baseURL, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "vllm:") {
			continue
		}
		name := line[:strings.IndexAny(line+" ", "{ ")]
		fields := strings.Fields(line[strings.LastIndex(line, "}")+1:])
		if len(fields) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(fields[0], 64); err == nil {
			out[name] += v
		}
	}
	return out, sc.Err()
}

// ServerSampler samples a server's /metrics through a slice.
type ServerSampler struct {
	mu      sync.Mutex
	first   map[string]float64
	last    map[string]float64
	sum     ServerMetrics
	stop    chan struct{}
	stopped chan struct{}
}

// SampleServer starts sampling baseURL every interval until Stop.
func SampleServer(ctx context.Context, baseURL string, every time.Duration) *ServerSampler {
	s := &ServerSampler{stop: make(chan struct{}), stopped: make(chan struct{})}
	hc := &http.Client{Timeout: 5 * time.Second}
	go func() {
		defer close(s.stopped)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			s.sample(ctx, hc, baseURL)
			select {
			case <-t.C:
			case <-s.stop:
				s.sample(ctx, hc, baseURL)
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return s
}

func (s *ServerSampler) sample(ctx context.Context, hc *http.Client, baseURL string) {
	m, err := ScrapeVLLM(ctx, hc, baseURL)
	if err != nil || len(m) == 0 {
		return // a server without /metrics leaves the fields empty
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.first == nil {
		s.first = m
	}
	s.last = m
	cache := max(m[mCacheV0], m[mCacheV1])
	s.sum.Samples++
	s.sum.RunningMean += m[mRunning]
	s.sum.WaitingMean += m[mWaiting]
	s.sum.WaitingMax = max(s.sum.WaitingMax, m[mWaiting])
	s.sum.KVCacheUsageMean += cache
	s.sum.KVCacheUsageMax = max(s.sum.KVCacheUsageMax, cache)
}

// Stop takes a last sample and returns the slice's figures.
func (s *ServerSampler) Stop() ServerMetrics {
	close(s.stop)
	<-s.stopped
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.sum
	if n := float64(out.Samples); n > 0 {
		out.RunningMean /= n
		out.WaitingMean /= n
		out.KVCacheUsageMean /= n
		out.Preemptions = s.last[mPreemptions] - s.first[mPreemptions]
		out.PromptTokens = s.last[mPrompt] - s.first[mPrompt]
		out.GenerationTokens = s.last[mGeneration] - s.first[mGeneration]
	}
	return out
}
