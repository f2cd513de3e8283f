package tokenizer_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vibench/vllm-inference-benchmark/datasets"
	"github.com/vibench/vllm-inference-benchmark/tokenizer"
)

var (
	_ datasets.Tokenizer = (*tokenizer.HF)(nil)
	_ datasets.Tokenizer = (*tokenizer.Remote)(nil)
)

// fakeVLLM answers /tokenize and /detokenize as vLLM does, with the local
// Llama 3.1 tokenizer, and rejects requests that vLLM would read differently.
func fakeVLLM(t *testing.T, calls *atomic.Int32) *httptest.Server {
	tok, err := tokenizer.Llama31()
	if err != nil {
		t.Fatal(err)
	}
	fail := func(w http.ResponseWriter, code int, msg string) {
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]any{"object": "error", "message": msg, "code": code})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /tokenize", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var req struct {
			Model               string  `json:"model"`
			Prompt              *string `json:"prompt"`
			Messages            []struct{ Role, Content string }
			AddGenerationPrompt *bool `json:"add_generation_prompt"`
			AddSpecialTokens    *bool `json:"add_special_tokens"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.AddSpecialTokens == nil {
			fail(w, http.StatusBadRequest, "bad request")
			return
		}
		if req.Model != "llama" {
			fail(w, http.StatusNotFound, "The model `"+req.Model+"` does not exist.")
			return
		}
		var ids []int
		switch {
		case req.Prompt != nil && req.Messages == nil:
			ids, err = tok.Encode(*req.Prompt, *req.AddSpecialTokens)
		case req.Prompt == nil && len(req.Messages) == 1 && req.Messages[0].Role == "user" &&
			req.AddGenerationPrompt != nil && *req.AddGenerationPrompt && !*req.AddSpecialTokens:
			var text string
			if text, err = tok.ChatPrompt(req.Messages[0].Content); err == nil {
				ids, err = tok.Encode(text, false)
			}
		default:
			fail(w, http.StatusBadRequest, "unexpected request")
			return
		}
		if err != nil {
			fail(w, http.StatusInternalServerError, err.Error())
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"tokens": ids, "count": len(ids), "max_model_len": 131072})
	})
	mux.HandleFunc("POST /detokenize", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model  string `json:"model"`
			Tokens []int  `json:"tokens"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			fail(w, http.StatusBadRequest, "bad request")
			return
		}
		text, err := tok.Decode(req.Tokens)
		if err != nil {
			fail(w, http.StatusBadRequest, err.Error())
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"prompt": text})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestRemoteMatchesLocalTokenizer(t *testing.T) {
	local, o := setup(t)
	var calls atomic.Int32
	srv := fakeVLLM(t, &calls)
	remote := tokenizer.NewRemote(srv.URL+"/v1/", "llama", srv.Client())
	remote.Vocab = 128000

	for _, line := range o.SonnetLines[:5] {
		for _, special := range []bool{false, true} {
			got, err := remote.Encode(line.Text, special)
			if err != nil {
				t.Fatal(err)
			}
			checkIDs(t, "remote ids", line.Text, got, encode(t, local, line.Text, special))
		}
	}
	text, err := remote.Decode(o.SonnetLines[0].IDs)
	if err != nil || text != o.SonnetLines[0].Text {
		t.Errorf("remote Decode = %q, %v", text, err)
	}
	for _, c := range o.Chat[:3] {
		got, err := remote.ChatPrompt(c.User)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.Formatted {
			t.Errorf("remote ChatPrompt(%q) = %q, want %q", c.User, got, c.Formatted)
		}
	}

	before := calls.Load()
	if n := remote.NumSpecialTokensToAdd(); n != 1 {
		t.Errorf("NumSpecialTokensToAdd() = %d, want 1", n)
	}
	if !remote.IsSpecial(128000) || remote.IsSpecial(791) {
		t.Error("IsSpecial should know BOS and only it")
	}
	if got := calls.Load() - before; got != 1 {
		t.Errorf("the special-token probe took %d requests, want 1 (cached)", got)
	}
	if remote.VocabSize() != 128000 {
		t.Errorf("VocabSize() = %d", remote.VocabSize())
	}
	if want := "server /tokenize at " + srv.URL + " (no tokenizer.json found; give --tokenizer DIR"; !strings.HasPrefix(remote.Name(), want) {
		t.Errorf("Name() = %q, want it to start %q", remote.Name(), want)
	}
}

func TestRemoteReportsServerErrors(t *testing.T) {
	var calls atomic.Int32
	srv := fakeVLLM(t, &calls)
	remote := tokenizer.NewRemote(srv.URL, "other", nil)
	_, err := remote.Encode("hi", true)
	if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("error %v, want the 404 and the server's message", err)
	}
	if n := remote.NumSpecialTokensToAdd(); n != 0 {
		t.Errorf("NumSpecialTokensToAdd() with a failing server = %d, want 0", n)
	}
	if _, err := tokenizer.NewRemote(srv.URL, "llama", nil).Decode([]int{1 << 30}); err == nil {
		t.Error("Decode of an unknown id gave no error")
	}
	ids, err := tokenizer.NewRemote(srv.URL, "llama", nil).Encode("", false)
	if err != nil || ids == nil || !slices.Equal(ids, []int{}) {
		t.Errorf("Encode(\"\", false) = %#v, %v; want an empty, non-nil slice", ids, err)
	}
}
