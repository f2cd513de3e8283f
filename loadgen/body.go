package loadgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	openai "github.com/sashabaranov/go-openai"
)

// Placeholders marshalled into the body where the per-request values go;
// the rendered template is cut at their JSON encodings.
const (
	promptHole    = "\x00loadgen-prompt\x00"
	maxTokensHole = "\x00loadgen-max-tokens\x00"
)

// bodyTemplate is a request body rendered once per run with two holes: the
// prompt (a JSON string) and the max-tokens number.
type bodyTemplate struct {
	segments []segment
}

type segment struct {
	literal []byte
	hole    holeKind // what follows literal
}

type holeKind int

const (
	noHole holeKind = iota
	promptSlot
	maxTokensSlot
)

// render appends the body for one request to dst.
func (t *bodyTemplate) render(dst []byte, prompt string, maxTokens int) []byte {
	for _, s := range t.segments {
		dst = append(dst, s.literal...)
		switch s.hole {
		case promptSlot:
			dst = appendJSONString(dst, prompt)
		case maxTokensSlot:
			dst = strconv.AppendInt(dst, int64(maxTokens), 10)
		}
	}
	return dst
}

// size is the body length without the per-request values.
func (t *bodyTemplate) size() int {
	n := 0
	for _, s := range t.segments {
		n += len(s.literal)
	}
	return n
}

// newBodyTemplate builds the constant part of vLLM v0.20's request body for
// the backend: the go-openai request type for the standard fields, then the
// fields the library cannot express, in vLLM's key order, then the sampling
// flags and the extra body merged last (a key already present keeps its
// place and takes the new value, as Python's dict.update does).
func newBodyTemplate(o *ClientOptions) (*bodyTemplate, error) {
	streamOpts := &openai.StreamOptions{IncludeUsage: true}
	var lib any
	if o.Backend == BackendOpenAIChat {
		lib = openai.ChatCompletionRequest{
			Model: o.Model,
			Messages: []openai.ChatCompletionMessage{{
				Role:         openai.ChatMessageRoleUser,
				MultiContent: []openai.ChatMessagePart{{Type: openai.ChatMessagePartTypeText, Text: promptHole}},
			}},
			MaxCompletionTokens: 1,
			Stream:              true,
			StreamOptions:       streamOpts,
		}
	} else {
		lib = openai.CompletionRequest{
			Model:         o.Model,
			Prompt:        promptHole,
			MaxTokens:     1,
			Stream:        true,
			StreamOptions: streamOpts,
		}
	}
	raw, err := json.Marshal(lib)
	if err != nil {
		return nil, err
	}
	var body jsonObject
	if err := body.parse(raw); err != nil {
		return nil, err
	}
	hole, _ := json.Marshal(maxTokensHole)
	if o.Backend == BackendOpenAIChat {
		body.set("max_completion_tokens", hole)
	} else {
		body.insertAfter("prompt", "repetition_penalty", []byte("1.0"))
		body.set("max_tokens", hole)
		logprobs := []byte("null")
		if o.Logprobs != nil {
			logprobs = strconv.AppendInt(nil, int64(*o.Logprobs), 10)
		}
		body.insertAfter("max_tokens", "logprobs", logprobs)
	}
	if o.IgnoreEOS {
		body.set("ignore_eos", []byte("true"))
	}
	// The sampling flags vLLM merges, in its order, only those given.
	var badFlag error
	setFloat := func(key string, v *float64) {
		switch {
		case v == nil:
		case math.IsNaN(*v) || math.IsInf(*v, 0):
			badFlag = fmt.Errorf("ClientOptions: %s must be finite, got %v", key, *v)
		default:
			body.set(key, appendPyFloat(nil, *v))
		}
	}
	setFloat("top_p", o.TopP)
	if o.TopK != nil {
		body.set("top_k", strconv.AppendInt(nil, int64(*o.TopK), 10))
	}
	setFloat("min_p", o.MinP)
	setFloat("temperature", o.Temperature)
	setFloat("frequency_penalty", o.FrequencyPenalty)
	setFloat("presence_penalty", o.PresencePenalty)
	setFloat("repetition_penalty", o.RepetitionPenalty)
	if badFlag != nil {
		return nil, badFlag
	}
	keys := make([]string, 0, len(o.ExtraBody))
	for k := range o.ExtraBody {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v, err := json.Marshal(o.ExtraBody[k])
		if err != nil {
			return nil, fmt.Errorf("ClientOptions.ExtraBody[%q]: %w", k, err)
		}
		body.set(k, v)
	}
	return splitTemplate(body.marshal()), nil
}

// splitTemplate cuts a rendered body at the JSON encodings of the holes.
func splitTemplate(b []byte) *bodyTemplate {
	pq, _ := json.Marshal(promptHole)
	mq, _ := json.Marshal(maxTokensHole)
	t := &bodyTemplate{}
	for {
		pi, mi := bytes.Index(b, pq), bytes.Index(b, mq)
		switch {
		case pi < 0 && mi < 0:
			t.segments = append(t.segments, segment{literal: b})
			return t
		case mi < 0 || (pi >= 0 && pi < mi):
			t.segments = append(t.segments, segment{literal: b[:pi], hole: promptSlot})
			b = b[pi+len(pq):]
		default:
			t.segments = append(t.segments, segment{literal: b[:mi], hole: maxTokensSlot})
			b = b[mi+len(mq):]
		}
	}
}

// jsonObject is a JSON object that keeps its key order.
type jsonObject []jsonField

type jsonField struct {
	key string
	raw []byte
}

func (o *jsonObject) parse(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		o.set(key, raw)
	}
	return nil
}

func (o *jsonObject) set(key string, raw []byte) {
	for i := range *o {
		if (*o)[i].key == key {
			(*o)[i].raw = raw
			return
		}
	}
	*o = append(*o, jsonField{key, raw})
}

// insertAfter puts key right after the field named after (or at the end).
func (o *jsonObject) insertAfter(after, key string, raw []byte) {
	i := slices.IndexFunc(*o, func(f jsonField) bool { return f.key == after })
	if i < 0 {
		o.set(key, raw)
		return
	}
	*o = slices.Insert(*o, i+1, jsonField{key, raw})
}

func (o jsonObject) marshal() []byte {
	b := []byte{'{'}
	for i, f := range o {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendJSONString(b, f.key)
		b = append(b, ": "...)
		b = append(b, f.raw...)
	}
	return append(b, '}')
}

// appendPyFloat formats v as Python's repr does for the values a sampling
// flag takes (1.0, 0.7, 1e-05), so bodies read like vLLM's.
func appendPyFloat(dst []byte, v float64) []byte {
	start := len(dst)
	dst = strconv.AppendFloat(dst, v, 'g', -1, 64)
	if !bytes.ContainsAny(dst[start:], ".e") {
		dst = append(dst, ".0"...)
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Unlike encoding/json it does
// not escape <, > and &; invalid UTF-8 becomes U+FFFD as there.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
