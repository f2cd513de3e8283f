// Package loadgen sends benchmark requests to an OpenAI-compatible server
// exactly as vLLM v0.20.0's `vllm bench serve` does (bodies, headers, SSE
// parsing, timing rules) and dispatches open-loop arrival schedules.
//
// Where it knowingly differs from vLLM's request functions:
//   - The SSE parser is a correct one: an SSE comment in a read of its own
//     does not swallow the rest of the response (vLLM's does; golden case
//     chat_ping_own_read), and whitespace at a read boundary inside a JSON
//     string is kept. An event is timed when its terminating blank line
//     arrives; vLLM emits a complete "data: {json}" a read earlier if the
//     blank line comes in a later read (vLLM's server writes both at once).
//     Lines end in "\n" or "\r\n"; a lone "\r" is not a line end.
//   - Exceptions become short error texts ("request failed: ...", "stream
//     broken: ...", "malformed stream message: ...", "stalled: ...",
//     "timed out: ...") instead of Python tracebacks; a non-200 status
//     without a reason phrase reports the standard one instead of "".
//   - A stall timeout (no bytes for StallTimeout) exists besides vLLM's
//     6 h total timeout.
//
// On Linux, plain-HTTP streams are read by epoll reactors
// (reactor_linux.go) with their own HTTP/1.1 framing (http1.go) and
// keep-alive pool (rawhttp_linux.go): every token is timed by the kernel's
// receive timestamp, so a busy client reading late does not move it, and one
// wake-up reads many streams. https, and every stream on other systems, goes
// through net/http and is timed when each read returns; Client.Transport
// says which.
package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/vibench/vllm-inference-benchmark/datasets"
	"github.com/vibench/vllm-inference-benchmark/metrics"
)

// Backends, as vLLM's --backend names them. "openai" and "vllm" are the
// same Completions request function.
const (
	BackendOpenAI     = "openai"
	BackendVLLM       = "vllm"
	BackendOpenAIChat = "openai-chat"
)

// Defaults for ClientOptions' timeouts.
const (
	DefaultStallTimeout   = 300 * time.Second
	DefaultRequestTimeout = 6 * time.Hour // vLLM's aiohttp total timeout
)

// Error texts of requests the run stopped.
const (
	ReasonNotSent = "not sent: run stopped before its send time"
	ReasonCutOff  = "cut off: run stopped mid-request"
)

// ClientOptions say where and what to send. Pointer fields are vLLM's
// optional sampling flags: nil leaves the key out of the body.
type ClientOptions struct {
	Backend           string // "openai-chat", "openai" or "vllm"
	URL               string // full URL including the endpoint
	Model             string // body "model": the served model name
	IgnoreEOS         bool
	Temperature       *float64
	TopP              *float64
	MinP              *float64
	FrequencyPenalty  *float64
	PresencePenalty   *float64
	RepetitionPenalty *float64
	TopK              *int
	Logprobs          *int           // completions only; nil sends "logprobs": null
	ExtraBody         map[string]any // merged last, keys in sorted order
	Headers           map[string]string
	APIKey            string // sent as "Authorization: Bearer" when not empty
	MaxConcurrency    int    // sizes the connection pool; 0 = unlimited
	// StallTimeout fails a request when no bytes arrive for this long
	// (detected within 1.25x of it); 0 means DefaultStallTimeout, negative
	// turns the check off.
	StallTimeout time.Duration
	// RequestTimeout bounds a whole request; 0 means DefaultRequestTimeout,
	// negative turns it off.
	RequestTimeout time.Duration
}

// Client sends benchmark requests. It is safe for concurrent use.
type Client struct {
	chat   bool
	url    string
	body   *bodyTemplate
	header http.Header
	raw    *rawTransport // plain http; nil for https, which goes through http
	http   *http.Client
	stall  time.Duration
	total  time.Duration
	now    func() float64 // monotonic seconds; tests replace it
}

