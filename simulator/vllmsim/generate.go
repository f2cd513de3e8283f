package vllmsim

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

type fault int

const (
	faultNone fault = iota
	fault500
	fault503
	faultDisconnect
	faultStall
)

var faultNames = [...]string{"", "500", "503", "disconnect", "stall"}

// words are the generated tokens, cycled; plain ASCII so they need no JSON
// escaping.
var words = [...]string{" Shall", " I", " compare", " thee", " to", " a", " summer's", " day",
	" Thou", " art", " more", " lovely", " and", " more", " temperate", " Rough",
	" winds", " do", " shake", " the", " darling", " buds", " of", " May"}

// Fixed pieces of vLLM's streamed chunks (pydantic's compact JSON).
const (
	chatRole         = `{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}` + "\n\n"
	chatTokenOpen    = `{"index":0,"delta":{"content":"`
	chatTokenTail    = `"},"logprobs":null,"finish_reason":null}]}` + "\n\n"
	chatLengthTail   = `"},"logprobs":null,"finish_reason":"length","stop_reason":null}]}` + "\n\n"
	chatStopTail     = `"},"logprobs":null,"finish_reason":"stop","stop_reason":null}]}` + "\n\n"
	textTokenOpen    = `{"index":0,"text":"`
	textTokenTail    = `","logprobs":null,"finish_reason":null,"stop_reason":null}]}` + "\n\n"
	textLengthTail   = `","logprobs":null,"finish_reason":"length","stop_reason":null}]}` + "\n\n"
	textStopTail     = `","logprobs":null,"finish_reason":"stop","stop_reason":null}]}` + "\n\n"
	sseData          = "data: "
	ssePing          = ": ping\n\n"
	sseDone          = "data: [DONE]\n\n"
	finishLength     = "length"
	finishStop       = "stop"
	finishAbort      = "abort"
	chunkBufCapacity = 512
)

var (
	pingEvent = []byte(ssePing)
	doneEvent = []byte(sseDone)
)

// plan is what the seeded RNG decided for one request.
type plan struct {
	fault   fault
	faultAt int    // token index where a disconnect or stall happens
	seed    uint64 // seeds the request's jitter
	id      string // response id when the request has no x-request-id
}

func (s *Server) drawPlan(n int) plan {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	c := &s.cfg
	u := s.rng.Float64()
	p := plan{seed: s.rng.Uint64(), id: strconv.FormatUint(s.rng.Uint64(), 16)}
	switch {
	case u < c.Fail500Rate:
		p.fault = fault500
	case u < c.Fail500Rate+c.Fail503Rate:
		p.fault = fault503
	case u < c.Fail500Rate+c.Fail503Rate+c.DisconnectRate:
		p.fault = faultDisconnect
	case u < c.Fail500Rate+c.Fail503Rate+c.DisconnectRate+c.StallRate:
		p.fault = faultStall
	}
	if n > 1 {
		p.faultAt = 1 + s.rng.IntN(n-1)
	}
	return p
}

