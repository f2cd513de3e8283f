package loadgen

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// tokenEvents renders a vLLM-style stream of n tokens ("t0", "t1", ...)
// followed by the usage chunk and [DONE], one event per string.
func tokenEvents(chat bool, n int) []string {
	var ev []string
	if chat {
		ev = append(ev, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`+"\n\n")
	}
	for i := range n {
		if chat {
			ev = append(ev, fmt.Sprintf(`data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"t%d"},"logprobs":null,"finish_reason":null}]}`+"\n\n", i))
		} else {
			ev = append(ev, fmt.Sprintf(`data: {"id":"c","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":"t%d","logprobs":null,"finish_reason":null}]}`+"\n\n", i))
		}
	}
	ev = append(ev,
		fmt.Sprintf(`data: {"id":"c","object":"x","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":7,"total_tokens":%d,"completion_tokens":%d}}`+"\n\n", 7+n, n),
		"data: [DONE]\n\n")
	return ev
}

func wantTokenText(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "t%d", i)
	}
	return b.String()
}

// streamServer serves tokenEvents, flushing after every event when
// perEvent, else in one write.
func streamServer(t testing.TB, chat bool, n int, perEvent bool) *httptest.Server {
	events := tokenEvents(chat, n)
	whole := strings.Join(events, "")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		if !perEvent {
			_, _ = w.Write([]byte(whole))
			return
		}
		f := w.(http.Flusher)
		for _, e := range events {
			_, _ = w.Write([]byte(e))
			f.Flush()
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func endpoint(chat bool) string {
	if chat {
		return "/v1/chat/completions"
	}
	return "/v1/completions"
}

func backendOf(chat bool) string {
	if chat {
		return BackendOpenAIChat
	}
	return BackendOpenAI
}

func newTestClient(t testing.TB, base string, chat bool, mod func(*ClientOptions)) *Client {
	t.Helper()
	o := ClientOptions{Backend: backendOf(chat), URL: base + endpoint(chat), Model: "m"}
	if mod != nil {
		mod(&o)
	}
	c, err := NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