// NewClient validates opts as vLLM does and prepares the constant part of
// every request.
func NewClient(opts ClientOptions) (*Client, error) {
	c := &Client{url: opts.URL, now: monoNow}
	switch opts.Backend {
	case BackendOpenAIChat:
		c.chat = true
		if !strings.HasSuffix(opts.URL, "chat/completions") && !strings.HasSuffix(opts.URL, "profile") {
			return nil, fmt.Errorf("ClientOptions.URL %q: OpenAI Chat Completions API URL must end with one of: 'chat/completions', 'profile'", opts.URL)
		}
	case BackendOpenAI, BackendVLLM:
		if !strings.HasSuffix(opts.URL, "completions") && !strings.HasSuffix(opts.URL, "profile") {
			return nil, fmt.Errorf("ClientOptions.URL %q: OpenAI Completions API URL must end with one of: 'completions', 'profile'", opts.URL)
		}
	default:
		return nil, fmt.Errorf("ClientOptions.Backend %q: want openai-chat, openai or vllm", opts.Backend)
	}
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("ClientOptions.URL %q: want an absolute http(s) URL", opts.URL)
	}
	if opts.Model == "" {
		return nil, errors.New("ClientOptions.Model is empty")
	}
	if opts.MaxConcurrency < 0 {
		return nil, fmt.Errorf("ClientOptions.MaxConcurrency %d: want 0 (unlimited) or more", opts.MaxConcurrency)
	}
	if c.body, err = newBodyTemplate(&opts); err != nil {
		return nil, err
	}
	c.header = http.Header{}
	c.header.Set("User-Agent", userAgent)
	c.header.Set("Content-Type", "application/json")
	if opts.APIKey != "" {
		c.header.Set("Authorization", "Bearer "+opts.APIKey)
	}
	if u.User != nil {
		pass, _ := u.User.Password()
		c.header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pass)))
		u.User = nil
		c.url = u.String()
	}
	for k, v := range opts.Headers {
		if !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(v) {
			return nil, fmt.Errorf("ClientOptions.Headers[%q]: not a valid HTTP header (no spaces, colons or line breaks in names, no line breaks in values)", k)
		}
		if framing[http.CanonicalHeaderKey(k)] {
			return nil, fmt.Errorf("ClientOptions.Headers[%q]: the client sets this header itself; remove it", k)
		}
		c.header.Set(k, v)
	}
	c.header.Del("X-Request-Id") // every request sets its own
	c.stall = durationOr(opts.StallTimeout, DefaultStallTimeout)
	c.total = durationOr(opts.RequestTimeout, DefaultRequestTimeout)
	c.http = &http.Client{Transport: newTransport(opts.MaxConcurrency)}
	if c.raw, err = newRawTransport(u, c.header, opts.MaxConcurrency); err != nil {
		return nil, err
	}
	return c, nil
}

// netHTTPName says how net/http responses are timed.
const netHTTPName = "Go net/http, timed when each read returns"

// Transport says which transport times this client's responses: the raw
// one (plain http on Linux) or net/http (https, and every other system).
func (c *Client) Transport() string {
	if c.raw != nil {
		return rawTransportName
	}
	return netHTTPName
}

// TransportFor is Client.Transport for a client of endpointURL.
func TransportFor(endpointURL string) string {
	if u, err := url.Parse(endpointURL); err == nil && u.Scheme == "http" && rawTransportName != "" {
		return rawTransportName
	}
	return netHTTPName
}

// Close releases the client's kept-alive connections; requests still
// running close theirs when they end. A Client is not used after Close.
func (c *Client) Close() {
	c.http.CloseIdleConnections()
	if c.raw != nil {
		c.raw.close()
	}
}

func durationOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// newTransport is one keep-alive HTTP/1.1 pool sized to the concurrency,
// without compression or proxies (vLLM's aiohttp session ignores the
// environment's proxy settings).
func newTransport(maxConcurrency int) *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: idleConns(maxConcurrency),
		MaxConnsPerHost:     maxConcurrency,
		IdleConnTimeout:     60 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		ReadBufferSize:      16 << 10,
		WriteBufferSize:     16 << 10,
	}
}

// idleConns is how many kept-alive connections to hold: the concurrency.
func idleConns(maxConcurrency int) int {
	if maxConcurrency == 0 {
		return 4096
	}
	return maxConcurrency
}

// framing are the headers that say how a message is delimited or how the
// connection is kept; the client writes them itself.
var framing = map[string]bool{"Content-Length": true, "Transfer-Encoding": true, "Connection": true,
	"Keep-Alive": true, "Te": true, "Trailer": true, "Upgrade": true}

// userAgent names this client to the server.
const userAgent = "vllm-inference-benchmark"

var readBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

var (
	errStalled  = errors.New("stalled")
	errTimedOut = errors.New("timed out")
)