// generate serves /v1/chat/completions and /v1/completions.
func (s *Server) generate(w http.ResponseWriter, r *http.Request, ep endpoint) {
	arrival := time.Now()
	requestID := r.Header.Get("X-Request-Id")
	if requestID != "" {
		w.Header().Set("X-Request-Id", requestID)
	}
	var entry *ChunkLogEntry
	if s.chunkLog != nil {
		entry = &ChunkLogEntry{RequestID: requestID, Endpoint: ep.String(), ArrivalNs: arrival.UnixNano()}
	}
	s.inFlight.Add(1)
	defer func() {
		idle := s.inFlight.Add(-1) == 0
		if entry != nil {
			s.chunkLog.add(entry, idle)
		}
	}()
	reject := func(status int, msg string) {
		if entry != nil {
			entry.Status = status
		}
		writeError(w, status, msg)
	}

	if !s.Ready() {
		reject(http.StatusServiceUnavailable, "the server is starting up")
		return
	}
	var req generateRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		reject(http.StatusBadRequest, fmt.Sprintf("invalid JSON body: %v", err))
		return
	}
	if entry != nil {
		entry.Stream = req.Stream
	}
	if req.Model != "" && req.Model != s.cfg.Model {
		reject(http.StatusNotFound, fmt.Sprintf("The model `%s` does not exist.", req.Model))
		return
	}
	promptTokens, err := req.promptTokens(ep, s.cfg.Tokenizer)
	if err != nil {
		reject(http.StatusBadRequest, err.Error())
		return
	}
	n, err := req.outputTokens(ep, s.cfg.DefaultMaxTokens)
	if err != nil {
		reject(http.StatusBadRequest, err.Error())
		return
	}
	if promptTokens+n > s.cfg.MaxModelLen {
		reject(http.StatusBadRequest, fmt.Sprintf("This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the messages, %d in the completion). Please reduce the length of the messages or completion.",
			s.cfg.MaxModelLen, promptTokens+n, promptTokens, n))
		return
	}
	if entry != nil {
		entry.PromptTokens = promptTokens
	}
	p := s.drawPlan(n)
	if entry != nil {
		entry.Fault = faultNames[p.fault]
	}
	switch p.fault {
	case fault500:
		reject(http.StatusInternalServerError, "simulated internal server error")
		return
	case fault503:
		reject(http.StatusServiceUnavailable, "simulated service unavailable")
		return
	}
	if requestID == "" {
		requestID = p.id
		if entry != nil {
			entry.RequestID = requestID
		}
	}
	g := &generation{
		s: s, ep: ep, w: w, rc: http.NewResponseController(w),
		stream: req.Stream, includeUsage: req.includeUsage(),
		n: n, prompt: promptTokens, plan: p, entry: entry,
		arrival: arrival, created: arrival.Unix(),
	}
	g.id = responseID(ep, requestID)
	g.head = chunkHead(ep, g.id, s.cfg.Model, g.created)
	if s.cfg.JitterFraction > 0 || s.cfg.Jitter > 0 {
		g.jitter = rand.New(rand.NewPCG(p.seed, p.seed>>1|1))
	}
	g.run(r.Context())
}

// generation is one request between validation and its last byte.
type generation struct {
	s            *Server
	ep           endpoint
	w            http.ResponseWriter
	rc           *http.ResponseController
	stream       bool
	includeUsage bool
	n, prompt    int
	plan
	jitter *rand.Rand // nil without jitter
	entry  *ChunkLogEntry

	id      string // response id: "chatcmpl-" or "cmpl-" + request id
	head    []byte // `{"id":...,"choices":[` shared by every chunk
	buf     []byte // the chunk being written
	text    []byte // generated text (non-streaming)
	timer   *time.Timer
	arrival time.Time
	created int64
	last    time.Time // when the previous token went out
	sent    int       // tokens sent
	hold    bool      // write the next event without flushing it
	aborted bool
}

// responseID is vLLM's response id: a prefix and the x-request-id.
func responseID(ep endpoint, requestID string) string {
	if ep == endpointChat {
		return "chatcmpl-" + requestID
	}
	return "cmpl-" + requestID
}

func chunkHead(ep endpoint, responseID, model string, created int64) []byte {
	object := "chat.completion.chunk"
	if ep == endpointCompletions {
		object = "text_completion"
	}
	id, _ := json.Marshal(responseID)
	name, _ := json.Marshal(model)
	head := make([]byte, 0, 64+len(id)+len(name))
	head = append(head, `{"id":`...)
	head = append(head, id...)
	head = append(head, `,"object":"`+object+`","created":`...)
	head = strconv.AppendInt(head, created, 10)
	head = append(head, `,"model":`...)
	head = append(head, name...)
	return append(head, `,"choices":[`...)
}

