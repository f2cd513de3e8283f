package vllmsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

type endpoint int

const (
	endpointChat endpoint = iota
	endpointCompletions
)

func (e endpoint) String() string {
	if e == endpointChat {
		return "chat"
	}
	return "completions"
}

// generateRequest holds the fields of a chat or completions body the
// simulator acts on; the rest (sampling settings, ignore_eos, ...) is
// accepted and ignored.
type generateRequest struct {
	Model               string          `json:"model"`
	Prompt              json.RawMessage `json:"prompt"`
	Messages            []chatMessage   `json:"messages"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Stream              bool            `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// chatText joins the text of every message with "\n": a string content as
// is, a list content as the concatenation of its text parts.
func chatText(msgs []chatMessage) (string, error) {
	var b strings.Builder
	for i, m := range msgs {
		if i > 0 {
			b.WriteByte('\n')
		}
		content := bytes.TrimSpace(m.Content)
		switch {
		case len(content) == 0 || string(content) == "null":
		case content[0] == '"':
			var s string
			if err := json.Unmarshal(content, &s); err != nil {
				return "", fmt.Errorf("messages[%d].content: %v", i, err)
			}
			b.WriteString(s)
		case content[0] == '[':
			var parts []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			}
			if err := json.Unmarshal(content, &parts); err != nil {
				return "", fmt.Errorf("messages[%d].content: %v", i, err)
			}
			for _, p := range parts {
				if p.Type == "text" {
					b.WriteString(p.Text)
				}
			}
		default:
			return "", fmt.Errorf("messages[%d].content must be a string or a list of parts", i)
		}
	}
	return b.String(), nil
}

// promptTokens counts the prompt of a request as vLLM's server does: a
// completions prompt (a string, a one-string list, or token ids) with the
// tokenizer's special tokens; a chat request through the chat template
// with the generation prompt and no further special tokens.
func (r *generateRequest) promptTokens(ep endpoint, tok Tokenizer) (int, error) {
	count := func(text string, special bool) (int, error) {
		ids, err := tok.Encode(text, special)
		return len(ids), err
	}
	if ep == endpointChat {
		if len(r.Messages) == 0 {
			return 0, fmt.Errorf("messages must not be empty")
		}
		text, err := chatText(r.Messages)
		if err != nil {
			return 0, err
		}
		if t, ok := tok.(ChatTemplater); ok && len(r.Messages) == 1 && r.Messages[0].Role == "user" {
			if text, err = t.ChatPrompt(text); err != nil {
				return 0, err
			}
		}
		return count(text, false)
	}
	var text string
	if err := json.Unmarshal(r.Prompt, &text); err == nil {
		return count(text, true)
	}
	var ids []int
	if err := json.Unmarshal(r.Prompt, &ids); err == nil {
		return len(ids), nil
	}
	var texts []string
	if err := json.Unmarshal(r.Prompt, &texts); err == nil && len(texts) == 1 {
		return count(texts[0], true)
	}
	return 0, fmt.Errorf("prompt must be a string, a list of one string, or a list of token ids")
}

// outputTokens is the number of tokens to generate.
func (r *generateRequest) outputTokens(ep endpoint, fallback int) (int, error) {
	n := fallback
	switch {
	case ep == endpointChat && r.MaxCompletionTokens != nil:
		n = *r.MaxCompletionTokens
	case r.MaxTokens != nil:
		n = *r.MaxTokens
	}
	if n < 1 {
		return 0, fmt.Errorf("max_tokens must be at least 1, got %d", n)
	}
	return n, nil
}

func (r *generateRequest) includeUsage() bool {
	return r.StreamOptions != nil && r.StreamOptions.IncludeUsage
}