// Do sends one sample and reads its stream. It never panics on a bad
// server: every outcome is a Record with Status completed, failed, or
// interrupted (ctx was cancelled while the request was in flight).
func (c *Client) Do(ctx context.Context, s datasets.Sample, requestID string) metrics.Record {
	rec := metrics.Record{
		RequestID:         requestID,
		PromptLen:         s.PromptLen,
		ExpectedOutputLen: s.ExpectedOutputLen,
		Index:             s.Index,
		ITL:               []float64{},
	}
	body := c.body.render(make([]byte, 0, c.body.size()+len(s.Prompt)+32), s.Prompt, s.ExpectedOutputLen)

	reqCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if c.total > 0 {
		var stop context.CancelFunc
		reqCtx, stop = context.WithTimeoutCause(reqCtx, c.total, errTimedOut)
		defer stop()
	}
	wd := c.watch(cancel)
	defer wd.stop()
	if c.raw != nil {
		return c.doRaw(ctx, reqCtx, rec, s, body, wd)
	}

	req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return c.failed(rec, ctx, reqCtx, "building the request", err)
	}
	req.Header = c.header.Clone()
	req.Header.Set("X-Request-Id", requestID)
	req.Host = c.header.Get("Host") // net/http sends req.Host, never Header["Host"]
	st := c.now()
	rec.StartTime = st
	resp, err := c.http.Do(req)
	if err != nil {
		return c.failed(rec, ctx, reqCtx, "request failed", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		rec.Status = metrics.StatusFailed
		rec.Error = reasonPhrase(resp)
		return rec
	}

	bufp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bufp)
	buf := *bufp
	sr := newStream(c.chat, st, s.ExpectedOutputLen)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			ts := c.now()
			wd.touch()
			if perr := sr.feed(buf[:n], ts); perr != nil {
				sr.partial(&rec)
				return c.failed(rec, ctx, reqCtx, "malformed stream message", perr)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			sr.partial(&rec)
			return c.failed(rec, ctx, reqCtx, "stream broken", err)
		}
	}
	return c.finish(rec, ctx, reqCtx, sr)
}

// finish records a stream whose body ended normally.
func (c *Client) finish(rec metrics.Record, ctx, reqCtx context.Context, sr *stream) metrics.Record {
	if err := sr.finish(); err != nil {
		sr.partial(&rec)
		return c.failed(rec, ctx, reqCtx, "malformed stream message", err)
	}
	sr.complete(&rec)
	rec.Status = metrics.StatusFailed
	if rec.Success {
		rec.Status = metrics.StatusCompleted
	}
	return rec
}

// failed marks rec failed with a clear reason, or interrupted when the
// caller's ctx ended the request.
func (c *Client) failed(rec metrics.Record, ctx, reqCtx context.Context, what string, err error) metrics.Record {
	rec.Success = false
	rec.Status = metrics.StatusFailed
	switch cause := context.Cause(reqCtx); {
	case expired(ctx):
		rec.Status = metrics.StatusInterrupted
		rec.Error = ReasonCutOff
	case errors.Is(cause, errStalled):
		rec.Error = fmt.Sprintf("stalled: no bytes from the server for %v", c.stall)
	case errors.Is(cause, errTimedOut) || expired(reqCtx):
		rec.Error = fmt.Sprintf("timed out: the request took longer than %v", c.total)
	default:
		rec.Error = what + ": " + err.Error()
	}
	return rec
}

// expired: ctx ended, or its deadline passed and a dial or read that
// shares it failed first.
func expired(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ctx.Err() != nil || ok && !time.Now().Before(dl)
}

// reasonPhrase is the server's status text (vLLM reports aiohttp's
// response.reason), or the standard one when the server sent none.
func reasonPhrase(resp *http.Response) string {
	if r := strings.TrimSpace(strings.TrimPrefix(resp.Status, strconv.Itoa(resp.StatusCode))); r != "" {
		return r
	}
	return http.StatusText(resp.StatusCode)
}

// watchdog cancels a request that receives no bytes for the stall timeout.
// The read loop only bumps a counter; a timer checks it every quarter of
// the timeout and fires after four quiet checks.
type watchdog struct {
	reads   atomic.Uint64
	stopped atomic.Bool
	seen    uint64
	quiet   int
	every   time.Duration
	timer   *time.Timer
	cancel  context.CancelCauseFunc
}

func (c *Client) watch(cancel context.CancelCauseFunc) *watchdog {
	if c.stall <= 0 {
		return nil
	}
	w := &watchdog{every: c.stall / 4, cancel: cancel}
	w.timer = time.AfterFunc(w.every, w.check)
	return w
}

func (w *watchdog) check() {
	if w.stopped.Load() {
		return
	}
	if n := w.reads.Load(); n != w.seen {
		w.seen, w.quiet = n, 0
	} else if w.quiet++; w.quiet >= 4 {
		w.cancel(errStalled)
		return
	}
	w.timer.Reset(w.every)
}

func (w *watchdog) touch() {
	if w != nil {
		w.reads.Add(1)
	}
}

func (w *watchdog) stop() {
	if w != nil {
		w.stopped.Store(true)
		w.timer.Stop()
	}
}