func (g *generation) run(ctx context.Context) {
	s := g.s
	cfg := &s.cfg
	if g.stream {
		// vLLM starts the streaming response before the request is scheduled.
		g.w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		g.w.WriteHeader(http.StatusOK)
		if g.rc.Flush() != nil {
			return
		}
		if g.entry != nil {
			g.entry.Status = http.StatusOK
		}
	}
	if s.slots.acquire(ctx) != nil {
		return // client left while queued
	}
	start := time.Now()
	if g.entry != nil {
		g.entry.StartNs = start.UnixNano()
		g.entry.TokenNs = make([]int64, 0, g.n)
	}
	s.kvTokens.Add(int64(g.prompt))
	s.metrics.promptTokens.Add(float64(g.prompt))
	defer g.finish()

	// A per-stream Go timer measured better at 1,000 streams than a shared
	// wakeup thread with nanosecond sleeps (see BenchmarkLateness).
	g.timer = time.NewTimer(time.Hour)
	g.timer.Stop()
	g.buf = make([]byte, 0, chunkBufCapacity)
	// Every token has an absolute deadline, so sleeping late never adds up.
	deadline := start.Add(g.delay(cfg.TTFT + time.Duration(g.prompt)*cfg.TTFTPerPromptToken))
	for k := range g.n {
		if k > 0 {
			deadline = deadline.Add(g.delay(cfg.ITL))
		}
		if g.fault == faultStall && k == g.faultAt {
			deadline = deadline.Add(cfg.StallDuration)
			s.metrics.preemptions.Inc()
		}
		if !g.waitUntil(ctx, deadline) {
			g.aborted = true
			return
		}
		if g.fault == faultDisconnect && k == g.faultAt {
			g.aborted = true
			panic(http.ErrAbortHandler) // net/http closes the connection mid-response
		}
		if !g.emitToken(k) {
			g.aborted = true
			return
		}
	}
	if g.stream {
		g.endStream()
	} else {
		g.writeBody()
	}
}

// delay applies the configured jitter to d.
func (g *generation) delay(d time.Duration) time.Duration {
	if g.jitter == nil {
		return d
	}
	cfg := &g.s.cfg
	f := float64(d) * (1 + cfg.JitterFraction*(2*g.jitter.Float64()-1))
	f += float64(cfg.Jitter) * (2*g.jitter.Float64() - 1)
	return time.Duration(max(0, f))
}

func (g *generation) waitUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	g.timer.Reset(d)
	select {
	case <-g.timer.C:
		return true
	case <-ctx.Done():
		g.timer.Stop()
		return false
	}
}

// emitToken sends (or, without streaming, collects) token k.
func (g *generation) emitToken(k int) bool {
	last := k == g.n-1
	eos := last && g.s.cfg.EOSFinishChunk
	word := words[k%len(words)]
	if eos {
		word = ""
	}
	if !g.stream {
		g.text = append(g.text, word...)
		g.recordToken(time.Now())
		return true
	}
	chat := g.ep == endpointChat
	if chat && k == 0 {
		g.buf = append(append(append(g.buf[:0], sseData...), g.head...), chatRole...)
		t, ok := g.write(g.buf)
		if !ok {
			return false
		}
		if g.entry != nil {
			g.entry.RoleNs = t.UnixNano()
		}
	}
	g.buf = g.buf[:0]
	if every := g.s.cfg.PingEvery; every > 0 && (k+1)%every == 0 {
		if g.s.cfg.PingSameWrite {
			g.buf = append(g.buf, ssePing...)
		} else if _, ok := g.write(pingEvent); !ok {
			return false
		}
	}
	open, tail := textTokenOpen, textTokenTail
	switch {
	case chat && eos:
		open, tail = chatTokenOpen, chatStopTail
	case chat && last:
		open, tail = chatTokenOpen, chatLengthTail
	case chat:
		open, tail = chatTokenOpen, chatTokenTail
	case eos:
		tail = textStopTail
	case last:
		tail = textLengthTail
	}
	g.buf = append(g.buf, sseData...)
	g.buf = append(g.buf, g.head...)
	g.buf = append(g.buf, open...)
	g.buf = append(g.buf, word...)
	g.buf = append(g.buf, tail...)
	every := g.s.cfg.FlushEvery
	g.hold = every > 1 && !last && (k+1)%every != 0
	t, ok := g.write(g.buf)
	g.hold = false
	if ok {
		g.recordToken(t)
	}
	return ok
}

// write sends one event with one Write and, unless held, one Flush, and
// returns when that returned.
func (g *generation) write(b []byte) (time.Time, bool) {
	_, err := g.w.Write(b)
	if err == nil && !g.hold {
		err = g.rc.Flush()
	}
	return time.Now(), err == nil
}

