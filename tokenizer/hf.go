// Package tokenizer gives token ids identical to Hugging Face tokenizers for
// byte-level BPE tokenizer.json files without a normalizer (Llama 3, GPT-2
// style), renders their chat templates, and offers the same operations through a vLLM
// server's /tokenize and /detokenize endpoints when no files are at hand.
package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/ardanlabs/jinja"
)

// HF is a tokenizer loaded from a Hugging Face tokenizer.json (and the chat
// template of tokenizer_config.json). It is safe for concurrent use.
type HF struct {
	name    string
	model   *bpe
	added   *addedTokens
	pre     []preStep
	scan    *scanSplitter // set when pre is exactly one scanSplitter: a faster path
	prefix  []int         // post-processor tokens before the text (BOS)
	suffix  []int         // and after it
	special map[int]bool
	// idBytes holds, per id, the bytes the ByteLevel decoder turns it into.
	idBytes   [][]byte
	vocabSize int
	cleanUp   bool
	chat      *jinja.Template
	chatVars  map[string]any // bos_token, eos_token, ... for the template
}

// Load reads dir/tokenizer.json and, when present, dir/tokenizer_config.json
// (chat template, clean-up flag, special token names).
func Load(dir string) (*HF, error) {
	tokJSON, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		return nil, err
	}
	cfgJSON, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
	if errors.Is(err, fs.ErrNotExist) {
		cfgJSON = nil
	} else if err != nil {
		return nil, err
	}
	return build("tokenizer.json at "+dir, tokJSON, cfgJSON)
}

func build(name string, tokJSON, cfgJSON []byte) (*HF, error) {
	var file tokenizerFile
	if err := json.Unmarshal(tokJSON, &file); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	t, err := fromFile(name, &file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if cfgJSON != nil {
		if err := t.applyConfig(cfgJSON); err != nil {
			return nil, fmt.Errorf("%s: tokenizer_config.json: %w", name, err)
		}
	}
	return t, nil
}

func fromFile(name string, f *tokenizerFile) (*HF, error) {
	if !isNull(f.Normalizer) {
		return nil, fmt.Errorf("unsupported normalizer %s", f.Normalizer)
	}
	model, err := newBPE(f.Model)
	if err != nil {
		return nil, err
	}
	added, err := newAddedTokens(f.AddedTokens)
	if err != nil {
		return nil, err
	}
	t := &HF{name: name, model: model, added: added, special: map[int]bool{}, vocabSize: len(f.Model.Vocab)}
	if err := t.parsePreTokenizer(f.PreTokenizer); err != nil {
		return nil, err
	}
	if err := t.parsePostProcessor(f.PostProcessor); err != nil {
		return nil, err
	}
	if err := checkDecoder(f.Decoder); err != nil {
		return nil, err
	}
	maxID := 0
	for _, id := range model.vocab {
		maxID = max(maxID, id)
	}
	for _, a := range f.AddedTokens {
		maxID = max(maxID, a.ID)
	}
	t.idBytes = make([][]byte, maxID+1)
	for raw, id := range model.vocab {
		t.idBytes[id] = []byte(raw)
	}
	for _, a := range f.AddedTokens {
		if a.ID < 0 {
			return nil, fmt.Errorf("added token %q has id %d", a.Content, a.ID)
		}
		// The ByteLevel decoder maps a token through the byte-level alphabet
		// when it can, and keeps it as it is otherwise.
		if raw, ok := fromByteLevel(a.Content); ok {
			t.idBytes[a.ID] = []byte(raw)
		} else {
			t.idBytes[a.ID] = []byte(a.Content)
		}
		if a.Special {
			t.special[a.ID] = true
		}
	}
	return t, nil
}

func (t *HF) parsePreTokenizer(raw json.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("pre_tokenizer: %w", err)
	}
	if err := t.addPreStep(c); err != nil {
		return err
	}
	if len(t.pre) == 1 {
		if sc, ok := t.pre[0].(scanSplitter); ok {
			t.scan = &sc
		}
	}
	return nil
}

