package vllmsim

import (
	"encoding/json"
	"io"
	"sync"
)

// ChunkLogEntry is one line of the chunk log: when a request arrived and
// when each of its chunks' write+flush returned, all in Unix nanoseconds
// (0 or absent when it did not happen).
type ChunkLogEntry struct {
	RequestID string `json:"request_id"` // the x-request-id header, or the id the server made up
	Endpoint  string `json:"endpoint"`   // "chat" or "completions"
	Stream    bool   `json:"stream"`
	Status    int    `json:"status"`          // HTTP status sent
	Fault     string `json:"fault,omitempty"` // "500", "503", "disconnect", "stall"
	// Aborted: the stream ended early (client gone, or a disconnect fault).
	Aborted          bool `json:"aborted,omitempty"`
	PromptTokens     int  `json:"prompt_tokens"`
	CompletionTokens int  `json:"completion_tokens"` // tokens actually sent

	ArrivalNs int64 `json:"arrival_ns"` // handler entered
	StartNs   int64 `json:"start_ns"`   // running slot granted: the TTFT clock starts here
	RoleNs    int64 `json:"role_ns,omitempty"`
	// TokenNs holds one time per token chunk, the EOS finish chunk included
	// (streaming only).
	TokenNs []int64 `json:"token_ns"`
	UsageNs int64   `json:"usage_ns,omitempty"`
	DoneNs  int64   `json:"done_ns,omitempty"` // "data: [DONE]", or the non-streaming body
}

// chunkLog buffers whole lines and writes them to out when the buffer is
// large or no request is in flight, so a line is never split.
type chunkLog struct {
	mu  sync.Mutex
	out io.Writer
	buf []byte
	err error
}

const chunkLogFlushBytes = 64 << 10

func (l *chunkLog) add(e *ChunkLogEntry, idle bool) {
	line, err := json.Marshal(e)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.err = err
		return
	}
	l.buf = append(l.buf, line...)
	l.buf = append(l.buf, '\n')
	if idle || len(l.buf) >= chunkLogFlushBytes {
		l.flushLocked()
	}
}

func (l *chunkLog) flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
	return l.err
}

func (l *chunkLog) flushLocked() {
	if len(l.buf) == 0 {
		return
	}
	if _, err := l.out.Write(l.buf); err != nil && l.err == nil {
		l.err = err
	}
	l.buf = l.buf[:0]
}
