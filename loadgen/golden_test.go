package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/vibench/vllm-inference-benchmark/datasets"
	"github.com/vibench/vllm-inference-benchmark/metrics"
)

// goldenFile is golden/expected/sse.expected.json: what vLLM v0.20's real
// request functions sent and recorded for scripted streams.
type goldenFile struct {
	Cases map[string]goldenCase `json:"cases"`
}

type goldenCase struct {
	HTTPStatus  int    `json:"http_status"`
	Reason      string `json:"reason"`
	StreamReads []struct {
		T     float64 `json:"t"`
		Bytes string  `json:"bytes"`
	} `json:"stream_reads"`
	Start float64 `json:"request_start_perf_counter"`
	Sent  struct {
		URL     string            `json:"url"`
		JSON    map[string]any    `json:"json"`
		Headers map[string]string `json:"headers"`
	} `json:"sent"`
	Output struct {
		GeneratedText string    `json:"generated_text"`
		Success       bool      `json:"success"`
		Latency       float64   `json:"latency"`
		OutputTokens  int       `json:"output_tokens"`
		TTFT          float64   `json:"ttft"`
		ITL           []float64 `json:"itl"`
		PromptLen     int       `json:"prompt_len"`
		Error         string    `json:"error"`
		StartTime     float64   `json:"start_time"`
	} `json:"output"`
}

func loadGolden(t *testing.T) goldenFile {
	t.Helper()
	b, err := os.ReadFile("testdata/sse.expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// The inputs the golden note names: prompt_len=15, output_len=4,
// ignore_eos, extra_body {"temperature": 0.0}, request_id bench-golden-0.
var goldenSample = datasets.Sample{
	Index:             0,
	Prompt:            "Pick as many lines as you can from these poem lines:\n",
	PromptLen:         15,
	ExpectedOutputLen: 4,
}

const goldenRequestID = "bench-golden-0"

func goldenClient(t *testing.T, url string) *Client {
	t.Helper()
	backend := BackendOpenAI
	if strings.HasSuffix(url, "chat/completions") {
		backend = BackendOpenAIChat
	}
	c, err := NewClient(ClientOptions{
		Backend:   backend,
		URL:       url,
		Model:     "meta-llama/Llama-3.1-8B-Instruct",
		IgnoreEOS: true,
		ExtraBody: map[string]any{"temperature": 0.0},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// scriptedServer answers every request with a golden case's reads, moving
// a fake clock to each read's time as it is delivered.
type scriptedServer struct {
	gc    goldenCase
	clock float64
	req   *http.Request
	body  []byte
}

// serve makes c send to s through net/http, on s's fake clock.
func (s *scriptedServer) serve(c *Client) {
	c.raw = nil
	c.http = &http.Client{Transport: s}
	c.now = func() float64 { return s.clock }
}

func (s *scriptedServer) RoundTrip(req *http.Request) (*http.Response, error) {
	s.req = req
	s.body, _ = io.ReadAll(req.Body)
	return &http.Response{
		StatusCode: s.gc.HTTPStatus,
		Status:     strconv.Itoa(s.gc.HTTPStatus) + " " + s.gc.Reason,
		Header:     http.Header{"Content-Type": {"text/event-stream"}},
		Body:       &scriptedBody{s: s},
		Request:    req,
	}, nil
}

type scriptedBody struct {
	s    *scriptedServer
	next int
	left []byte
}

func (b *scriptedBody) Read(p []byte) (int, error) {
	if len(b.left) == 0 {
		if b.next == len(b.s.gc.StreamReads) {
			return 0, io.EOF
		}
		r := b.s.gc.StreamReads[b.next]
		b.next++
		b.s.clock = r.T
		b.left = []byte(r.Bytes)
	}
	n := copy(p, b.left)
	b.left = b.left[n:]
	return n, nil
}

func (b *scriptedBody) Close() error { return nil }

// What our correct SSE parser records for chat_ping_own_read, where vLLM's
// loses every event after the comment (the documented deviation): all three
// tokens, the usage, and latency up to the usage chunk at 50.35.
var pingOwnReadCorrect = struct {
	text         string
	outputTokens int
	itl          []float64
	latency      float64
}{"ABC", 3, []float64{50.21 - 50.2, 50.31 - 50.21, 50.32 - 50.31}, 50.35 - 50.0}

func TestGoldenStreams(t *testing.T) {
	g := loadGolden(t)
	if len(g.Cases) < 7 {
		t.Fatalf("golden file has %d cases, want 7", len(g.Cases))
	}
	for name, gc := range g.Cases {
		t.Run(name, func(t *testing.T) {
			srv := &scriptedServer{gc: gc, clock: gc.Start}
			c := goldenClient(t, gc.Sent.URL)
			srv.serve(c)
			rec := c.Do(context.Background(), goldenSample, goldenRequestID)

			checkSent(t, srv, gc)
			want := gc.Output
			if name == "chat_ping_own_read" {
				want.GeneratedText = pingOwnReadCorrect.text
				want.OutputTokens = pingOwnReadCorrect.outputTokens
				want.ITL = pingOwnReadCorrect.itl
				want.Latency = pingOwnReadCorrect.latency
			}
			if rec.GeneratedText != want.GeneratedText || rec.Success != want.Success ||
				rec.OutputTokens != want.OutputTokens || rec.PromptLen != want.PromptLen || rec.Error != want.Error {
				t.Errorf("got text %q success %v tokens %d prompt_len %d error %q,\nwant %q %v %d %d %q",
					rec.GeneratedText, rec.Success, rec.OutputTokens, rec.PromptLen, rec.Error,
					want.GeneratedText, want.Success, want.OutputTokens, want.PromptLen, want.Error)
			}
			near := func(what string, got, want float64) {
				if math.Abs(got-want) > 1e-9 {
					t.Errorf("%s = %.17g, want %.17g", what, got, want)
				}
			}
			near("start_time", rec.StartTime, want.StartTime)
			near("ttft", rec.TTFT, want.TTFT)
			near("latency", rec.Latency, want.Latency)
			if len(rec.ITL) != len(want.ITL) {
				t.Fatalf("itl = %v, want %v", rec.ITL, want.ITL)
			}
			for i := range want.ITL {
				near("itl["+strconv.Itoa(i)+"]", rec.ITL[i], want.ITL[i])
			}
			wantStatus := metrics.StatusCompleted
			if !want.Success {
				wantStatus = metrics.StatusFailed
			}
			if rec.Status != wantStatus || rec.RequestID != goldenRequestID {
				t.Errorf("status %q id %q, want %q %q", rec.Status, rec.RequestID, wantStatus, goldenRequestID)
			}
		})
	}
}

func checkSent(t *testing.T, srv *scriptedServer, gc goldenCase) {
	t.Helper()
	if got := srv.req.URL.String(); got != gc.Sent.URL {
		t.Errorf("url %q, want %q", got, gc.Sent.URL)
	}
	var body map[string]any
	if err := json.Unmarshal(srv.body, &body); err != nil {
		t.Fatalf("body %s: %v", srv.body, err)
	}
	gotJSON, _ := json.Marshal(body)
	wantJSON, _ := json.Marshal(gc.Sent.JSON)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("body\n%s\nwant\n%s", gotJSON, wantJSON)
	}
	for k, v := range gc.Sent.Headers {
		if got := srv.req.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if got := srv.req.Header.Get("Authorization"); got != "" {
		t.Errorf("Authorization %q sent without an API key", got)
	}
}
