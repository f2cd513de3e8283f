package vllmsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Server is one simulated vLLM replica: its own queue, metrics and RNG.
type Server struct {
	cfg      Config
	log      *zap.Logger
	created  int64 // Unix seconds, the "created" field of responses
	readyAt  time.Time
	slots    slots
	metrics  *engineMetrics
	chunkLog *chunkLog // nil when disabled
	mux      *http.ServeMux

	rngMu sync.Mutex
	rng   *rand.Rand

	inFlight atomic.Int64 // generation requests inside their handler
	kvTokens atomic.Int64 // prompt + generated tokens of running requests
}

// New builds a server from cfg (defaults filled in). The startup delay
// counts from here.
func New(cfg Config) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	now := time.Now()
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		created: now.Unix(),
		readyAt: now.Add(cfg.StartupDelay),
		slots:   slots{limit: cfg.MaxNumSeqs},
		rng:     rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
	}
	s.metrics = newEngineMetrics(cfg.Model,
		func() float64 { r, _ := s.slots.counts(); return float64(r) },
		func() float64 { _, w := s.slots.counts(); return float64(w) },
		func() float64 { return min(1, float64(s.kvTokens.Load())/float64(cfg.KVCacheTokens)) },
	)
	if cfg.ChunkLog != nil {
		s.chunkLog = &chunkLog{out: cfg.ChunkLog}
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) { s.generate(w, r, endpointChat) })
	s.mux.HandleFunc("POST /v1/completions", func(w http.ResponseWriter, r *http.Request) { s.generate(w, r, endpointCompletions) })
	s.mux.HandleFunc("GET /v1/models", s.models)
	s.mux.HandleFunc("GET /health", s.health)
	s.mux.HandleFunc("POST /tokenize", s.tokenize)
	s.mux.HandleFunc("POST /detokenize", s.detokenize)
	s.mux.Handle("GET /metrics", s.metrics.handler())
	return s, nil
}

// Handler returns the HTTP handler serving every endpoint.
func (s *Server) Handler() http.Handler { return s.mux }

// Config returns the configuration in use, defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Ready reports whether the startup delay has passed.
func (s *Server) Ready() bool { return !time.Now().Before(s.readyAt) }

// FlushChunkLog writes out buffered chunk-log lines and returns the first
// write or encoding error seen so far.
func (s *Server) FlushChunkLog() error {
	if s.chunkLog == nil {
		return nil
	}
	return s.chunkLog.flush()
}

// ShutdownGrace is how long Serve lets in-flight streams finish after its
// context ends before it closes their connections.
const ShutdownGrace = 10 * time.Second

// Serve answers HTTP on ln until ctx ends, then shuts down gracefully (see
// ShutdownGrace) and flushes the chunk log.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
		defer cancel()
		if err = srv.Shutdown(shutdownCtx); err != nil {
			err = errors.Join(err, srv.Close())
		}
		<-errc
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, s.FlushChunkLog())
}

// ListenAndServe listens on addr (host:port) and calls Serve.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.log.Info("vllm simulator listening", zap.String("addr", ln.Addr().String()), zap.String("model", s.cfg.Model))
	return s.Serve(ctx, ln)
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	if !s.Ready() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

type modelCard struct {
	ID          string  `json:"id"`
	Object      string  `json:"object"`
	Created     int64   `json:"created"`
	OwnedBy     string  `json:"owned_by"`
	Root        string  `json:"root"`
	Parent      *string `json:"parent"`
	MaxModelLen int     `json:"max_model_len"`
}

func (s *Server) models(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Object string      `json:"object"`
		Data   []modelCard `json:"data"`
	}{"list", []modelCard{{
		ID: s.cfg.Model, Object: "model", Created: s.created, OwnedBy: "vllm",
		Root: s.cfg.Root, MaxModelLen: s.cfg.MaxModelLen,
	}}})
}

type tokenizeRequest struct {
	Model            string        `json:"model"`
	Prompt           *string       `json:"prompt"`
	Messages         []chatMessage `json:"messages"`
	AddSpecialTokens *bool         `json:"add_special_tokens"`
}

func (s *Server) tokenize(w http.ResponseWriter, r *http.Request) {
	var req tokenizeRequest
	if !decodeBody(w, r, &req) {
		return
	}
	var text string
	addSpecial := true // vLLM's default for a prompt; chat requests default to false
	switch {
	case req.Prompt != nil:
		text = *req.Prompt
	case req.Messages != nil:
		var err error
		if text, err = chatText(req.Messages); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		addSpecial = false
	default:
		writeError(w, http.StatusBadRequest, "either prompt or messages is required")
		return
	}
	if req.AddSpecialTokens != nil {
		addSpecial = *req.AddSpecialTokens
	}
	ids, err := s.cfg.Tokenizer.Encode(text, addSpecial)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Count       int      `json:"count"`
		MaxModelLen int      `json:"max_model_len"`
		Tokens      []int    `json:"tokens"`
		TokenStrs   []string `json:"token_strs"`
	}{len(ids), s.cfg.MaxModelLen, ids, nil})
}

func (s *Server) detokenize(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model  string `json:"model"`
		Tokens []int  `json:"tokens"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	text, err := s.cfg.Tokenizer.Decode(req.Tokens)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"prompt": text})
}

// decodeBody reads a JSON body into v; on failure it has already answered.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid JSON body: %v", err))
		return false
	}
	return true
}

// errorBody is vLLM's error response.
type errorBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    int     `json:"code"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	var b errorBody
	b.Error.Message = msg
	b.Error.Code = status
	switch status {
	case http.StatusBadRequest:
		b.Error.Type = "BadRequestError"
	case http.StatusNotFound:
		b.Error.Type = "NotFoundError"
	case http.StatusServiceUnavailable:
		b.Error.Type = "ServiceUnavailableError"
	default:
		b.Error.Type = "InternalServerError"
	}
	writeJSON(w, status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
