package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Remote tokenizes through a vLLM server's POST /tokenize and /detokenize,
// for when no tokenizer files are at hand. It is safe for concurrent use.
//
// What the server cannot tell: the vocabulary size (set Vocab; VocabSize
// returns it) and the full set of special ids (IsSpecial knows only the
// tokens the server adds to a prompt, such as BOS). ChatPrompt is the
// server's chat template output decoded back to text, so it goes through the
// server tokenizer's decode (with its clean-up of spaces, if enabled).
type Remote struct {
	// Vocab is what VocabSize returns: Hugging Face's vocab_size of the
	// served model (128000 for Llama 3.1), or 0 when unknown.
	Vocab int

	baseURL string
	model   string
	hc      *http.Client

	mu       sync.Mutex
	specials []int // ids the server adds with add_special_tokens; nil until probed
	probed   bool
}

// NewRemote talks to the server at baseURL (its root; a trailing "/v1" is
// dropped since /tokenize is served beside it) about model. A nil hc means a
// client with a 60 s timeout.
func NewRemote(baseURL, model string, hc *http.Client) *Remote {
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	base := strings.TrimSuffix(strings.TrimSuffix(baseURL, "/"), "/v1")
	return &Remote{baseURL: base, model: model, hc: hc}
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type tokenizeRequest struct {
	Model               string        `json:"model"`
	Prompt              *string       `json:"prompt,omitempty"`
	Messages            []chatMessage `json:"messages,omitempty"`
	AddGenerationPrompt *bool         `json:"add_generation_prompt,omitempty"`
	AddSpecialTokens    bool          `json:"add_special_tokens"`
}

type tokenizeResponse struct {
	Tokens []int `json:"tokens"`
	Count  int   `json:"count"`
}

type detokenizeRequest struct {
	Model  string `json:"model"`
	Tokens []int  `json:"tokens"`
}

type detokenizeResponse struct {
	Prompt string `json:"prompt"`
}

func (r *Remote) post(path string, body, out any) error {
	payload, err := json.Marshal(body)
	if err != nil {
		return err
	}
	resp, err := r.hc.Post(r.baseURL+path, "application/json", bytes.NewReader(payload))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("POST %s%s: %s: %s", r.baseURL, path, resp.Status, bytes.TrimSpace(raw[:min(len(raw), 500)]))
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
			return fmt.Errorf("%w (the server does not tokenize, so no tokenizer counts tokens; %s)", err, NeedTokenizer)
		}
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("POST %s%s: %w", r.baseURL, path, err)
	}
	return nil
}

// Encode returns the server's token ids of text.
func (r *Remote) Encode(text string, addSpecialTokens bool) ([]int, error) {
	var resp tokenizeResponse
	err := r.post("/tokenize", tokenizeRequest{Model: r.model, Prompt: &text, AddSpecialTokens: addSpecialTokens}, &resp)
	if err != nil {
		return nil, err
	}
	if resp.Tokens == nil {
		resp.Tokens = []int{}
	}
	return resp.Tokens, nil
}

// Decode returns the server's text of ids.
func (r *Remote) Decode(ids []int) (string, error) {
	var resp detokenizeResponse
	if err := r.post("/detokenize", detokenizeRequest{Model: r.model, Tokens: ids}, &resp); err != nil {
		return "", err
	}
	return resp.Prompt, nil
}

// ChatPrompt asks the server to apply its chat template to one user message
// with the generation prompt (the template's own text carries BOS, so no
// special tokens are added), and decodes the ids back to text.
func (r *Remote) ChatPrompt(user string) (string, error) {
	yes := true
	var resp tokenizeResponse
	err := r.post("/tokenize", tokenizeRequest{
		Model:               r.model,
		Messages:            []chatMessage{{Role: "user", Content: user}},
		AddGenerationPrompt: &yes,
	}, &resp)
	if err != nil {
		return "", err
	}
	return r.Decode(resp.Tokens)
}

// VocabSize returns Vocab.
func (r *Remote) VocabSize() int { return r.Vocab }

// IsSpecial reports whether the server adds id to every prompt (BOS).
func (r *Remote) IsSpecial(id int) bool {
	for _, s := range r.probeSpecials() {
		if s == id {
			return true
		}
	}
	return false
}

// NumSpecialTokensToAdd is the number of ids the server adds to an empty
// prompt with add_special_tokens; 0 while the server cannot be asked.
func (r *Remote) NumSpecialTokensToAdd() int { return len(r.probeSpecials()) }

// probeSpecials tokenizes the empty prompt with special tokens once; a
// failed probe is retried at the next call.
func (r *Remote) probeSpecials() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.probed {
		return r.specials
	}
	ids, err := r.Encode("", true)
	if err != nil {
		return nil
	}
	r.specials, r.probed = ids, true
	return ids
}

// NeedTokenizer tells a user how to give the tokenizer a model needs.
const NeedTokenizer = "give --tokenizer DIR, a directory holding the model's tokenizer.json (it ships next to the weights, e.g. /model-storage/<model>/tokenizer.json)"

// Name says which server tokenizes, and that it is the fallback: the
// dataset errors that quote it (the server cannot tell a vocabulary size)
// then say what to do.
func (r *Remote) Name() string {
	return "server /tokenize at " + r.baseURL + " (no tokenizer.json found; " + NeedTokenizer + ")"
}
