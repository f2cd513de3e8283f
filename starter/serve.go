package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/vibench/vllm-inference-benchmark/config"
)

// TokenEnv holds the bearer token `starter serve` requires of callers.
const TokenEnv = "STARTER_SERVE_TOKEN"

// operatorFields choose what runs on the cluster (which image, with which
// arguments, where, with which Secret and volume): a caller of the API may
// give them only when the operator allows each one.
var operatorFields = []string{"deploy", "image", "vllm_args", "vllm_version", "namespace", "hf_token_secret", "model_storage_pvc",
	"node_selector", "cpu", "memory", "shm_size"}

// maxBody bounds a /start-load body; a request is a few hundred bytes.
const maxBody = 1 << 20

// serveOptions is how `starter serve` is opened to callers.
type serveOptions struct {
	token        string          // required as "Authorization: Bearer <token>" when set
	allowed      map[string]bool // operatorFields callers may give
	checkServers bool            // preflight the servers a request names
	readTimeout  time.Duration   // for the whole request, body included
	namespace    string          // Temporal's, for the Web UI links
}

// runServe is the old HTTP API: POST /start-load with the old payload
// starts a workflow and answers its id; GET /runs/ID answers progress.
// It listens on loopback unless told otherwise, and anywhere else only
// with a bearer token.
func serveCommand(fs *flag.FlagSet) runFunc {
	t := bindTemporalFlags(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "the HTTP API's listen address; another than loopback needs $"+TokenEnv)
	allow := fs.String("allow-fields", "", "comma list of fields callers may set that choose what runs: "+strings.Join(operatorFields, ","))
	noPreflight := fs.Bool("no-preflight", false, "start runs without asking their servers for /health and /v1/models first")
	return func(ctx context.Context, _ []string) error { return runServe(ctx, t, *addr, *allow, *noPreflight) }
}

func runServe(ctx context.Context, t *temporalFlags, addr, allow string, noPreflight bool) error {
	o := serveOptions{token: os.Getenv(TokenEnv), allowed: map[string]bool{}, checkServers: !noPreflight, readTimeout: 30 * time.Second,
		namespace: t.namespace}
	for _, f := range strings.FieldsFunc(allow, func(r rune) bool { return r == ',' || r == ' ' }) {
		if !slices.Contains(operatorFields, f) {
			return exitError{2, fmt.Errorf("--allow-fields: %q is not one of %s", f, strings.Join(operatorFields, ", "))}
		}
		o.allowed[f] = true
	}
	if o.token == "" && !isLoopback(addr) {
		return exitError{2, fmt.Errorf("--addr %s is reachable from other hosts: set %s to a secret token that callers send as \"Authorization: Bearer <token>\", or listen on 127.0.0.1", addr, TokenEnv)}
	}
	c, err := t.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	srv := newServer(addr, apiHandler(c, o), o)
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	fmt.Fprintf(os.Stderr, "serving POST /start-load and GET /runs/ID on %s\n", addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newServer bounds every phase of a request, so a slow or silent caller
// never holds a connection.
func newServer(addr string, h http.Handler, o serveOptions) *http.Server {
	return &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: o.readTimeout,
		WriteTimeout: o.readTimeout + 30*time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
}

// isLoopback says whether a listen address is reachable only from this
// host; an empty host means every interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func apiHandler(c client.Client, o serveOptions) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /start-load", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			writeProblems(w, http.StatusRequestEntityTooLarge, []config.FieldError{{Field: config.RequestField,
				Problem: fmt.Sprintf("is larger than %d bytes; a benchmark request is a small JSON object", maxBody)}})
			return
		case err != nil:
			writeProblems(w, http.StatusBadRequest, []config.FieldError{{Field: config.RequestField,
				Problem: fmt.Sprintf("body not received in full within %s (%v); send the whole JSON object at once", o.readTimeout, err)}})
			return
		}
		req, err := config.DecodeRequest(body)
		if v, ok := config.AsValidationError(err); ok {
			writeProblems(w, http.StatusBadRequest, v.Problems)
			return
		}
		var refused []config.FieldError
		for _, f := range operatorFields {
			if req.Given(f) && !o.allowed[f] {
				refused = append(refused, config.FieldError{Field: f, Problem: "chooses what runs on the cluster, and this server does not take it from callers; the operator allows it with `starter serve --allow-fields " + f + "`"})
			}
		}
		req = req.Defaults()
		if err := req.Validate(); err != nil {
			v, _ := config.AsValidationError(err)
			refused = append(refused, v.Problems...)
		}
		if len(refused) == 0 && o.checkServers {
			if err := checkRequest(r.Context(), req, true); err != nil {
				v, _ := config.AsValidationError(err)
				refused = append(refused, v.Problems...)
			}
		}
		if len(refused) > 0 {
			writeProblems(w, http.StatusBadRequest, refused)
			return
		}
		run, err := startRun(r.Context(), c, req, "")
		if err != nil {
			writeJSON(w, http.StatusBadGateway, map[string]any{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]any{"workflow_id": run.GetID(), "run_id": run.GetRunID(), "status_url": "/runs/" + run.GetID(), "web_ui": webURL(o.namespace, run.GetID())})
	})
	mux.HandleFunc("GET /runs/{id}", func(w http.ResponseWriter, r *http.Request) {
		p, err := queryProgress(r.Context(), c, r.PathValue("id"))
		if err != nil {
			writeJSON(w, http.StatusNotFound, map[string]any{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, p)
	})
	if o.token == "" {
		return mux
	}
	want := []byte("Bearer " + o.token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="starter serve"`)
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "send the operator's token as \"Authorization: Bearer <token>\""})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func writeProblems(w http.ResponseWriter, status int, problems []config.FieldError) {
	v := &config.ValidationError{Problems: problems}
	writeJSON(w, status, map[string]any{"error": v.Error(), "problems": problems})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
