package vllmsim_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vibench/vllm-inference-benchmark/simulator/vllmsim"
)

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func TestTimingFollowsConfig(t *testing.T) {
	log := &syncBuffer{}
	const ttft, perTok, itl = 60 * time.Millisecond, 2 * time.Millisecond, 25 * time.Millisecond
	sim, ts := start(t, vllmsim.Config{TTFT: ttft, TTFTPerPromptToken: perTok, ITL: itl, ChunkLog: log})
	prompt := "0123456789012345678901234567890123456789" // 10 tokens -> TTFT 80 ms
	sent := time.Now()
	resp := post(t, ts.URL+"/v1/chat/completions", chatBody(prompt, 6, true), "timing-1")
	events, err := readEvents(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	wantTTFT := ttft + 10*perTok
	gotTTFT := events[0].at.Sub(sent)
	// Loose bounds: never early, and not absurdly late on a busy machine.
	if gotTTFT < wantTTFT || gotTTFT > wantTTFT+300*time.Millisecond {
		t.Errorf("client TTFT %.1f ms, configured %.1f ms", ms(gotTTFT), ms(wantTTFT))
	}
	// Tokens 2..6 come one ITL apart on absolute deadlines, so the last
	// lands 5 ITLs after the first was due, however late single wakeups were.
	last := events[6].at.Sub(sent)
	if want := wantTTFT + 5*itl; last < want || last > want+300*time.Millisecond {
		t.Errorf("last token after %.1f ms, want about %.1f", ms(last), ms(want))
	}

	if err := sim.FlushChunkLog(); err != nil {
		t.Fatal(err)
	}
	entries := log.entries(t)
	if len(entries) != 1 {
		t.Fatalf("%d chunk log entries", len(entries))
	}
	e := entries[0]
	if e.RequestID != "timing-1" || e.Endpoint != "chat" || !e.Stream || e.Status != 200 || e.PromptTokens != 10 || e.CompletionTokens != 6 || len(e.TokenNs) != 6 {
		t.Fatalf("entry %+v", e)
	}
	times := append([]int64{e.ArrivalNs, e.StartNs, e.RoleNs}, e.TokenNs...)
	times = append(times, e.UsageNs, e.DoneNs)
	if !slices.IsSorted(times) {
		t.Errorf("chunk times out of order: %v", times)
	}
	if d := time.Duration(e.RoleNs - e.StartNs); d < wantTTFT {
		t.Errorf("server TTFT %.1f ms before the configured %.1f", ms(d), ms(wantTTFT))
	}
	// The server's own ITL never undercuts the schedule by more than
	// clock noise, and the total matches the absolute schedule.
	total := time.Duration(e.TokenNs[5] - e.StartNs)
	if want := wantTTFT + 5*itl; total < want || total > want+200*time.Millisecond {
		t.Errorf("last token at %.1f ms after start, scheduled at %.1f", ms(total), ms(want))
	}
}

func TestQueueingWithMaxNumSeqs(t *testing.T) {
	log := &syncBuffer{}
	sim, ts := start(t, vllmsim.Config{MaxNumSeqs: 1, TTFT: 80 * time.Millisecond, ITL: 10 * time.Millisecond, ChunkLog: log})
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := post(t, ts.URL+"/v1/completions", completionsBody("x", 3, true), fmt.Sprint("q", i))
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
		time.Sleep(15 * time.Millisecond) // fix the arrival order
	}
	// While the first runs, the other two wait.
	m := scrape(t, ts.URL)
	if m[metric("vllm:num_requests_running")] != 1 || m[metric("vllm:num_requests_waiting")] != 2 {
		t.Errorf("running %v waiting %v, want 1 and 2", m[metric("vllm:num_requests_running")], m[metric("vllm:num_requests_waiting")])
	}
	wg.Wait()
	if err := sim.FlushChunkLog(); err != nil {
		t.Fatal(err)
	}
	entries := log.entries(t)
	slices.SortFunc(entries, func(a, b vllmsim.ChunkLogEntry) int { return int(a.ArrivalNs - b.ArrivalNs) })
	for i, e := range entries {
		if e.RequestID != fmt.Sprint("q", i) {
			t.Fatalf("arrival order %v", entries)
		}
		if i > 0 {
			prev := entries[i-1]
			if e.StartNs < prev.TokenNs[len(prev.TokenNs)-1] {
				t.Errorf("%s started before %s finished", e.RequestID, prev.RequestID)
			}
			// The TTFT clock starts at the slot grant, not at arrival.
			if d := time.Duration(e.TokenNs[0] - e.StartNs); d < 80*time.Millisecond {
				t.Errorf("%s: first token %.1f ms after its slot", e.RequestID, ms(d))
			}
		}
	}
	m = scrape(t, ts.URL)
	if m[metric("vllm:num_requests_running")] != 0 || m[metric("vllm:num_requests_waiting")] != 0 {
		t.Errorf("after the run: %v", m)
	}
}

func TestFaultHTTPErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  vllmsim.Config
		want int
	}{
		{vllmsim.Config{Fail500Rate: 1}, http.StatusInternalServerError},
		{vllmsim.Config{Fail503Rate: 1}, http.StatusServiceUnavailable},
	} {
		_, ts := start(t, tc.cfg)
		resp := post(t, ts.URL+"/v1/chat/completions", chatBody("x", 3, true), "f")
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || resp.Header.Get("X-Request-Id") != "f" {
			t.Errorf("status %d (want %d), body %s", resp.StatusCode, tc.want, body)
		}
	}
}

func TestFaultRatesAreSeeded(t *testing.T) {
	statuses := func() []int {
		_, ts := start(t, vllmsim.Config{Fail500Rate: 0.3, Fail503Rate: 0.3, Seed: 7})
		var out []int
		for range 30 {
			resp := post(t, ts.URL+"/v1/completions", completionsBody("x", 1, false), "")
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			out = append(out, resp.StatusCode)
		}
		return out
	}
	a, b := statuses(), statuses()
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different faults:\n%v\n%v", a, b)
	}
	for _, code := range []int{200, 500, 503} {
		if !slices.Contains(a, code) {
			t.Errorf("30 requests at rates 0.4/0.3/0.3 gave no %d: %v", code, a)
		}
	}
}

func TestFaultDisconnect(t *testing.T) {
	log := &syncBuffer{}
	sim, ts := start(t, vllmsim.Config{DisconnectRate: 1, ChunkLog: log})
	resp := post(t, ts.URL+"/v1/completions", completionsBody("x", 10, true), "d")
	events, err := readEvents(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatalf("stream ended cleanly after %d events", len(events))
	}
	if len(events) < 1 || len(events) >= 10 {
		t.Errorf("cut after %d token events, want between 1 and 9", len(events))
	}
	if err := sim.FlushChunkLog(); err != nil {
		t.Fatal(err)
	}
	e := log.entries(t)[0]
	if e.Fault != "disconnect" || !e.Aborted || e.CompletionTokens != len(events) || e.DoneNs != 0 {
		t.Errorf("entry %+v after %d events", e, len(events))
	}
	if got := scrape(t, ts.URL)[metric("vllm:request_success_total", `finished_reason="abort"`)]; got != 1 {
		t.Errorf("abort count %v", got)
	}
}

func TestFaultStall(t *testing.T) {
	log := &syncBuffer{}
	const stall = 300 * time.Millisecond
	sim, ts := start(t, vllmsim.Config{StallRate: 1, StallDuration: stall, ITL: 5 * time.Millisecond, ChunkLog: log})
	resp := post(t, ts.URL+"/v1/completions", completionsBody("x", 8, true), "s")
	events, err := readEvents(resp.Body)
	resp.Body.Close()
	if err != nil || len(events) != 10 {
		t.Fatalf("%d events, %v", len(events), err)
	}
	if err := sim.FlushChunkLog(); err != nil {
		t.Fatal(err)
	}
	e := log.entries(t)[0]
	var long int
	for i := 1; i < len(e.TokenNs); i++ {
		if time.Duration(e.TokenNs[i]-e.TokenNs[i-1]) >= stall {
			long++
		}
	}
	if long != 1 || e.Fault != "stall" {
		t.Errorf("%d gaps over the stall, fault %q, times %v", long, e.Fault, e.TokenNs)
	}
	if got := scrape(t, ts.URL)[metric("vllm:num_preemptions_total")]; got != 1 {
		t.Errorf("preemptions %v", got)
	}
}

