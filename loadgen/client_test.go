package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vibench/vllm-inference-benchmark/datasets"
	"github.com/vibench/vllm-inference-benchmark/metrics"
)

func ptr[T any](v T) *T { return &v }

// captured is what a test server saw of one request.
type captured struct {
	body   []byte
	header http.Header
	host   string
}

func capturingServer(t *testing.T, chat bool) (*httptest.Server, chan captured) {
	got := make(chan captured, 1)
	events := strings.Join(tokenEvents(chat, 2), "")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- captured{b, r.Header.Clone(), r.Host}
		_, _ = io.WriteString(w, events)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func TestBodiesAndHeadersPerBackend(t *testing.T) {
	sample := datasets.Sample{Index: 3, Prompt: "say \"hi\"\n\tnow <ok> & é 😀 \x01", PromptLen: 9, ExpectedOutputLen: 17}
	for _, backend := range []string{BackendOpenAI, BackendVLLM, BackendOpenAIChat} {
		t.Run(backend, func(t *testing.T) {
			chat := backend == BackendOpenAIChat
			srv, got := capturingServer(t, chat)
			c := newTestClient(t, srv.URL, chat, func(o *ClientOptions) {
				o.Backend = backend
				o.IgnoreEOS = true
				o.TopP, o.MinP, o.Temperature = ptr(0.9), ptr(0.05), ptr(0.7)
				o.FrequencyPenalty, o.PresencePenalty, o.RepetitionPenalty = ptr(0.1), ptr(0.2), ptr(1.3)
				o.TopK = ptr(40)
				o.Logprobs = ptr(2)
				o.ExtraBody = map[string]any{"top_k": 5, "seed": 7, "chat_template_kwargs": map[string]any{"enable_thinking": false}}
				o.Headers = map[string]string{"X-Tenant": "a", "x-request-id": "user-value"}
				o.APIKey = "sk-test"
			})
			rec := c.Do(context.Background(), sample, "bench-x-3")
			if rec.Status != metrics.StatusCompleted {
				t.Fatalf("record %+v", rec)
			}
			cap := <-got

			want := map[string]any{
				"model": "m", "stream": true, "stream_options": map[string]any{"include_usage": true},
				"ignore_eos": true, "top_p": 0.9, "top_k": 5.0, "min_p": 0.05, "temperature": 0.7,
				"frequency_penalty": 0.1, "presence_penalty": 0.2, "repetition_penalty": 1.3,
				"seed": 7.0, "chat_template_kwargs": map[string]any{"enable_thinking": false},
			}
			wantOrder := []string{"model", "prompt", "repetition_penalty", "max_tokens", "logprobs", "stream", "stream_options", "ignore_eos",
				"top_p", "top_k", "min_p", "temperature", "frequency_penalty", "presence_penalty", "chat_template_kwargs", "seed"}
			if chat {
				want["messages"] = []any{map[string]any{"role": "user", "content": []any{map[string]any{"type": "text", "text": "say \"hi\"\n\tnow <ok> & é 😀 \x01"}}}}
				want["max_completion_tokens"] = 17.0
				wantOrder = []string{"model", "messages", "max_completion_tokens", "stream", "stream_options", "ignore_eos",
					"top_p", "top_k", "min_p", "temperature", "frequency_penalty", "presence_penalty", "repetition_penalty", "chat_template_kwargs", "seed"}
			} else {
				want["prompt"] = sample.Prompt
				want["max_tokens"] = 17.0
				want["logprobs"] = 2.0
			}
			var body map[string]any
			if err := json.Unmarshal(cap.body, &body); err != nil {
				t.Fatalf("%s: %v", cap.body, err)
			}
			if !reflect.DeepEqual(body, want) {
				t.Errorf("body %v\nwant %v", body, want)
			}
			if order := keyOrder(t, cap.body); !reflect.DeepEqual(order, wantOrder) {
				t.Errorf("key order %v\nwant %v", order, wantOrder)
			}
			for k, v := range map[string]string{"Content-Type": "application/json", "Authorization": "Bearer sk-test",
				"X-Tenant": "a", "X-Request-Id": "bench-x-3", "Accept-Encoding": ""} {
				if g := cap.header.Get(k); g != v {
					t.Errorf("header %s = %q, want %q", k, g, v)
				}
			}
		})
	}
}

func keyOrder(t *testing.T, body []byte) []string {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	_, _ = dec.Token()
	var keys []string
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestCompletionsDefaultsSendNullLogprobsAndNoSamplingKeys(t *testing.T) {
	srv, got := capturingServer(t, false)
	c := newTestClient(t, srv.URL, false, nil)
	c.Do(context.Background(), datasets.Sample{Prompt: "p", ExpectedOutputLen: 3}, "id")
	cap := <-got
	var body map[string]any
	_ = json.Unmarshal(cap.body, &body)
	want := map[string]any{"model": "m", "prompt": "p", "repetition_penalty": 1.0, "max_tokens": 3.0, "logprobs": nil,
		"stream": true, "stream_options": map[string]any{"include_usage": true}}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("body %v, want %v", body, want)
	}
	if !strings.Contains(string(cap.body), `"repetition_penalty": 1.0`) {
		t.Errorf("repetition_penalty not written as vLLM's 1.0: %s", cap.body)
	}
	if a := cap.header.Get("Authorization"); a != "" {
		t.Errorf("Authorization %q without an API key", a)
	}
}

func TestInvalidPromptUTF8BecomesReplacementChar(t *testing.T) {
	srv, got := capturingServer(t, false)
	c := newTestClient(t, srv.URL, false, nil)
	c.Do(context.Background(), datasets.Sample{Prompt: "a\xffb", ExpectedOutputLen: 1}, "id")
	var body struct{ Prompt string }
	_ = json.Unmarshal((<-got).body, &body)
	if body.Prompt != "a\uFFFDb" {
		t.Errorf("prompt %q", body.Prompt)
	}
}

func TestNewClientValidation(t *testing.T) {
	cases := map[string]struct {
		o    ClientOptions
		want string
	}{
		"backend":       {ClientOptions{Backend: "tgi", URL: "http://h/v1/completions", Model: "m"}, "ClientOptions.Backend"},
		"chat endpoint": {ClientOptions{Backend: BackendOpenAIChat, URL: "http://h/v1/completions", Model: "m"}, "Chat Completions API URL must end with one of"},
		"endpoint":      {ClientOptions{Backend: BackendVLLM, URL: "http://h/v1/models", Model: "m"}, "Completions API URL must end with one of"},
		"scheme":        {ClientOptions{Backend: BackendOpenAI, URL: "h:80/v1/completions", Model: "m"}, "ClientOptions.URL"},
		"model":         {ClientOptions{Backend: BackendOpenAI, URL: "http://h/v1/completions"}, "ClientOptions.Model"},
		"concurrency":   {ClientOptions{Backend: BackendOpenAI, URL: "http://h/v1/completions", Model: "m", MaxConcurrency: -1}, "ClientOptions.MaxConcurrency"},
		"extra body":    {ClientOptions{Backend: BackendOpenAI, URL: "http://h/v1/completions", Model: "m", ExtraBody: map[string]any{"f": func() {}}}, "ClientOptions.ExtraBody"},
	}
	for name, tc := range cases {
		if _, err := NewClient(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want one containing %q", name, err, tc.want)
		}
	}
	if _, err := NewClient(ClientOptions{Backend: BackendOpenAIChat, URL: "http://h/profile", Model: "m"}); err != nil {
		t.Errorf("profile endpoint refused: %v", err)
	}
}

func TestStreamsOverHTTP(t *testing.T) {
	for _, chat := range []bool{false, true} {
		for _, perEvent := range []bool{false, true} {
			srv := streamServer(t, chat, 50, perEvent)
			c := newTestClient(t, srv.URL, chat, nil)
			rec := c.Do(context.Background(), datasets.Sample{Index: 4, Prompt: "p", PromptLen: 3, ExpectedOutputLen: 50}, "r")
			wantITL := 49
			if chat {
				wantITL = 50 // the role-only first chunk is the TTFT event
			}
			if !rec.Success || rec.GeneratedText != wantTokenText(50) || rec.OutputTokens != 50 || rec.PromptLen != 7 ||
				len(rec.ITL) != wantITL || rec.TTFT <= 0 || rec.Latency < rec.TTFT || rec.Index != 4 || rec.StartTime <= 0 {
				t.Errorf("chat=%v perEvent=%v: %+v", chat, perEvent, rec)
			}
		}
	}
}

func TestHTTPErrorStatus(t *testing.T) {
	for code, reason := range map[int]string{500: "Internal Server Error", 503: "Service Unavailable", 429: "Too Many Requests"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			_, _ = io.WriteString(w, `{"error":"x"}`)
		}))
		c := newTestClient(t, srv.URL, true, nil)
		rec := c.Do(context.Background(), datasets.Sample{PromptLen: 5}, "r")
		srv.Close()
		if rec.Success || rec.Status != metrics.StatusFailed || rec.Error != reason || rec.TTFT != 0 || rec.Latency != 0 || rec.PromptLen != 5 {
			t.Errorf("%d: %+v", code, rec)
		}
	}
}

