package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vibench/vllm-inference-benchmark/datasets"
	"github.com/vibench/vllm-inference-benchmark/metrics"
)

type bodyBuffer struct{ bytes.Buffer }

func (c *bodyBuffer) body(p []byte) error { _, err := c.Write(p); return err }

// feedSplit feeds raw to a fresh response in pieces cut at every cut point.
func feedSplit(raw string, cuts []int, eof bool) (*response, string, bool, error) {
	var r response
	r.reset()
	var got bodyBuffer
	prev := 0
	for _, c := range append(cuts, len(raw)) {
		done, err := r.feed([]byte(raw[prev:c]), &got)
		prev = c
		if err != nil || done {
			return &r, got.String(), done, err
		}
	}
	if eof {
		done, err := r.eof()
		return &r, got.String(), done, err
	}
	return &r, got.String(), false, nil
}

func TestResponseFramingAtEverySplit(t *testing.T) {
	cases := []struct {
		name, raw, body string
		eof, close      bool
		status          int
	}{
		{name: "chunked with extension and trailer", status: 200,
			raw:  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: 1\r\n\r\n",
			body: "hello world"},
		{name: "content length", status: 200,
			raw: "HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\nhello world", body: "hello world"},
		{name: "until close", status: 200, eof: true, close: true,
			raw: "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\nhello world", body: "hello world"},
		{name: "interim 100 then chunked, bare LF", status: 200,
			raw:  "HTTP/1.1 100 Continue\n\nHTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\nb\nhello world\n0\n\n",
			body: "hello world"},
		{name: "http/1.0 keep-alive", status: 200,
			raw: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", body: "ok"},
		{name: "connection close", status: 200, close: true,
			raw: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", body: "ok"},
		{name: "error status ends at its headers", status: 503, close: true,
			raw: "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n\r\nbusy!"},
	}
	for _, tc := range cases {
		for cut := 0; cut <= len(tc.raw); cut++ {
			cuts := []int{cut}
			if cut+1 < len(tc.raw) {
				cuts = append(cuts, cut+1) // also a one-byte piece
			}
			r, body, done, err := feedSplit(tc.raw, cuts, tc.eof)
			if err != nil || !done || r.status != tc.status || body != tc.body || r.close != tc.close {
				t.Fatalf("%s cut at %d: done %v err %v status %d body %q close %v; want status %d body %q close %v",
					tc.name, cut, done, err, r.status, body, r.close, tc.status, tc.body, tc.close)
			}
		}
	}
}

// Bytes after a response in the same read mean the connection's framing
// cannot be trusted; in a later read, the pool's liveness check sees them.
func TestBytesAfterTheResponseCloseTheConnection(t *testing.T) {
	r, body, done, err := feedSplit("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1", nil, false)
	if !done || err != nil || body != "ok" || !r.close {
		t.Errorf("done %v err %v body %q close %v", done, err, body, r.close)
	}
}

func TestResponseFramingErrors(t *testing.T) {
	for name, raw := range map[string]string{
		"not http":             "SSH-2.0-OpenSSH\r\n",
		"bad chunk size":       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"no CRLF after data":   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX\r\n",
		"bad length":           "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"header without colon": "HTTP/1.1 200 OK\r\nbroken\r\n\r\n",
		"endless line":         "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", maxResponseLine),
	} {
		if _, _, done, err := feedSplit(raw, nil, false); err == nil || done {
			t.Errorf("%s: done %v err %v, want an error", name, done, err)
		}
	}
	for name, raw := range map[string]string{
		"nothing":         "",
		"mid headers":     "HTTP/1.1 200 OK\r\n",
		"mid chunk":       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
		"short of length": "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
	} {
		if _, _, done, err := feedSplit(raw, nil, true); err == nil || done {
			t.Errorf("EOF %s: done %v err %v, want an error", name, done, err)
		}
	}
}

// pieceServer answers each request on a connection with respond's bytes,
// written in the pieces it returns with gap between them (an empty piece
// closes the connection), and counts connections.
func pieceServer(t *testing.T, gap time.Duration, respond func(n int) []string) (url string, conns *connCounts) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = &connCounts{}
	var requests atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.accepted.Add(1)
			conns.open.Add(1)
			go func() {
				defer conns.open.Add(-1)
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					if _, err := io.Copy(io.Discard, req.Body); err != nil {
						return
					}
					for _, piece := range respond(int(requests.Add(1))) {
						if piece == "" {
							return // close the connection here
						}
						if _, err := c.Write([]byte(piece)); err != nil {
							return
						}
						time.Sleep(gap)
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String(), conns
}

type connCounts struct{ accepted, open atomic.Int32 }

func chunked(events []string) []string {
	out := []string{"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"}
	for _, e := range events {
		out = append(out, chunk(e))
	}
	return append(out, "0\r\n\r\n")
}

func TestKeepAliveReusesOneConnection(t *testing.T) {
	url, conns := pieceServer(t, 2*time.Millisecond, func(int) []string { return chunked(tokenEvents(false, 3)) })
	c := newTestClient(t, url, false, nil)
	for i := range 5 {
		rec := c.Do(context.Background(), datasets.Sample{Prompt: "p", ExpectedOutputLen: 3}, "r")
		if rec.Status != metrics.StatusCompleted || rec.GeneratedText != wantTokenText(3) || len(rec.ITL) != 2 {
			t.Fatalf("request %d: %+v", i, rec)
		}
	}
	if n := conns.accepted.Load(); n != 1 {
		t.Errorf("%d connections for 5 sequential requests, want 1", n)
	}
	c.Close()
	for deadline := time.Now().Add(2 * time.Second); conns.open.Load() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the kept-alive connection is still open after Close")
		}
	}
}