func (t *HF) addPreStep(c component) error {
	switch c.Type {
	case "Sequence":
		for _, sub := range c.PreTokenizers {
			if err := t.addPreStep(sub); err != nil {
				return err
			}
		}
		return nil
	case "Split":
		step, err := newSplit(c)
		if err != nil {
			return err
		}
		t.pre = append(t.pre, step)
		return nil
	case "ByteLevel":
		step := byteLevelStep{addPrefixSpace: c.AddPrefixSpace}
		if c.UseRegex == nil || *c.UseRegex {
			split, err := newRegexSplitter(gpt2Pattern)
			if err != nil {
				return err
			}
			step.split = split
		}
		if step.addPrefixSpace || step.split != nil {
			t.pre = append(t.pre, step)
		}
		return nil
	}
	return fmt.Errorf("unsupported pre-tokenizer %q", c.Type)
}

func (t *HF) parsePostProcessor(raw json.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("post_processor: %w", err)
	}
	return t.addPostProcessor(c)
}

// addPostProcessor wraps the current prefix and suffix with those of c;
// a Sequence applies its processors in order.
func (t *HF) addPostProcessor(c component) error {
	switch c.Type {
	case "Sequence":
		for _, sub := range c.Processors {
			if err := t.addPostProcessor(sub); err != nil {
				return err
			}
		}
		return nil
	case "ByteLevel": // only adjusts offsets
		return nil
	case "TemplateProcessing":
		var before, after []int
		seenSequence := false
		for _, item := range c.Single {
			switch {
			case item.Sequence != nil:
				if seenSequence || item.Sequence.ID != "A" {
					return fmt.Errorf("unsupported TemplateProcessing single template")
				}
				seenSequence = true
			case item.SpecialToken != nil:
				special, ok := c.SpecialTokens[item.SpecialToken.ID]
				if !ok {
					return fmt.Errorf("TemplateProcessing: special token %q not defined", item.SpecialToken.ID)
				}
				if seenSequence {
					after = append(after, special.IDs...)
				} else {
					before = append(before, special.IDs...)
				}
			default:
				return fmt.Errorf("TemplateProcessing: unknown template item")
			}
		}
		if !seenSequence {
			return fmt.Errorf("TemplateProcessing single template has no sequence")
		}
		t.prefix = append(before, t.prefix...)
		t.suffix = append(t.suffix, after...)
		return nil
	}
	return fmt.Errorf("unsupported post-processor %q", c.Type)
}

func checkDecoder(raw json.RawMessage) error {
	var c component
	if isNull(raw) {
		return fmt.Errorf("no decoder (only the ByteLevel decoder is supported)")
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("decoder: %w", err)
	}
	if c.Type == "Sequence" && len(c.Decoders) == 1 {
		c = c.Decoders[0]
	}
	if c.Type != "ByteLevel" {
		return fmt.Errorf("unsupported decoder %q (only ByteLevel)", c.Type)
	}
	return nil
}

// applyConfig reads the chat template, clean_up_tokenization_spaces and the
// special token strings of tokenizer_config.json.
func (t *HF) applyConfig(cfgJSON []byte) error {
	var cfg configFile
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		return err
	}
	// transformers treats an absent flag as false.
	t.cleanUp = cfg.CleanUpTokenizationSpace != nil && *cfg.CleanUpTokenizationSpace
	t.chatVars = map[string]any{}
	for name, raw := range map[string]json.RawMessage{
		"bos_token": cfg.BOSToken, "eos_token": cfg.EOSToken, "unk_token": cfg.UNKToken, "pad_token": cfg.PADToken,
	} {
		s, err := tokenString(raw)
		if err != nil {
			return err
		}
		if s != "" {
			t.chatVars[name] = s
		}
	}
	source, err := chatTemplateSource(cfg.ChatTemplate)
	if err != nil || source == "" {
		return err
	}
	t.chat, err = jinja.Compile(source)
	if err != nil {
		return fmt.Errorf("chat_template: %w", err)
	}
	return nil
}

// chatTemplateSource reads chat_template: a string, or a list of named
// templates of which transformers uses "default".
func chatTemplateSource(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var named []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(raw, &named); err != nil {
		return "", fmt.Errorf("chat_template: %w", err)
	}
	for _, n := range named {
		if n.Name == "default" {
			return n.Template, nil
		}
	}
	return "", fmt.Errorf("chat_template list has no \"default\" template")
}