func TestMetricsCountRequests(t *testing.T) {
	_, ts := start(t, vllmsim.Config{ITL: time.Millisecond})
	for range 2 {
		resp := post(t, ts.URL+"/v1/completions", completionsBody("12345678", 5, true), "")
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	m := scrape(t, ts.URL)
	for name, want := range map[string]float64{
		metric("vllm:prompt_tokens_total"):                               4,
		metric("vllm:generation_tokens_total"):                           10,
		metric("vllm:request_success_total", `finished_reason="length"`): 2,
		metric("vllm:time_to_first_token_seconds_count"):                 2,
		metric("vllm:inter_token_latency_seconds_count"):                 8,
		metric("vllm:time_per_output_token_seconds_count"):               8,
		metric("vllm:e2e_request_latency_seconds_count"):                 2,
		metric("vllm:num_requests_running"):                              0,
		metric("vllm:num_requests_waiting"):                              0,
		metric("vllm:num_preemptions_total"):                             0,
		metric("vllm:gpu_cache_usage_perc"):                              0,
		metric("vllm:kv_cache_usage_perc"):                               0,
	} {
		got, ok := m[name]
		if !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if m[`vllm:time_to_first_token_seconds_bucket{model_name="`+model+`",le="+Inf"}`] != 2 {
		t.Errorf("TTFT histogram +Inf bucket: %v", m)
	}
}

func TestKVCacheUsageWhileRunning(t *testing.T) {
	_, ts := start(t, vllmsim.Config{KVCacheTokens: 100, TTFT: 300 * time.Millisecond})
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp := post(t, ts.URL+"/v1/completions", completionsBody(make([]int, 40), 2, true), "")
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}()
	time.Sleep(100 * time.Millisecond)
	m := scrape(t, ts.URL)
	if m[metric("vllm:kv_cache_usage_perc")] != 0.4 || m[metric("vllm:gpu_cache_usage_perc")] != 0.4 {
		t.Errorf("cache usage %v, want 0.4 (40 prompt tokens of 100)", m[metric("vllm:kv_cache_usage_perc")])
	}
	<-done
}

func TestTokenizeDetokenize(t *testing.T) {
	_, ts := start(t, vllmsim.Config{MaxModelLen: 4096})
	var tok struct {
		Count       int             `json:"count"`
		MaxModelLen int             `json:"max_model_len"`
		Tokens      []int           `json:"tokens"`
		TokenStrs   json.RawMessage `json:"token_strs"`
	}
	resp := post(t, ts.URL+"/tokenize", map[string]any{"model": model, "prompt": "Shall I compare thee", "add_special_tokens": true}, "")
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if tok.Count != 5 || len(tok.Tokens) != 5 || tok.MaxModelLen != 4096 || string(tok.TokenStrs) != "null" {
		t.Fatalf("tokenize: %+v", tok)
	}
	var detok struct {
		Prompt string `json:"prompt"`
	}
	resp = post(t, ts.URL+"/detokenize", map[string]any{"model": model, "tokens": tok.Tokens}, "")
	if err := json.NewDecoder(resp.Body).Decode(&detok); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if detok.Prompt != "Shall I compare thee" {
		t.Errorf("detokenize gave %q", detok.Prompt)
	}
	resp = post(t, ts.URL+"/tokenize", map[string]any{"model": model, "messages": []any{map[string]any{"role": "user", "content": "abcdefgh"}}}, "")
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if tok.Count != 2 {
		t.Errorf("chat tokenize count %d", tok.Count)
	}
}

func TestModels(t *testing.T) {
	_, ts := start(t, vllmsim.Config{Root: "/model-storage/llama"})
	resp, err := http.Get(ts.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Object string `json:"object"`
		Data   []struct {
			ID, Object, Root string
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	if list.Object != "list" || len(list.Data) != 1 || list.Data[0].ID != model || list.Data[0].Root != "/model-storage/llama" || list.Data[0].Object != "model" {
		t.Errorf("models %+v", list)
	}
}

func TestHealthDuringStartupDelay(t *testing.T) {
	sim, ts := start(t, vllmsim.Config{StartupDelay: 300 * time.Millisecond})
	get := func() int {
		resp, err := http.Get(ts.URL + "/health")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get(); got != http.StatusServiceUnavailable || sim.Ready() {
		t.Fatalf("health %d right after start", got)
	}
	resp := post(t, ts.URL+"/v1/completions", completionsBody("x", 1, true), "")
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("completions during startup: %d", resp.StatusCode)
	}
	deadline := time.Now().Add(5 * time.Second)
	for get() != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("never became healthy")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, cfg := range []vllmsim.Config{
		{},
		{Model: "m", Fail500Rate: 0.6, Fail503Rate: 0.6},
		{Model: "m", ITL: -1},
		{Model: "m", JitterFraction: 2},
	} {
		if _, err := vllmsim.New(cfg); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
}

func TestJitterVariesGaps(t *testing.T) {
	log := &syncBuffer{}
	sim, ts := start(t, vllmsim.Config{ITL: 20 * time.Millisecond, JitterFraction: 0.9, Seed: 3, ChunkLog: log})
	resp := post(t, ts.URL+"/v1/completions", completionsBody("x", 20, true), "")
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err := sim.FlushChunkLog(); err != nil {
		t.Fatal(err)
	}
	tok := log.entries(t)[0].TokenNs
	var gaps []time.Duration
	for i := 1; i < len(tok); i++ {
		gaps = append(gaps, time.Duration(tok[i]-tok[i-1]))
	}
	// Gaps are drawn from [2 ms, 38 ms]; 19 of them spread far wider than 8 ms.
	if spread := slices.Max(gaps) - slices.Min(gaps); spread < 8*time.Millisecond {
		t.Errorf("gaps %v spread only %v", gaps, spread)
	}
}