// A server that closes a kept-alive connection without saying so (as an
// idle timeout does) costs no request: the pool's liveness check drops it.
func TestServerClosedIdleConnectionIsNotUsed(t *testing.T) {
	url, conns := pieceServer(t, 2*time.Millisecond, func(int) []string {
		return append(chunked(tokenEvents(true, 2)), "") // then close
	})
	c := newTestClient(t, url, true, nil)
	for i := range 3 {
		time.Sleep(20 * time.Millisecond) // the close reaches the client first
		rec := c.Do(context.Background(), datasets.Sample{Prompt: "p", ExpectedOutputLen: 2}, "r")
		if rec.Status != metrics.StatusCompleted || rec.GeneratedText != wantTokenText(2) {
			t.Fatalf("request %d: %+v", i, rec)
		}
	}
	if n := conns.accepted.Load(); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}
}

func TestResponseFormsThroughTheClient(t *testing.T) {
	events := strings.Join(tokenEvents(false, 4), "")
	for name, pieces := range map[string][]string{
		"content length": {"HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(events)) + "\r\n\r\n", events},
		"until close":    {"HTTP/1.0 200 OK\r\n\r\n", events[:40], events[40:], ""},
		"interim 100":    append([]string{"HTTP/1.1 100 Continue\r\n\r\n"}, chunked(tokenEvents(false, 4))...),
	} {
		url, _ := pieceServer(t, 2*time.Millisecond, func(int) []string { return pieces })
		c := newTestClient(t, url, false, nil)
		rec := c.Do(context.Background(), datasets.Sample{Prompt: "p", ExpectedOutputLen: 4}, "r")
		if rec.Status != metrics.StatusCompleted || rec.GeneratedText != wantTokenText(4) || rec.OutputTokens != 4 {
			t.Errorf("%s: %+v", name, rec)
		}
	}
	url, _ := pieceServer(t, 2*time.Millisecond, func(int) []string {
		return []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "zz\r\n"}
	})
	rec := newTestClient(t, url, false, nil).Do(context.Background(), datasets.Sample{Prompt: "p"}, "r")
	if rec.Status != metrics.StatusFailed || !strings.HasPrefix(rec.Error, "stream broken: malformed chunk size") {
		t.Errorf("bad chunk size: %+v", rec)
	}
}

