// Package vllmsim is an OpenAI-compatible stand-in for a vLLM server that
// streams tokens on a known schedule, for tests, demos and benchmarks.
package vllmsim

import (
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"
)

// Tokenizer turns text into token ids and back: it counts prompt tokens
// (usage.prompt_tokens) and serves /tokenize and /detokenize.
// datasets.Tokenizer satisfies it, and ChatTemplater too.
type Tokenizer interface {
	Encode(text string, addSpecialTokens bool) ([]int, error)
	Decode(ids []int) (string, error)
}

// ChatTemplater is a Tokenizer with the model's chat template: a chat
// request's prompt tokens are then counted as vLLM's server counts them,
// through the template with the generation prompt.
type ChatTemplater interface {
	ChatPrompt(user string) (string, error)
}

// Config sets what the simulator serves and how it behaves. The zero value
// of every field but Model is usable; see WithDefaults.
type Config struct {
	Model       string // served model name (body "model", /v1/models id)
	Root        string // /v1/models "root" (model path or HF id); Model when empty
	MaxModelLen int    // reported by /v1/models and /tokenize; 131072 when 0

	TTFT               time.Duration // fixed time from slot grant to the first token
	TTFTPerPromptToken time.Duration // added to TTFT per prompt token (prefill cost)
	ITL                time.Duration // gap between consecutive tokens
	// JitterFraction scales each delay (TTFT, each ITL gap) by a uniform
	// factor in [1-f, 1+f]; Jitter then adds a uniform offset in
	// [-Jitter, +Jitter]. Delays never go below zero.
	JitterFraction float64
	Jitter         time.Duration

	DefaultMaxTokens int // output tokens when the request sets neither max_tokens nor max_completion_tokens; 16 when 0
	// MaxNumSeqs caps requests generating at once; the rest wait in FIFO order
	// before their TTFT clock starts. 0 means no limit.
	MaxNumSeqs int
	// KVCacheTokens is the simulated KV-cache capacity in tokens; cache usage
	// is (prompt + generated tokens of running requests) / KVCacheTokens.
	// 1,000,000 when 0.
	KVCacheTokens int

	// Tokenizer counts prompt tokens as vLLM's server does (completions:
	// the prompt with special tokens; chat: the chat template's rendering
	// of a single user message when it is a ChatTemplater, else the
	// message texts joined by "\n") and serves /tokenize and /detokenize.
	// Default: ByteQuadTokenizer, one token per 4 bytes: a last resort whose
	// counts are far from a real model's (1.5-1.8x Llama 3's for English).
	Tokenizer Tokenizer

	// Fault injection: each request draws once from the seeded RNG and gets
	// at most one fault; the rates must sum to at most 1.
	Fail500Rate    float64       // answer HTTP 500 instead of generating
	Fail503Rate    float64       // answer HTTP 503 instead of generating
	DisconnectRate float64       // close the connection after some tokens
	StallRate      float64       // pause once mid-stream (counted as a preemption)
	StallDuration  time.Duration // length of a stall
	StartupDelay   time.Duration // /health (and the API) answer 503 until this has passed since New
	Seed           uint64        // seeds the fault and jitter RNG

	// PingEvery > 0 writes an SSE comment ": ping" before every PingEvery-th
	// content chunk: as its own write, or glued in front of the chunk in the
	// same write when PingSameWrite.
	PingEvery     int
	PingSameWrite bool
	// FlushEvery > 1 flushes token events in groups of that many (and the
	// last one), as a server that generates several tokens per scheduler
	// step (vLLM's --num-scheduler-steps) delivers them; the chunk log then
	// has each event's write time. 0 or 1 flushes every event.
	FlushEvery int
	// EOSFinishChunk ends each stream as vLLM does when the model stops on
	// EOS: the last token is a chunk with empty content and
	// finish_reason "stop". By default generation stops at the length limit
	// and the last content chunk carries finish_reason "length".
	EOSFinishChunk bool

	// ChunkLog, when set, receives one JSON line per request (ChunkLogEntry)
	// with the times each chunk's write+flush returned. Lines are buffered
	// and written whole; share one writer between servers only if it is safe
	// for concurrent use.
	ChunkLog io.Writer
	Logger   *zap.Logger // zap.NewNop() when nil
}

// WithDefaults returns c with the documented defaults filled in.
func (c Config) WithDefaults() Config {
	if c.Root == "" {
		c.Root = c.Model
	}
	if c.MaxModelLen == 0 {
		c.MaxModelLen = 131072
	}
	if c.DefaultMaxTokens == 0 {
		c.DefaultMaxTokens = 16
	}
	if c.KVCacheTokens == 0 {
		c.KVCacheTokens = 1_000_000
	}
	if c.Tokenizer == nil {
		c.Tokenizer = ByteQuadTokenizer{}
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Model == "":
		return fmt.Errorf("model name is empty")
	case c.TTFT < 0 || c.TTFTPerPromptToken < 0 || c.ITL < 0 || c.Jitter < 0 || c.StallDuration < 0 || c.StartupDelay < 0:
		return fmt.Errorf("durations must not be negative")
	case c.JitterFraction < 0 || c.JitterFraction > 1:
		return fmt.Errorf("jitter fraction %v is outside [0, 1]", c.JitterFraction)
	case c.DefaultMaxTokens < 0 || c.MaxNumSeqs < 0 || c.KVCacheTokens < 0 || c.MaxModelLen < 0 || c.PingEvery < 0 || c.FlushEvery < 0:
		return fmt.Errorf("counts must not be negative")
	}
	rates := []float64{c.Fail500Rate, c.Fail503Rate, c.DisconnectRate, c.StallRate}
	sum := 0.0
	for _, r := range rates {
		if r < 0 || r > 1 {
			return fmt.Errorf("fault rate %v is outside [0, 1]", r)
		}
		sum += r
	}
	if sum > 1+1e-9 {
		return fmt.Errorf("fault rates sum to %v, more than 1", sum)
	}
	return nil
}
