package metrics

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// jsonKeys lists an object's top-level keys in order and checks it parses.
func jsonKeys(t *testing.T, text string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(text))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %v %v", tok, err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func indexOf(keys []string, k string) int {
	for i, x := range keys {
		if x == k {
			return i
		}
	}
	return -1
}

func TestResultJSONDetailedArrays(t *testing.T) {
	records := []Record{
		ok(5000.5, 0.1, []float64{0.02, 5e-05}, 3),
		{Success: false, PromptLen: 7, StartTime: 5001, Error: "Traceback\n  \"x\"", TTFT: 0.2, ITL: []float64{0.03}},
	}
	records[0].GeneratedText = "caf\u00e9 \U0001F600"
	res := Calculate(records, 2.5, Options{SaveDetailed: true, OutputTokens: func(string) int { return 0 }})
	run := RunInfo{Date: "20260102-030405", Backend: "openai", ModelID: "m", RequestRate: math.Inf(1), Burstiness: 1}
	text := ResultJSON(res, run)
	keys := jsonKeys(t, text)
	want := []string{"input_lens", "output_lens", "ttfts", "itls", "start_times", "generated_texts", "errors", "max_output_tokens_per_s"}
	at := indexOf(keys, "total_token_throughput")
	if at < 0 || strings.Join(keys[at+1:at+1+len(want)], ",") != strings.Join(want, ",") {
		t.Fatalf("keys %v", keys)
	}
	for _, part := range []string{
		`"input_lens": [10, 7]`,
		`"output_lens": [3, 0]`,
		`"ttfts": [0.1, 0.2]`,
		`"itls": [[0.02, 5e-05], [0.03]]`,
		`"start_times": [5000.5, 5001.0]`,
		`"generated_texts": ["caf\u00e9 \ud83d\ude00", ""]`,
		`"errors": ["", "Traceback\n  \"x\""]`,
		`"tokenizer_id": null`,
		`"label": null`,
	} {
		if !strings.Contains(text, part) {
			t.Errorf("missing %s in\n%s", part, text)
		}
	}
	res.Details = nil
	for _, k := range detailedKeys {
		if strings.Contains(ResultJSON(res, run), `"`+k+`"`) {
			t.Errorf("%s saved without --save-detailed", k)
		}
	}
}

func TestResultJSONMetadataAndExtras(t *testing.T) {
	res := Calculate([]Record{ok(0, 0.1, []float64{0.01}, 2)}, 1, Options{})
	run := RunInfo{
		Date: "d", Backend: "openai-chat", Label: new("lbl"), ModelID: "org/model", TokenizerID: new("tok"), NumPrompts: 1,
		Metadata:    []KeyValue{{"gpu", "H100"}, {"completed", "meta"}, {"errors", "meta"}, {"gpu", "H200"}},
		RequestRate: 12.5, Burstiness: 0.5, MaxConcurrency: new(0),
	}
	text := ResultJSON(res, run, ExtraField{"client_health", `{"ok": true}`}, ExtraField{"gpu", `"replaced"`})
	keys := jsonKeys(t, text)
	wantStart := "date,endpoint_type,backend,label,model_id,tokenizer_id,num_prompts,gpu,completed,request_rate,burstiness,max_concurrency,duration,failed"
	if got := strings.Join(keys[:14], ","); got != wantStart {
		t.Errorf("keys start %s\nwant        %s", got, wantStart)
	}
	if keys[len(keys)-1] != "client_health" || indexOf(keys, "errors") >= 0 {
		t.Errorf("keys %v", keys)
	}
	for _, part := range []string{
		`"gpu": "replaced", "completed": 1, "request_rate": 12.5, "burstiness": 0.5, "max_concurrency": 0,`,
		`"request_goodput": null`,
		`, "client_health": {"ok": true}}`,
	} {
		if !strings.Contains(text, part) {
			t.Errorf("missing %s in\n%s", part, text)
		}
	}
	run.Burstiness = math.Inf(1) // --burstiness inf: written as vLLM writes request_rate inf, not Python's bare Infinity
	if text := ResultJSON(res, run); !strings.Contains(text, `"burstiness": "inf",`) {
		t.Errorf("infinite burstiness: %s", text)
	}
}

