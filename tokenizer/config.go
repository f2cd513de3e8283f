package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
)

// tokenizerFile is the part of a Hugging Face tokenizer.json this package
// reads. Sections it cannot honour are rejected in build, not ignored.
type tokenizerFile struct {
	AddedTokens   []addedTokenJSON `json:"added_tokens"`
	Normalizer    json.RawMessage  `json:"normalizer"`
	PreTokenizer  json.RawMessage  `json:"pre_tokenizer"`
	PostProcessor json.RawMessage  `json:"post_processor"`
	Decoder       json.RawMessage  `json:"decoder"`
	Model         modelJSON        `json:"model"`
}

type addedTokenJSON struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Special    bool   `json:"special"`
}

type modelJSON struct {
	Type                    string            `json:"type"`
	Dropout                 *float64          `json:"dropout"`
	ContinuingSubwordPrefix *string           `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string           `json:"end_of_word_suffix"`
	ByteFallback            bool              `json:"byte_fallback"`
	IgnoreMerges            bool              `json:"ignore_merges"`
	Vocab                   map[string]int    `json:"vocab"`
	Merges                  []json.RawMessage `json:"merges"`
}

// component is any typed entry of tokenizer.json (pre-tokenizer,
// post-processor, decoder), with the fields of the kinds supported here.
type component struct {
	Type string `json:"type"`
	// Sequence
	PreTokenizers []component `json:"pretokenizers"`
	Processors    []component `json:"processors"`
	Decoders      []component `json:"decoders"`
	// Split
	Pattern  *patternJSON `json:"pattern"`
	Behavior string       `json:"behavior"`
	Invert   bool         `json:"invert"`
	// ByteLevel
	AddPrefixSpace bool  `json:"add_prefix_space"`
	UseRegex       *bool `json:"use_regex"`
	// TemplateProcessing
	Single        []templateItem                `json:"single"`
	SpecialTokens map[string]templateSpecialIDs `json:"special_tokens"`
}

type patternJSON struct {
	Regex  *string `json:"Regex"`
	String *string `json:"String"`
}

type templateItem struct {
	SpecialToken *struct {
		ID string `json:"id"`
	} `json:"SpecialToken"`
	Sequence *struct {
		ID string `json:"id"`
	} `json:"Sequence"`
}

type templateSpecialIDs struct {
	IDs []int `json:"ids"`
}

// configFile is the part of tokenizer_config.json this package reads.
type configFile struct {
	ChatTemplate             json.RawMessage `json:"chat_template"`
	CleanUpTokenizationSpace *bool           `json:"clean_up_tokenization_spaces"`
	BOSToken                 json.RawMessage `json:"bos_token"`
	EOSToken                 json.RawMessage `json:"eos_token"`
	UNKToken                 json.RawMessage `json:"unk_token"`
	PADToken                 json.RawMessage `json:"pad_token"`
}

// isNull reports whether a raw JSON value is absent or null.
func isNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null"
}

// parseMerge reads one merge, either "a b" (older files) or ["a", "b"].
func parseMerge(raw json.RawMessage) (string, string, error) {
	var line string
	if err := json.Unmarshal(raw, &line); err == nil {
		a, b, ok := strings.Cut(line, " ")
		if !ok || strings.Contains(b, " ") {
			return "", "", fmt.Errorf("merge %q is not two tokens", line)
		}
		return a, b, nil
	}
	var pair []string
	if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
		return "", "", fmt.Errorf("merge %s is neither \"a b\" nor [a, b]", raw)
	}
	return pair[0], pair[1], nil
}

// tokenString reads a special token of tokenizer_config.json: a string or an
// AddedToken object with "content". Absent or null gives "".
func tokenString(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "", fmt.Errorf("special token %s: %w", raw, err)
	}
	return obj.Content, nil
}