// rawServer accepts connections and lets script write the raw response.
func rawServer(t *testing.T, script func(c net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				req, err := http.ReadRequest(bufio.NewReader(conn))
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				script(conn)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

const chunkedHeader = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"

func chunk(s string) string { return strconv.FormatInt(int64(len(s)), 16) + "\r\n" + s + "\r\n" }

func TestDisconnectMidStream(t *testing.T) {
	events := tokenEvents(false, 3)
	base := rawServer(t, func(c net.Conn) {
		_, _ = io.WriteString(c, chunkedHeader+chunk(events[0])+chunk(events[1][:20]))
	})
	c := newTestClient(t, base, false, nil)
	rec := c.Do(context.Background(), datasets.Sample{PromptLen: 5}, "r")
	if rec.Success || rec.Status != metrics.StatusFailed || !strings.HasPrefix(rec.Error, "stream broken: ") || rec.TTFT <= 0 || rec.GeneratedText != "" {
		t.Errorf("%+v", rec)
	}
}

func TestMalformedMessages(t *testing.T) {
	for name, msg := range map[string]string{
		"bad json":      "data: {\"choices\": [\n\n",
		"not an object": "data: [1,2]\n\n",
		"chat no delta": `data: {"choices":[{"index":0,"text":"x"}]}` + "\n\n",
		"null delta":    `data: {"choices":[{"index":0,"delta":null}]}` + "\n\n",
		"choices dict":  `data: {"choices":{"a":1}}` + "\n\n",
		"content int":   `data: {"choices":[{"delta":{"content":5}}]}` + "\n\n",
		"trailing":      `data: {"choices":[]} x` + "\n\n",
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, tokenEvents(true, 1)[0]+msg+"data: [DONE]\n\n")
		}))
		c := newTestClient(t, srv.URL, true, nil)
		rec := c.Do(context.Background(), datasets.Sample{}, "r")
		srv.Close()
		if rec.Success || rec.Status != metrics.StatusFailed || !strings.HasPrefix(rec.Error, "malformed stream message: ") {
			t.Errorf("%s: %+v", name, rec)
		}
	}
}