func (g *generation) recordToken(t time.Time) {
	m := g.s.metrics
	if g.sent == 0 {
		m.ttft.Observe(t.Sub(g.arrival).Seconds())
	} else {
		gap := t.Sub(g.last).Seconds()
		m.itl.Observe(gap)
		m.tpot.Observe(gap)
	}
	g.last = t
	g.sent++
	m.generationTokens.Inc()
	g.s.kvTokens.Add(1)
	if g.entry != nil && g.stream {
		g.entry.TokenNs = append(g.entry.TokenNs, t.UnixNano())
	}
}

func (g *generation) usage() usageInfo {
	return usageInfo{PromptTokens: g.prompt, TotalTokens: g.prompt + g.sent, CompletionTokens: g.sent}
}

func (g *generation) endStream() {
	if g.includeUsage {
		u := g.usage()
		b := append(append(g.buf[:0], sseData...), g.head...)
		b = append(b, `],"usage":{"prompt_tokens":`...)
		b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
		b = append(b, `,"total_tokens":`...)
		b = strconv.AppendInt(b, int64(u.TotalTokens), 10)
		b = append(b, `,"completion_tokens":`...)
		b = strconv.AppendInt(b, int64(u.CompletionTokens), 10)
		b = append(b, "}}\n\n"...)
		t, ok := g.write(b)
		if !ok {
			return
		}
		if g.entry != nil {
			g.entry.UsageNs = t.UnixNano()
		}
	}
	t, ok := g.write(doneEvent)
	if ok && g.entry != nil {
		g.entry.DoneNs = t.UnixNano()
	}
}

func (g *generation) finishReason() string {
	switch {
	case g.aborted:
		return finishAbort
	case g.s.cfg.EOSFinishChunk:
		return finishStop
	}
	return finishLength
}

type usageInfo struct {
	PromptTokens     int `json:"prompt_tokens"`
	TotalTokens      int `json:"total_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

type chatChoice struct {
	Index   int `json:"index"`
	Message struct {
		Role      string `json:"role"`
		Content   string `json:"content"`
		ToolCalls []any  `json:"tool_calls"`
	} `json:"message"`
	Logprobs     any    `json:"logprobs"`
	FinishReason string `json:"finish_reason"`
	StopReason   any    `json:"stop_reason"`
}

type textChoice struct {
	Index        int    `json:"index"`
	Text         string `json:"text"`
	Logprobs     any    `json:"logprobs"`
	FinishReason string `json:"finish_reason"`
	StopReason   any    `json:"stop_reason"`
}

type completionResponse struct {
	ID      string    `json:"id"`
	Object  string    `json:"object"`
	Created int64     `json:"created"`
	Model   string    `json:"model"`
	Choices any       `json:"choices"`
	Usage   usageInfo `json:"usage"`
}

// writeBody answers a non-streaming request.
func (g *generation) writeBody() {
	resp := completionResponse{ID: g.id, Created: g.created, Model: g.s.cfg.Model, Usage: g.usage()}
	if g.ep == endpointChat {
		c := chatChoice{FinishReason: g.finishReason()}
		c.Message.Role, c.Message.Content, c.Message.ToolCalls = "assistant", string(g.text), []any{}
		resp.Object, resp.Choices = "chat.completion", []chatChoice{c}
	} else {
		resp.Object = "text_completion"
		resp.Choices = []textChoice{{Text: string(g.text), FinishReason: g.finishReason()}}
	}
	writeJSON(g.w, http.StatusOK, resp)
	if g.entry != nil {
		g.entry.Status = http.StatusOK
		g.entry.DoneNs = time.Now().UnixNano()
	}
}

// finish runs once the request held a running slot, however it ended.
func (g *generation) finish() {
	s := g.s
	s.slots.release()
	s.kvTokens.Add(-int64(g.prompt + g.sent))
	s.metrics.success.WithLabelValues(g.finishReason()).Inc()
	if !g.aborted {
		s.metrics.e2e.Observe(time.Since(g.arrival).Seconds())
	}
	if g.entry != nil {
		g.entry.Aborted = g.aborted
		g.entry.CompletionTokens = g.sent
	}
}