// Encode returns the token ids of text as Hugging Face's
// tokenizer(text, add_special_tokens=addSpecialTokens).input_ids does.
// Invalid UTF-8 is first replaced as Python's bytes.decode(errors="replace")
// would.
func (t *HF) Encode(text string, addSpecialTokens bool) ([]int, error) {
	if !utf8.ValidString(text) {
		text = string(appendLossyUTF8(nil, []byte(text)))
	}
	ids := make([]int, 0, len(text)/3+len(t.prefix)+len(t.suffix))
	if addSpecialTokens {
		ids = append(ids, t.prefix...)
	}
	for pos := 0; pos < len(text); {
		start, end, id, found := t.added.find(text, pos)
		if !found {
			start = len(text)
		}
		var err error
		if ids, err = t.appendText(ids, text[pos:start]); err != nil {
			return nil, err
		}
		if !found {
			break
		}
		ids = append(ids, id)
		pos = end
	}
	if addSpecialTokens {
		ids = append(ids, t.suffix...)
	}
	return ids, nil
}

// appendText pre-tokenizes a stretch of text without added tokens and
// appends the BPE ids of every piece.
func (t *HF) appendText(ids []int, text string) ([]int, error) {
	if text == "" {
		return ids, nil
	}
	if t.scan != nil {
		for i := 0; i < len(text); {
			j := t.scan.pieceEnd(text, i)
			ids = t.model.appendPiece(ids, text[i:j])
			i = j
		}
		return ids, nil
	}
	pieces := []string{text}
	for _, step := range t.pre {
		var next []string
		for _, p := range pieces {
			var err error
			if next, err = step.appendPieces(next, p); err != nil {
				return nil, err
			}
		}
		pieces = next
	}
	for _, p := range pieces {
		ids = t.model.appendPiece(ids, p)
	}
	return ids, nil
}

// Decode returns the text of ids as Hugging Face's decode(ids) does:
// special tokens kept, invalid UTF-8 replaced by U+FFFD, and
// clean_up_tokenization_spaces applied when tokenizer_config.json sets it.
func (t *HF) Decode(ids []int) (string, error) {
	var raw []byte
	for _, id := range ids {
		if id < 0 || id >= len(t.idBytes) || t.idBytes[id] == nil {
			return "", fmt.Errorf("token id %d is not in the vocabulary", id)
		}
		raw = append(raw, t.idBytes[id]...)
	}
	text := string(appendLossyUTF8(make([]byte, 0, len(raw)), raw))
	if t.cleanUp {
		text = cleanUpTokenization(text)
	}
	return text, nil
}

// ChatPrompt renders one user message through the chat template with the
// generation prompt, as apply_chat_template(..., add_generation_prompt=True,
// tokenize=False).
func (t *HF) ChatPrompt(user string) (string, error) {
	if t.chat == nil {
		return "", fmt.Errorf("%s has no chat template", t.name)
	}
	data := map[string]any{
		"messages":              []any{map[string]any{"role": "user", "content": user}},
		"add_generation_prompt": true,
	}
	for k, v := range t.chatVars {
		data[k] = v
	}
	return t.chat.Render(data)
}

// VocabSize is Hugging Face's vocab_size: the model's vocabulary without
// the added tokens (128000 for Llama 3.1, whose added tokens are 128000 and
// up).
func (t *HF) VocabSize() int { return t.vocabSize }

// IsSpecial reports whether id is an added token marked special in
// tokenizer.json: for Llama 3.1 all 256 ids from 128000 (transformers'
// all_special_ids lists only BOS and EOS, but both sets lie at or above
// VocabSize, so the ids a dataset draws from [0, VocabSize) are the same).
func (t *HF) IsSpecial(id int) bool { return t.special[id] }

// NumSpecialTokensToAdd is the number of tokens Encode adds with
// addSpecialTokens (num_special_tokens_to_add(pair=False)).
func (t *HF) NumSpecialTokensToAdd() int { return len(t.prefix) + len(t.suffix) }

// Name says where the tokenizer comes from.
func (t *HF) Name() string { return t.name }