func TestStallTimeout(t *testing.T) {
	events := tokenEvents(false, 3)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	base := rawServer(t, func(c net.Conn) {
		_, _ = io.WriteString(c, chunkedHeader+chunk(events[0]))
		<-release
	})
	c := newTestClient(t, base, false, func(o *ClientOptions) { o.StallTimeout = 200 * time.Millisecond })
	start := time.Now()
	rec := c.Do(context.Background(), datasets.Sample{}, "r")
	if el := time.Since(start); el < 200*time.Millisecond || el > 5*time.Second {
		t.Errorf("gave up after %v", el)
	}
	if rec.Status != metrics.StatusFailed || rec.Error != "stalled: no bytes from the server for 200ms" || rec.TTFT <= 0 {
		t.Errorf("%+v", rec)
	}
}

func TestRequestTimeoutWhileTrickling(t *testing.T) {
	base := rawServer(t, func(c net.Conn) {
		_, _ = io.WriteString(c, chunkedHeader)
		ev := tokenEvents(false, 1)[0]
		for range 100 {
			if _, err := io.WriteString(c, chunk(ev)); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	c := newTestClient(t, base, false, func(o *ClientOptions) {
		o.StallTimeout = time.Second
		o.RequestTimeout = 150 * time.Millisecond
	})
	rec := c.Do(context.Background(), datasets.Sample{}, "r")
	if rec.Status != metrics.StatusFailed || rec.Error != "timed out: the request took longer than 150ms" {
		t.Errorf("%+v", rec)
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c := newTestClient(t, "http://"+addr, true, nil)
	rec := c.Do(context.Background(), datasets.Sample{}, "r")
	if rec.Status != metrics.StatusFailed || !strings.HasPrefix(rec.Error, "request failed: ") || !strings.Contains(rec.Error, "refused") {
		t.Errorf("%+v", rec)
	}
}

func TestCancelMidRequestIsInterrupted(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	base := rawServer(t, func(c net.Conn) {
		_, _ = io.WriteString(c, chunkedHeader+chunk(tokenEvents(false, 1)[0]))
		<-release
	})
	c := newTestClient(t, base, false, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	rec := c.Do(ctx, datasets.Sample{}, "r")
	if rec.Status != metrics.StatusInterrupted || rec.Error != ReasonCutOff || rec.Success {
		t.Errorf("%+v", rec)
	}
}
