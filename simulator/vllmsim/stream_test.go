package vllmsim_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vibench/vllm-inference-benchmark/simulator/vllmsim"
	"github.com/vibench/vllm-inference-benchmark/tokenizer"
)

func TestChatStreamMatchesVLLMChunks(t *testing.T) {
	_, ts := start(t, vllmsim.Config{})
	prompt := "Pick as many lines as you can from these poem lines:\n" // 53 bytes -> 14 tokens
	resp := post(t, ts.URL+"/v1/chat/completions", chatBody(prompt, 4, true), "bench-abc-0")
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("X-Request-Id"); got != "bench-abc-0" {
		t.Errorf("x-request-id echoed as %q", got)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("content type %q", ct)
	}
	events, err := readEvents(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	// role, 4 tokens, usage, [DONE]
	if len(events) != 7 {
		t.Fatalf("got %d events: %+v", len(events), events)
	}
	var text string
	for i, e := range events[:6] {
		c := decodeChunk(t, e.data)
		if c.ID != "chatcmpl-bench-abc-0" || c.Object != "chat.completion.chunk" || c.Model != model || c.Created == 0 {
			t.Errorf("event %d header: %+v", i, c)
		}
		switch {
		case i == 0:
			d := c.Choices[0].Delta
			if d == nil || d.Role == nil || *d.Role != "assistant" || d.Content == nil || *d.Content != "" || c.Choices[0].FinishReason != nil {
				t.Errorf("role chunk: %s", e.data)
			}
		case i <= 4:
			d := c.Choices[0].Delta
			if d == nil || d.Role != nil || d.Content == nil || *d.Content == "" {
				t.Fatalf("content chunk %d: %s", i, e.data)
			}
			text += *d.Content
			fr := c.Choices[0].FinishReason
			if (i < 4) != (fr == nil) || (i == 4 && *fr != "length") {
				t.Errorf("chunk %d finish_reason: %s", i, e.data)
			}
		default:
			if c.Choices == nil || len(c.Choices) != 0 || c.Usage == nil {
				t.Fatalf("usage chunk: %s", e.data)
			}
			if u := *c.Usage; u.PromptTokens != 14 || u.CompletionTokens != 4 || u.TotalTokens != 18 {
				t.Errorf("usage %+v, want 14+4=18", u)
			}
			if !strings.Contains(e.data, `"choices":[]`) {
				t.Errorf("usage chunk must carry an empty choices list: %s", e.data)
			}
		}
	}
	if text == "" || events[6].raw != "data: [DONE]\n" {
		t.Errorf("text %q, last event %q", text, events[6].raw)
	}
}

func TestCompletionsStreamMatchesVLLMChunks(t *testing.T) {
	_, ts := start(t, vllmsim.Config{})
	resp := post(t, ts.URL+"/v1/completions", completionsBody("12345678", 3, true), "r1")
	defer resp.Body.Close()
	events, err := readEvents(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 5 {
		t.Fatalf("got %d events, want 3 tokens + usage + [DONE]", len(events))
	}
	for i, e := range events[:3] {
		c := decodeChunk(t, e.data)
		if c.ID != "cmpl-r1" || c.Object != "text_completion" || len(c.Choices) != 1 || c.Choices[0].Text == nil || *c.Choices[0].Text == "" {
			t.Fatalf("token chunk %d: %s", i, e.data)
		}
		if fr := c.Choices[0].FinishReason; (i < 2) != (fr == nil) {
			t.Errorf("chunk %d finish_reason: %s", i, e.data)
		}
	}
	u := decodeChunk(t, events[3].data)
	if len(u.Choices) != 0 || u.Usage == nil || u.Usage.PromptTokens != 2 || u.Usage.CompletionTokens != 3 || u.Usage.TotalTokens != 5 {
		t.Errorf("usage chunk: %s", events[3].data)
	}
	if events[4].data != "[DONE]" {
		t.Errorf("last event %q", events[4].raw)
	}
}

func TestEachEventIsItsOwnWrite(t *testing.T) {
	// With 40 ms between tokens, every read the client makes returns
	// exactly one whole event if the server writes and flushes each alone.
	_, ts := start(t, vllmsim.Config{ITL: 40 * time.Millisecond})
	resp := post(t, ts.URL+"/v1/completions", completionsBody("hi", 4, true), "")
	defer resp.Body.Close()
	buf := make([]byte, 64<<10)
	var reads []string
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			reads = append(reads, string(buf[:n]))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// The usage chunk and [DONE] follow the last token at once and may share
	// its read; the first three tokens are 40 ms apart.
	if len(reads) < 4 {
		t.Fatalf("reads %q", reads)
	}
	for _, r := range reads[:3] {
		if !strings.HasPrefix(r, "data: {") || !strings.HasSuffix(r, "}\n\n") || strings.Count(r, "\n\n") != 1 {
			t.Errorf("read %q is not one event", r)
		}
	}
}

func TestFlushEveryDeliversTokensInGroups(t *testing.T) {
	// 7 tokens 40 ms apart, flushed 3 at a time: reads of 3, 3 and 1 events
	// (the last with the usage chunk and [DONE] possibly in the same read).
	_, ts := start(t, vllmsim.Config{ITL: 40 * time.Millisecond, FlushEvery: 3})
	resp := post(t, ts.URL+"/v1/completions", completionsBody("hi", 7, true), "")
	defer resp.Body.Close()
	buf := make([]byte, 64<<10)
	var tokensPerRead []int
	for {
		n, err := resp.Body.Read(buf)
		if k := strings.Count(string(buf[:n]), `"text":`); k > 0 {
			tokensPerRead = append(tokensPerRead, k)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(tokensPerRead) != "[3 3 1]" {
		t.Errorf("tokens per read %v, want [3 3 1]", tokensPerRead)
	}
}

func TestNoUsageChunkWithoutIncludeUsage(t *testing.T) {
	_, ts := start(t, vllmsim.Config{})
	body := completionsBody("hi", 2, true)
	delete(body, "stream_options")
	resp := post(t, ts.URL+"/v1/completions", body, "")
	defer resp.Body.Close()
	events, err := readEvents(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 3 || events[2].data != "[DONE]" || strings.Contains(events[1].data, "usage") {
		t.Fatalf("events %+v", events)
	}
}

func TestEOSFinishChunk(t *testing.T) {
	_, ts := start(t, vllmsim.Config{EOSFinishChunk: true})
	resp := post(t, ts.URL+"/v1/chat/completions", chatBody("hi", 4, true), "")
	defer resp.Body.Close()
	events, err := readEvents(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 7 { // role, 3 tokens, finish, usage, [DONE]
		t.Fatalf("got %d events", len(events))
	}
	fin := decodeChunk(t, events[4].data)
	if d := fin.Choices[0].Delta; d == nil || d.Content == nil || *d.Content != "" || fin.Choices[0].FinishReason == nil || *fin.Choices[0].FinishReason != "stop" {
		t.Errorf("finish chunk %s", events[4].data)
	}
	if u := decodeChunk(t, events[5].data).Usage; u == nil || u.CompletionTokens != 4 {
		t.Errorf("usage %s", events[5].data)
	}
}

func TestNonStreaming(t *testing.T) {
	_, ts := start(t, vllmsim.Config{DefaultMaxTokens: 5})
	for _, tc := range []struct {
		path string
		body map[string]any
		text func(map[string]any) string
	}{
		{"/v1/chat/completions", chatBody("abcd", 3, false), func(m map[string]any) string {
			return m["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"].(string)
		}},
		{"/v1/completions", completionsBody([]int{1, 2, 3, 4, 5}, 3, false), func(m map[string]any) string {
			return m["choices"].([]any)[0].(map[string]any)["text"].(string)
		}},
	} {
		resp := post(t, ts.URL+tc.path, tc.body, "")
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		u := m["usage"].(map[string]any)
		if tc.text(m) == "" || u["completion_tokens"].(float64) != 3 || u["prompt_tokens"].(float64) != map[bool]float64{true: 1, false: 5}[tc.path == "/v1/chat/completions"] {
			t.Errorf("%s: %v", tc.path, m)
		}
		if fr := m["choices"].([]any)[0].(map[string]any)["finish_reason"]; fr != "length" {
			t.Errorf("%s finish_reason %v", tc.path, fr)
		}
	}
	// No max_tokens: DefaultMaxTokens.
	body := completionsBody("x", 0, false)
	delete(body, "max_tokens")
	resp := post(t, ts.URL+"/v1/completions", body, "")
	defer resp.Body.Close()
	var m struct {
		Usage struct {
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || m.Usage.CompletionTokens != 5 {
		t.Errorf("default max tokens: %+v %v", m, err)
	}
}

// With the Llama 3.1 tokenizer, usage.prompt_tokens is what a vLLM server
// serving Llama 3.1 reports: a completions prompt with BOS added; a chat
// message through the chat template (which carries BOS) with the
// generation prompt.
func TestPromptTokensAreTheLlamaTokenizersCount(t *testing.T) {
	tok, err := tokenizer.Llama31()
	if err != nil {
		t.Fatal(err)
	}
	_, ts := start(t, vllmsim.Config{Tokenizer: tok})
	usage := func(url string, body map[string]any) int {
		resp := post(t, url, body, "")
		defer resp.Body.Close()
		events, err := readEvents(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		u := decodeChunk(t, events[len(events)-2].data).Usage
		if u == nil {
			t.Fatalf("no usage in %s", events[len(events)-2].data)
		}
		return u.PromptTokens
	}
	// The ids of "Hello world" are [128000, 9906, 1917] for completions and
	// 12 through the template (see starter's TestTokenize and the oracle).
	if got := usage(ts.URL+"/v1/completions", completionsBody("Hello world", 1, true)); got != 3 {
		t.Errorf("completions prompt_tokens = %d, want 3", got)
	}
	if got := usage(ts.URL+"/v1/chat/completions", chatBody("Hello world", 1, true)); got != 12 {
		t.Errorf("chat prompt_tokens = %d, want 12", got)
	}
	sonnet := "Pick as many lines as you can from these poem lines:\nShall I compare thee to a summer's day?\nThou art more lovely and more temperate:\n"
	ids, _ := tok.Encode(sonnet, true)
	if got := usage(ts.URL+"/v1/completions", completionsBody(sonnet, 1, true)); got != len(ids) {
		t.Errorf("completions prompt_tokens = %d, want the tokenizer's %d", got, len(ids))
	}
	chat, _ := tok.ChatPrompt(sonnet)
	ids, _ = tok.Encode(chat, false)
	if got := usage(ts.URL+"/v1/chat/completions", chatBody(sonnet, 1, true)); got != len(ids) {
		t.Errorf("chat prompt_tokens = %d, want the template's %d", got, len(ids))
	}
}

func TestRequestErrors(t *testing.T) {
	_, ts := start(t, vllmsim.Config{MaxModelLen: 100})
	for _, tc := range []struct {
		name string
		body map[string]any
		want int
	}{
		{"unknown model", map[string]any{"model": "other", "prompt": "x", "max_tokens": 2}, http.StatusNotFound},
		{"zero max_tokens", completionsBody("x", 0, true), http.StatusBadRequest},
		{"context too long", completionsBody(strings.Repeat("abcd", 99), 2, true), http.StatusBadRequest},
		{"bad prompt", completionsBody(map[string]any{"a": 1}, 2, true), http.StatusBadRequest},
	} {
		resp := post(t, ts.URL+"/v1/completions", tc.body, "")
		var e struct {
			Error struct {
				Message string `json:"message"`
				Code    int    `json:"code"`
			} `json:"error"`
		}
		err := json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != tc.want || err != nil || e.Error.Code != tc.want || e.Error.Message == "" {
			t.Errorf("%s: status %d, body %+v, %v", tc.name, resp.StatusCode, e, err)
		}
	}
}

func TestSSEPingComments(t *testing.T) {
	for _, sameWrite := range []bool{false, true} {
		_, ts := start(t, vllmsim.Config{PingEvery: 2, PingSameWrite: sameWrite})
		resp := post(t, ts.URL+"/v1/completions", completionsBody("x", 4, true), "")
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		// Pings come before tokens 2 and 4.
		if got := strings.Count(string(raw), ": ping\n\ndata: {"); got != 2 {
			t.Errorf("sameWrite=%v: %d pings before chunks in %q", sameWrite, got, raw)
		}
		events, err := readEvents(strings.NewReader(string(raw)))
		if err != nil || len(events) != 8 {
			t.Errorf("sameWrite=%v: %d events, %v", sameWrite, len(events), err)
		}
	}
}
