package metrics

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// parseStrict decodes text with encoding/json (RFC 8259: no Infinity, NaN,
// trailing commas or trailing data) and fails the test on any error.
func parseStrict(t *testing.T, text string) map[string]any {
	t.Helper()
	if !json.Valid([]byte(text)) {
		t.Fatalf("not valid JSON:\n%s", text)
	}
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(text))
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	if dec.More() {
		t.Fatalf("data after the object:\n%s", text)
	}
	return m
}

// Every result file the runs can produce parses strictly: inf and finite
// rates, infinite burstiness, all failed, nothing sent (0 s), per-request
// arrays, ramp-up, and the project's extra keys.
func TestResultJSONIsStrictJSONInEveryScenario(t *testing.T) {
	okRecs := []Record{ok(0, 0.1, []float64{0.01, 0.02}, 3), ok(0.5, 0.2, []float64{0.03}, 2)}
	failed := []Record{{PromptLen: 5, Error: "Internal Server Error"}, {PromptLen: 5, Error: "request failed: connection refused"}}
	health, err := Extra("client_health", struct {
		Rate float64 `json:"achieved_send_rate"`
		Note string  `json:"warning"`
	}{12.5, "caf\u00e9 \"quoted\""})
	if err != nil {
		t.Fatal(err)
	}
	inf, one := math.Inf(1), 1.0
	for _, c := range []struct {
		name        string
		records     []Record
		duration    float64
		rate, burst float64
		opts        Options
		rampUp      *RampUp
	}{
		{"inf rate", okRecs, 1.5, inf, one, Options{OutputTokens: countWords}, nil},
		{"finite rate", okRecs, 1.5, 12, one, Options{OutputTokens: countWords}, nil},
		{"infinite burstiness", okRecs, 1.5, 12, inf, Options{}, nil},
		{"all failed", failed, 0.02, inf, one, Options{OutputTokens: countWords}, nil},
		{"nothing sent", nil, 0, 12, one, Options{OutputTokens: countWords, Goodput: map[string]float64{"ttft": 100}}, nil},
		{"detailed", append(okRecs, failed...), 2, inf, 0.5, Options{SaveDetailed: true, OutputTokens: countWords}, nil},
		{"ramp-up", okRecs, 1.5, inf, one, Options{}, &RampUp{Strategy: "linear", StartRPS: 1, EndRPS: 5}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := Calculate(c.records, c.duration, c.opts)
			run := RunInfo{Date: "20260102-030405", Backend: "openai", ModelID: "m", RequestRate: c.rate, Burstiness: c.burst, RampUp: c.rampUp}
			m := parseStrict(t, ResultJSON(res, run, health))
			if math.IsInf(c.rate, 1) && m["request_rate"] != "inf" || !math.IsInf(c.rate, 1) && m["request_rate"] != c.rate {
				t.Errorf("request_rate = %v", m["request_rate"])
			}
			if math.IsInf(c.burst, 1) && m["burstiness"] != "inf" {
				t.Errorf("burstiness = %v", m["burstiness"])
			}
			if m["request_throughput"] != res.RequestThroughput || m["completed"] != float64(res.Completed) {
				t.Errorf("numbers do not round-trip: %v %v", m["request_throughput"], m["completed"])
			}
			if h, _ := m["client_health"].(map[string]any); h["warning"] != "caf\u00e9 \"quoted\"" {
				t.Errorf("client_health = %v", m["client_health"])
			}
		})
	}
}

// A run that sent nothing reports zero rates, not 0/0.
func TestNothingSentHasZeroRates(t *testing.T) {
	res := Calculate(nil, 0, Options{Goodput: map[string]float64{"e2el": 1}})
	for _, x := range []float64{res.RequestThroughput, res.RequestGoodput, res.OutputThroughput, res.TotalTokenThroughput} {
		if x != 0 {
			t.Errorf("rates %+v", res)
		}
	}
}

// A value encoding/json cannot write fails with the key's name instead of
// leaving a hole in the file.
func TestExtraRefusesUnmarshallableValues(t *testing.T) {
	_, err := Extra("client_health", map[string]float64{"requested_rate": math.Inf(1)})
	if err == nil || !strings.Contains(err.Error(), "client_health") {
		t.Fatalf("err = %v", err)
	}
}

// Failures are counted by reason, most frequent first.
func TestErrorCounts(t *testing.T) {
	recs := []Record{{Error: "b"}, {Error: "a"}, {Error: "b"}, ok(0, 0.1, nil, 1), {Error: "c"}}
	got := Calculate(recs, 1, Options{}).ErrorCounts
	want := []ErrorCount{{"b", 2}, {"a", 1}, {"c", 1}}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("ErrorCounts = %v, want %v", got, want)
		}
	}
}

// When nothing succeeded the user is told so, with vLLM's words and the
// reasons that occurred most; otherwise nothing is added.
func TestFormatAllFailed(t *testing.T) {
	recs := []Record{{Error: "Not Found"}, {Error: "Not Found"}, {Error: "request failed: connection refused"}, {Error: "Bad Request"}}
	got := FormatAllFailed(Calculate(recs, 1, Options{}), 2)
	want := "UserWarning: " + AllFailedWarning + "\n" +
		"Most frequent errors of the 4 failed requests:\n" +
		"     2 x Not Found\n" +
		"     1 x Bad Request\n" +
		"  ... and 1 other error texts\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if s := FormatAllFailed(Calculate(append(recs, ok(0, 0.1, nil, 1)), 1, Options{}), 5); s != "" {
		t.Errorf("a run with a success warned: %q", s)
	}
}