func TestHostHeaderRoutesTheRequest(t *testing.T) {
	srv, got := capturingServer(t, false)
	c := newTestClient(t, srv.URL, false, func(o *ClientOptions) { o.Headers = map[string]string{"host": "vllm.example:8000"} })
	if rec := c.Do(context.Background(), datasets.Sample{Prompt: "p", ExpectedOutputLen: 3}, "id"); rec.Status != metrics.StatusCompleted {
		t.Fatalf("%+v", rec)
	}
	if h := (<-got).host; h != "vllm.example:8000" {
		t.Errorf("Host %q", h)
	}
}

// https streams go through net/http, timed as each read returns.
func TestHTTPSGoesThroughNetHTTP(t *testing.T) {
	events := strings.Join(tokenEvents(true, 3), "")
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, events)
	}))
	t.Cleanup(srv.Close)
	c := newTestClient(t, srv.URL, true, nil)
	c.http.Transport.(*http.Transport).TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
	rec := c.Do(context.Background(), datasets.Sample{Prompt: "p", ExpectedOutputLen: 3}, "r")
	if rec.Status != metrics.StatusCompleted || rec.GeneratedText != wantTokenText(3) || len(rec.ITL) != 3 {
		t.Errorf("%+v", rec)
	}
}

// A request that went out is never sent again: a server that reads it and
// closes without answering fails it, as net/http does for a POST.
func TestWrittenRequestIsNotSentTwice(t *testing.T) {
	var seen atomic.Int32
	url, _ := pieceServer(t, time.Millisecond, func(n int) []string {
		seen.Add(1)
		if n == 2 {
			return []string{""} // read the request, then close
		}
		return chunked(tokenEvents(false, 2))
	})
	c := newTestClient(t, url, false, nil)
	first := c.Do(context.Background(), datasets.Sample{Prompt: "p", ExpectedOutputLen: 2}, "r1")
	second := c.Do(context.Background(), datasets.Sample{Prompt: "p", ExpectedOutputLen: 2}, "r2")
	if first.Status != metrics.StatusCompleted || second.Status != metrics.StatusFailed || !strings.HasPrefix(second.Error, "request failed: ") {
		t.Fatalf("first %+v\nsecond %+v", first, second)
	}
	if n := seen.Load(); n != 2 {
		t.Errorf("the server saw %d requests, want 2", n)
	}
}

// A server that answers before taking the whole body (413) and closes is
// reported by its answer, not by the failed write.
func TestEarlyAnswerToAnUnreadBody(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		var head []byte
		buf := make([]byte, 4096)
		for !bytes.Contains(head, []byte("\r\n\r\n")) {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			head = append(head, buf[:n]...)
		}
		_, _ = io.WriteString(conn, "HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
		time.Sleep(50 * time.Millisecond)
	}()
	c := newTestClient(t, "http://"+ln.Addr().String(), false, nil)
	prompt := strings.Repeat("word ", 8<<20/5)
	rec := c.Do(context.Background(), datasets.Sample{Prompt: prompt, ExpectedOutputLen: 2}, "r")
	if rec.Status != metrics.StatusFailed || rec.Error != "Payload Too Large" {
		t.Errorf("status %s error %q, want the server's 413", rec.Status, rec.Error)
	}
}

func TestFramingHeadersAndURLCredentials(t *testing.T) {
	for _, h := range []string{"content-length", "Transfer-Encoding", "connection"} {
		_, err := NewClient(ClientOptions{Backend: BackendOpenAI, URL: "http://h/v1/completions", Model: "m", Headers: map[string]string{h: "1"}})
		if err == nil || !strings.Contains(err.Error(), "sets this header itself") {
			t.Errorf("header %s: %v", h, err)
		}
	}
	srv, got := capturingServer(t, false)
	c := newTestClient(t, strings.Replace(srv.URL, "http://", "http://user:pa%20ss@", 1), false, nil)
	if rec := c.Do(context.Background(), datasets.Sample{Prompt: "p", ExpectedOutputLen: 3}, "id"); rec.Status != metrics.StatusCompleted {
		t.Fatalf("%+v", rec)
	}
	if a := (<-got).header.Get("Authorization"); a != "Basic dXNlcjpwYSBzcw==" {
		t.Errorf("Authorization %q, want Basic for user:pa ss", a)
	}
}
