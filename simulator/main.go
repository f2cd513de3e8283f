// Command simulator serves a simulated vLLM (OpenAI-compatible API, /metrics,
// /tokenize) that streams tokens with known latencies. See package vllmsim.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/vibench/vllm-inference-benchmark/simulator/vllmsim"
	"github.com/vibench/vllm-inference-benchmark/tokenizer"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "simulator:", err)
		os.Exit(1)
	}
}

func ms(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

func run() error {
	var (
		cfg                                        vllmsim.Config
		host, chunkLogPath, logLevel, tokenizerDir string
		port, replicas                             int
		ttftMs, ttftPerTokMs, itlMs                float64
		jitterMs, stallMs                          float64
	)
	flag.StringVar(&host, "host", "0.0.0.0", "address to listen on")
	flag.IntVar(&port, "port", 8000, "port to listen on (the first one with --replicas)")
	flag.IntVar(&replicas, "replicas", 1, "number of independent simulated servers on consecutive ports")
	flag.StringVar(&cfg.Model, "model", "meta-llama/Llama-3.1-8B-Instruct", "served model name")
	flag.StringVar(&cfg.Root, "root", "", "model root reported by /v1/models (default: --model)")
	flag.StringVar(&tokenizerDir, "tokenizer", "", "directory with the model's tokenizer.json, to count prompt tokens as vLLM does (default: the bundled Llama 3.1 tokenizer for Llama 3 models, else 1 token per 4 bytes)")
	flag.IntVar(&cfg.MaxModelLen, "max-model-len", 131072, "context length reported and enforced")
	flag.Float64Var(&ttftMs, "ttft-ms", 50, "fixed time to first token after a running slot is granted, ms")
	flag.Float64Var(&ttftPerTokMs, "ttft-per-token-ms", 0, "extra time to first token per prompt token, ms")
	flag.Float64Var(&itlMs, "itl-ms", 10, "inter-token latency, ms")
	flag.Float64Var(&cfg.JitterFraction, "jitter", 0, "uniform jitter of each delay as a fraction (0.1 = ±10%)")
	flag.Float64Var(&jitterMs, "jitter-ms", 0, "uniform jitter added to each delay, ± ms")
	flag.IntVar(&cfg.DefaultMaxTokens, "default-max-tokens", 16, "output tokens when the request sets no max_tokens")
	flag.IntVar(&cfg.MaxNumSeqs, "max-num-seqs", 0, "max requests generating at once, the rest queue FIFO (0 = no limit)")
	flag.IntVar(&cfg.KVCacheTokens, "kv-cache-tokens", 1_000_000, "simulated KV-cache capacity in tokens, for cache usage")
	flag.Float64Var(&cfg.Fail500Rate, "fail-500-rate", 0, "fraction of requests answered with HTTP 500")
	flag.Float64Var(&cfg.Fail503Rate, "fail-503-rate", 0, "fraction of requests answered with HTTP 503")
	flag.Float64Var(&cfg.DisconnectRate, "disconnect-rate", 0, "fraction of requests whose connection is closed mid-stream")
	flag.Float64Var(&cfg.StallRate, "stall-rate", 0, "fraction of requests that stall once mid-stream")
	flag.Float64Var(&stallMs, "stall-ms", 1000, "length of a stall, ms")
	flag.DurationVar(&cfg.StartupDelay, "startup-delay", 0, "time before /health answers 200 (e.g. 5s)")
	flag.Uint64Var(&cfg.Seed, "seed", 1, "seed of the fault and jitter RNG")
	flag.IntVar(&cfg.FlushEvery, "flush-every", 0, "flush token events in groups of N, as a server with N scheduler steps delivers them (0 or 1 = each alone)")
	flag.IntVar(&cfg.PingEvery, "ping-every", 0, `write an SSE comment ": ping" before every Nth content chunk (0 = never)`)
	flag.BoolVar(&cfg.PingSameWrite, "ping-same-write", false, "glue the ping to the following chunk instead of writing it alone")
	flag.BoolVar(&cfg.EOSFinishChunk, "eos-finish-chunk", false, `end streams on a simulated EOS (last chunk empty, finish_reason "stop") instead of the length limit`)
	flag.StringVar(&chunkLogPath, "chunk-log", "", "write one JSON line per request with chunk write times to this file")
	flag.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	flag.Parse()

	cfg.TTFT, cfg.TTFTPerPromptToken, cfg.ITL = ms(ttftMs), ms(ttftPerTokMs), ms(itlMs)
	cfg.Jitter, cfg.StallDuration = ms(jitterMs), ms(stallMs)
	if replicas < 1 {
		return fmt.Errorf("--replicas must be at least 1")
	}

	level, err := zapcore.ParseLevel(logLevel)
	if err != nil {
		return err
	}
	zcfg := zap.NewProductionConfig()
	zcfg.Level = zap.NewAtomicLevelAt(level)
	logger, err := zcfg.Build()
	if err != nil {
		return err
	}
	defer func() { _ = logger.Sync() }()
	cfg.Logger = logger
	tok, counting, err := promptTokenizer(tokenizerDir, cfg.Model, cfg.Root)
	if err != nil {
		return err
	}
	cfg.Tokenizer = tok
	logger.Info("prompt tokens", zap.String("counted_by", counting))

	if chunkLogPath != "" {
		f, err := os.Create(chunkLogPath)
		if err != nil {
			return err
		}
		defer f.Close()
		cfg.ChunkLog = &lockedWriter{w: f}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	errs := make(chan error, replicas)
	for i := range replicas {
		srv, err := vllmsim.New(cfg)
		if err != nil {
			return err
		}
		addr := net.JoinHostPort(host, strconv.Itoa(port+i))
		go func() { errs <- srv.ListenAndServe(ctx, addr) }()
	}
	var first error
	for range replicas {
		if err := <-errs; err != nil && first == nil {
			first = err
			stop() // one replica failed: bring the others down too
		}
	}
	logger.Info("simulator stopped")
	return first
}

// promptTokenizer is the tokenizer that counts prompt tokens, and how it
// counts them: --tokenizer DIR, else the bundled Llama 3.1 tokenizer for a
// Llama 3 model, else (a labelled last resort) one token per 4 bytes.
func promptTokenizer(dir, model, root string) (vllmsim.Tokenizer, string, error) {
	switch {
	case dir != "":
		tok, err := tokenizer.Load(dir)
		if err != nil {
			return nil, "", fmt.Errorf("--tokenizer: %w", err)
		}
		return tok, tok.Name(), nil
	case tokenizer.IsLlama3(model) || tokenizer.IsLlama3(root):
		tok, err := tokenizer.Llama31()
		if err != nil {
			return nil, "", err
		}
		return tok, tok.Name(), nil
	}
	return vllmsim.ByteQuadTokenizer{}, "1 token per 4 bytes (last resort: not what a vLLM server reports; give --tokenizer DIR with the model's tokenizer.json)", nil
}

// lockedWriter lets replicas share one chunk-log file.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
