package loadgen

import (
	"bytes"

	"github.com/vibench/vllm-inference-benchmark/metrics"
)

// errNoValidChunk is vLLM's exact text for a completions stream without a
// single choice message.
const errNoValidChunk = "Never received a valid chunk to calculate TTFT.This response will be marked as failed!"

// stream turns the bytes of one streamed response into vLLM v0.20's
// RequestFuncOutput fields. It is a standard SSE parser (events end at a
// blank line, "data:" lines of one event are joined with "\n", lines
// starting with ':' are comments, "\r\n" line ends are accepted, a line or
// event split across reads is buffered); every event is timed at the read
// that completed it.
//
// Deliberate deviation: vLLM strips each raw read before buffering, so an
// SSE comment arriving in a read of its own swallows the rest of the
// response (golden case chat_ping_own_read yields "A" with no usage). This
// parser keeps those events.
type stream struct {
	chat bool
	st   float64 // request start, on the same clock as the read times

	line    []byte // an incomplete line carried over from earlier reads
	data    []byte // data of the event being read
	hasData bool
	lastTS  float64 // time of the latest read
	ev      event
	memo    eventMemo

	ttft         float64
	sawChoice    bool // completions: a choice message arrived
	last         float64
	itl          []float64
	text         []byte
	outputTokens int
	promptLen    int
	hasPromptLen bool
}

func newStream(chat bool, st float64, expectedTokens int) *stream {
	if expectedTokens < 0 || expectedTokens > 1<<16 {
		expectedTokens = 1 << 16
	}
	return &stream{
		chat: chat,
		st:   st,
		last: st,
		itl:  make([]float64, 0, expectedTokens+2),
		text: make([]byte, 0, 8*expectedTokens+16),
	}
}

// feed consumes one read whose bytes arrived at ts.
func (s *stream) feed(p []byte, ts float64) error {
	s.lastTS = ts
	for len(p) > 0 {
		nl := bytes.IndexByte(p, '\n')
		if nl < 0 {
			s.line = append(s.line, p...)
			return nil
		}
		line := p[:nl]
		p = p[nl+1:]
		if len(s.line) > 0 {
			s.line = append(s.line, line...)
			line = s.line
		}
		err := s.processLine(line, ts)
		s.line = s.line[:0]
		if err != nil {
			return err
		}
	}
	return nil
}

// finish handles an unterminated last line or event at the end of the
// body; vLLM emits a buffered "data: " message that parses, so do we.
func (s *stream) finish() error {
	if len(s.line) > 0 {
		err := s.processLine(s.line, s.lastTS)
		s.line = s.line[:0]
		if err != nil {
			return err
		}
	}
	return s.dispatch(s.lastTS)
}

func (s *stream) processLine(line []byte, ts float64) error {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) == 0 {
		return s.dispatch(ts)
	}
	if line[0] == ':' {
		return nil
	}
	field, value := line, line[len(line):]
	if c := bytes.IndexByte(line, ':'); c >= 0 {
		field, value = line[:c], line[c+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	if string(field) != "data" {
		return nil // event:, id:, retry: and unknown fields do not matter here
	}
	if s.hasData {
		s.data = append(s.data, '\n')
	}
	s.data = append(s.data, value...)
	s.hasData = true
	return nil
}

func (s *stream) dispatch(ts float64) error {
	if !s.hasData {
		return nil
	}
	err := s.message(bytes.TrimSpace(s.data), ts)
	s.data, s.hasData = s.data[:0], false
	return err
}

// message applies vLLM v0.20's timing rules to one data message.
func (s *stream) message(b []byte, ts float64) error {
	if len(b) == 0 || string(b) == "[DONE]" {
		return nil
	}
	if err := decodeEvent(b, s.chat, &s.ev, &s.memo); err != nil {
		return err
	}
	ev := &s.ev
	switch {
	case ev.choices && s.chat:
		// Chat uses ttft == 0 as "no token yet", as vLLM does.
		if s.ttft == 0 {
			s.ttft = ts - s.st
		} else {
			s.itl = append(s.itl, ts-s.last)
		}
		s.appendText()
	case ev.choices:
		if !s.sawChoice {
			s.sawChoice = true
			s.ttft = ts - s.st
		} else {
			s.itl = append(s.itl, ts-s.last)
		}
		s.last = ts
		s.appendText()
	case ev.usage:
		s.outputTokens = ev.completionTokens
		if ev.hasPromptTokens {
			s.promptLen, s.hasPromptLen = ev.promptTokens, true
		}
	}
	if s.chat {
		s.last = ts // every chat message, usage chunk included
	}
	return nil
}

func (s *stream) appendText() {
	if s.ev.textEscaped {
		s.text = appendUnescaped(s.text, s.ev.text)
	} else {
		s.text = append(s.text, s.ev.text...)
	}
}

// partial copies what a failed request keeps: vLLM sets ttft, itl,
// output_tokens and prompt_len as it goes, generated_text and latency only
// at the end.
func (s *stream) partial(rec *metrics.Record) {
	rec.TTFT = s.ttft
	rec.ITL = s.itl
	rec.OutputTokens = s.outputTokens
	if s.hasPromptLen {
		rec.PromptLen = s.promptLen
	}
}

// complete fills rec for a stream that ended normally.
func (s *stream) complete(rec *metrics.Record) {
	s.partial(rec)
	if !s.chat && !s.sawChoice {
		rec.Success = false
		rec.Error = errNoValidChunk
		return
	}
	rec.Success = true
	rec.GeneratedText = string(s.text)
	rec.Latency = s.last - s.st
}