func TestResultJSONRampUpAndSpecDecode(t *testing.T) {
	res := Calculate([]Record{ok(0, 0.1, []float64{0.01}, 2)}, 1, Options{PercentileMetrics: []string{"e2el", "ttft"}, Percentiles: []float64{50, 99.9}, OutputTokens: countWords})
	run := RunInfo{
		Date: "d", Backend: "vllm", ModelID: "m", RequestRate: math.Inf(1), Burstiness: 1,
		RampUp:          &RampUp{Strategy: "linear", StartRPS: 1, EndRPS: 10},
		RPSChangeEvents: []RPSChangeEvent{{1, "2026-01-02T03:04:05.000001"}, {2, "2026-01-02T03:04:06"}},
		SpecDecode:      &SpecDecodeStats{NumDrafts: 10, DraftTokens: 30, AcceptedTokens: 15, AcceptanceRate: 50, AcceptanceLength: 2.5, PerPositionAcceptanceRates: []float64{0.75, 0.5}},
	}
	keys := strings.Join(jsonKeys(t, ResultJSON(res, run)), ",")
	want := "max_concurrency,ramp_up_strategy,ramp_up_start_rps,ramp_up_end_rps,duration"
	if !strings.Contains(keys, want) {
		t.Errorf("ramp-up keys missing: %s", keys)
	}
	want = "rtfx,rps_change_events,spec_decode_acceptance_rate,spec_decode_acceptance_length,spec_decode_num_drafts," +
		"spec_decode_draft_tokens,spec_decode_accepted_tokens,spec_decode_per_position_acceptance_rates," +
		"mean_ttft_ms,median_ttft_ms,std_ttft_ms,p50_ttft_ms,p99.9_ttft_ms,mean_e2el_ms,median_e2el_ms,std_e2el_ms,p50_e2el_ms,p99.9_e2el_ms"
	if !strings.HasSuffix(keys, want) {
		t.Errorf("keys end\n%s\nwant\n%s", keys, want)
	}
	if !strings.Contains(ResultJSON(res, run), `"rps_change_events": [{"rps": 1, "timestamp": "2026-01-02T03:04:05.000001"}, {"rps": 2,`) {
		t.Errorf("rps_change_events rendering")
	}
	if got := ResultFileName(run); got != "vllm-ramp-up-linear-1qps-10qps-m-d.json" {
		t.Errorf("ramp-up file name %q", got)
	}

	table := FormatTable(res, run)
	for _, line := range []string{
		"P99.9 TTFT (ms):                         100.00    \n",
		"----------------End-to-end Latency----------------\nMean E2EL (ms):                          110.00    \n",
		"---------------Speculative Decoding---------------\nAcceptance rate (%):                     50.00     \n" +
			"Acceptance length:                       2.50      \nDrafts:                                  10        \n" +
			"Draft tokens:                            30        \nAccepted tokens:                         15        \n" +
			"Per-position acceptance (%):\n  Position 0:                            75.00     \n" +
			"  Position 1:                            50.00     \n" + strings.Repeat("=", 50) + "\n",
	} {
		if !strings.Contains(table, line) {
			t.Errorf("table lacks %q:\n%s", line, table)
		}
	}
	if strings.Index(table, "Time to First Token") > strings.Index(table, "End-to-end Latency") {
		t.Errorf("sections out of vLLM's order:\n%s", table)
	}
}

func countWords(text string) int { return len(strings.Fields(text)) }

func TestResultFileNames(t *testing.T) {
	cases := []struct {
		run  RunInfo
		want string
	}{
		{RunInfo{Backend: "openai-chat", RequestRate: 20, MaxConcurrency: new(32), ModelID: "Qwen/Qwen2.5-7B-Instruct", Date: "20260102-030405"},
			"openai-chat-20.0qps-concurrency32-Qwen2.5-7B-Instruct-20260102-030405.json"},
		{RunInfo{Backend: "openai-chat", RequestRate: math.Inf(1), ModelID: "meta-llama/Llama-3.1-8B-Instruct", Date: "x"},
			"openai-chat-infqps-Llama-3.1-8B-Instruct-x.json"},
		{RunInfo{Backend: "openai", Label: new(""), RequestRate: 12.5, ModelID: "local", Date: "x"},
			"openai-12.5qps-local-x.json"},
	}
	for _, c := range cases {
		if got := ResultFileName(c.run); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}

func TestTableWithoutTokenizer(t *testing.T) {
	records := []Record{ok(0, 0.1, []float64{0.01}, 0), ok(0, 0.2, nil, 0)}
	res := Calculate(records, 4, Options{PercentileMetrics: []string{"ttft", "e2el"}})
	run := RunInfo{RequestRate: 2, MaxConcurrency: new(8), ModelID: "m"}
	want := "============ Serving Benchmark Result ============\n" +
		"Successful requests:                     2         \n" +
		"Failed requests:                         0         \n" +
		"Maximum request concurrency:             8         \n" +
		"Request rate configured (RPS):           2.00      \n" +
		"Benchmark duration (s):                  4.00      \n" +
		"Total input tokens:                      20        \n" +
		"Request throughput (req/s):              0.50      \n" +
		"Peak concurrent requests:                2.00      \n" +
		"----------------End-to-end Latency----------------\n" +
		"Mean E2EL (ms):                          155.00    \n" +
		"Median E2EL (ms):                        155.00    \n" +
		"P99 E2EL (ms):                           199.10    \n" +
		"==================================================\n"
	if got := FormatTable(res, run); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	if res.TotalOutput != 2 {
		t.Errorf("no tokenizer: total output %d, want 1 per request", res.TotalOutput)
	}
	text := ResultJSON(res, run)
	if strings.Contains(text, "ttft_ms") || !strings.Contains(text, `"p99_e2el_ms": 199.1`) {
		t.Errorf("saved metrics without tokenizer: %s", text)
	}
}

func TestReportCapsErrorsAtTen(t *testing.T) {
	var records []Record
	for i := range 12 {
		records = append(records, Record{Error: "boom " + string(rune('a'+i))})
	}
	res := Calculate(records, 1, Options{})
	report := FormatReport(res, RunInfo{RequestRate: math.Inf(1)})
	if !strings.HasPrefix(report, "Failed requests during benchmark run detected (capping to 10):\nError 0: boom a\n") ||
		!strings.Contains(report, "Error 9: boom j\n====") || strings.Contains(report, "boom k") {
		t.Errorf("report:\n%s", report)
	}
	if strings.Contains(report, PlotTip) {
		t.Errorf("tip printed without a successful request")
	}
	records = append(records, ok(0, 0.1, nil, 1))
	report = FormatReport(Calculate(records, 1, Options{}), RunInfo{RequestRate: math.Inf(1)})
	if !strings.Contains(report, "Error 9: boom j\n"+PlotTip+"\n====") {
		t.Errorf("tip should follow the errors:\n%s", report)
	}
}
