package vllmsim_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vibench/vllm-inference-benchmark/simulator/vllmsim"
)

const model = "meta-llama/Llama-3.1-8B-Instruct"

// syncBuffer is a chunk-log sink tests can read while the server runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) entries(t testing.TB) []vllmsim.ChunkLogEntry {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []vllmsim.ChunkLogEntry
	for line := range strings.SplitSeq(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var e vllmsim.ChunkLogEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("chunk log line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

// start runs a simulator behind httptest; cfg.Model defaults to model.
func start(t testing.TB, cfg vllmsim.Config) (*vllmsim.Server, *httptest.Server) {
	t.Helper()
	if cfg.Model == "" {
		cfg.Model = model
	}
	sim, err := vllmsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim.Handler())
	t.Cleanup(ts.Close)
	return sim, ts
}

func chatBody(text string, maxTokens int, stream bool) map[string]any {
	return map[string]any{
		"model":                 model,
		"messages":              []any{map[string]any{"role": "user", "content": []any{map[string]any{"type": "text", "text": text}}}},
		"max_completion_tokens": maxTokens,
		"stream":                stream,
		"stream_options":        map[string]any{"include_usage": true},
		"ignore_eos":            true,
	}
}

func completionsBody(prompt any, maxTokens int, stream bool) map[string]any {
	return map[string]any{
		"model": model, "prompt": prompt, "repetition_penalty": 1.0, "max_tokens": maxTokens,
		"logprobs": nil, "stream": stream, "stream_options": map[string]any{"include_usage": true},
	}
}

func post(t testing.TB, url string, body any, requestID string) *http.Response {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if requestID != "" {
		req.Header.Set("x-request-id", requestID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// event is one SSE message as a client sees it.
type event struct {
	data string    // after "data: "; empty for a comment
	raw  string    // the whole message without its blank line
	at   time.Time // when the client had it
}

// chunk is the part of a streamed chunk the tests look at.
type chunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index int     `json:"index"`
		Text  *string `json:"text"`
		Delta *struct {
			Role    *string `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		TotalTokens      int `json:"total_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

// readEvents splits a stream into SSE messages at blank lines, as a client
// parser does, stamping each when its last byte arrived.
func readEvents(body io.Reader) ([]event, error) {
	var events []event
	r := bufio.NewReader(body)
	var cur strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if err == io.EOF && cur.Len() == 0 && line == "" {
				return events, nil
			}
			return events, fmt.Errorf("stream cut: %w (pending %q)", err, cur.String()+line)
		}
		if line == "\n" {
			raw := cur.String()
			cur.Reset()
			e := event{raw: raw, at: time.Now()}
			if d, ok := strings.CutPrefix(raw, "data: "); ok {
				e.data = strings.TrimSuffix(d, "\n")
			}
			events = append(events, e)
			continue
		}
		cur.WriteString(line)
	}
}

func decodeChunk(t testing.TB, data string) chunk {
	t.Helper()
	var c chunk
	if err := json.Unmarshal([]byte(data), &c); err != nil {
		t.Fatalf("chunk %q: %v", data, err)
	}
	return c
}

// scrape returns /metrics as "name{labels}" -> value.
func scrape(t testing.TB, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func metric(name string, labels ...string) string {
	l := append([]string{}, labels...)
	l = append(l, `model_name="`+model+`"`)
	return name + "{" + strings.Join(l, ",") + "}"
}
