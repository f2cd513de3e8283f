// Package preflight checks, before any load is sent or any workflow is
// started, that every server a request names is up and serves the model:
// GET /health and GET /v1/models on each replica, within a short timeout.
// A run against a server that is down would otherwise report a table of
// failures, or wait, hours later.
package preflight

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vibench/vllm-inference-benchmark/config"
)

// Timeout bounds the whole check: every replica is asked at once.
const Timeout = 1500 * time.Millisecond

// Check asks every replica of a validated request for /health and
// /v1/models and returns a *config.ValidationError naming, for each one
// that fails, the field that gave its URL, the URL and the answer. A
// request that deploys its servers (deploy "kubernetes") is not checked:
// they come up during the run. client nil means http.DefaultClient; the
// API key is the one the workers send, $OPENAI_API_KEY.
func Check(ctx context.Context, req config.Request, client *http.Client) error {
	if req.Deploy == "kubernetes" {
		return nil
	}
	if client == nil {
		client = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	n := req.Replicas()
	found := make([][]config.FieldError, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { found[i] = checkReplica(ctx, client, req, i) })
	}
	wg.Wait()
	var all []config.FieldError
	for _, f := range found {
		all = append(all, f...)
	}
	if len(all) > 0 {
		return &config.ValidationError{Problems: all}
	}
	return nil
}

// urlField is the request field that gave replica i's URL.
func urlField(req config.Request, i int) string {
	switch {
	case len(req.ReplicasBaseURLs) > 0:
		return fmt.Sprintf("replicas_base_urls[%d]", i)
	case req.BaseURL != "":
		return "base_url"
	}
	return "host"
}

func checkReplica(ctx context.Context, client *http.Client, req config.Request, i int) []config.FieldError {
	base := req.ReplicaBaseURL(i)
	field := urlField(req, i)
	fail := func(format string, args ...any) []config.FieldError {
		msg := fmt.Sprintf(format, args...)
		if strings.HasSuffix(base, "/v1") {
			msg += `; drop "/v1" from the URL (the endpoint adds it)`
		}
		return []config.FieldError{{Field: field, Problem: msg}}
	}
	const fix = `start the server or fix the URL; to deploy vLLM for the run, give deploy "kubernetes"; if only the load workers reach this server, start with --no-preflight`
	status, body, err := get(ctx, client, base+"/health")
	switch {
	case err != nil:
		return fail("GET %s/health: %s; %s", base, reason(err), fix)
	case status != http.StatusOK:
		return fail("GET %s/health answered %d %s%s; the server is not ready (still loading?) or this is not a vLLM server; %s",
			base, status, http.StatusText(status), quoteBody(body), fix)
	}
	status, body, err = get(ctx, client, base+"/v1/models")
	switch {
	case err != nil:
		return fail("GET %s/v1/models: %s; %s", base, reason(err), fix)
	case status == http.StatusUnauthorized && os.Getenv("OPENAI_API_KEY") == "":
		return fail("GET %s/v1/models answered 401: the server wants an API key; export OPENAI_API_KEY here and on the load workers", base)
	case status != http.StatusOK:
		return fail("GET %s/v1/models answered %d %s%s; %s", base, status, http.StatusText(status), quoteBody(body), fix)
	}
	var models struct {
		Data []struct {
			ID          string `json:"id"`
			MaxModelLen int    `json:"max_model_len"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &models); err != nil {
		return fail("GET %s/v1/models answered what is not an OpenAI model list (%v)%s", base, err, quoteBody(body))
	}
	ids := make([]string, len(models.Data))
	for k, m := range models.Data {
		ids[k] = m.ID
	}
	if len(ids) == 0 {
		return fail("GET %s/v1/models lists no model; the server serves nothing yet", base)
	}
	want := req.ServedModel()
	at := slices.Index(ids, want)
	if want != "" && at < 0 {
		which := "model"
		if req.ServedModelName != "" {
			which = "served_model_name"
		}
		return []config.FieldError{{Field: which, Problem: fmt.Sprintf("%q is not served at %s, which serves %q; give one of those (or served_model_name when the server names the model differently)", want, base, ids)}}
	}
	if at < 0 {
		at = 0
	}
	return checkContext(req, base, models.Data[at].MaxModelLen)
}

// checkContext refuses lengths the served model cannot take: a prompt and
// its output longer than max_model_len fail every request.
func checkContext(req config.Request, base string, maxLen int) []config.FieldError {
	if maxLen <= 0 {
		return nil
	}
	var field string
	var longest int
	switch req.DatasetName {
	case "random":
		ratio := 1 + req.RandomRangeRatio
		field = "random_input_len"
		longest = req.RandomPrefixLen + int(math.Ceil(float64(req.RandomInputLen)*ratio)) + int(math.Ceil(float64(req.RandomOutputLen)*ratio))
	case "sonnet":
		field = "sonnet_input_len"
		longest = req.SonnetInputLen + req.SonnetOutputLen
	default:
		return nil
	}
	if longest <= maxLen {
		return nil
	}
	return []config.FieldError{{Field: field, Problem: fmt.Sprintf(
		"prompts and outputs of up to %d tokens are longer than the %d tokens the model at %s takes (max_model_len); every such request would fail: lower the input or output length",
		longest, maxLen, base)}}
}

func get(ctx context.Context, client *http.Client, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	if key := os.Getenv("OPENAI_API_KEY"); key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

// reason is the part of a transport error a user acts on.
func reason(err error) string {
	var dns *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %s", Timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (nothing listens there)"
	case errors.As(err, &dns):
		return fmt.Sprintf("cannot resolve the host %q", dns.Name)
	}
	return err.Error()
}

func quoteBody(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return ""
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return fmt.Sprintf(" (%q)", s)
}
