package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tinyTokenizerJSON is a GPT-2 style byte-level BPE: ids 0-255 are the bytes,
// four merges, a ByteLevel pre-tokenizer with prefix space and regex, and a
// template that wraps the text in <s> ... </s>.
func tinyTokenizerJSON(t *testing.T, edit func(map[string]any)) []byte {
	t.Helper()
	byteToChar := map[byte]string{}
	for r, b := range charToByte {
		byteToChar[b] = string(r)
	}
	vocab := map[string]int{}
	for b := 0; b < 256; b++ {
		vocab[byteToChar[byte(b)]] = b
	}
	for i, tok := range []string{"he", "ll", "hell", "Ġw"} {
		vocab[tok] = 256 + i
	}
	file := map[string]any{
		"added_tokens": []any{
			map[string]any{"id": 260, "content": "<s>", "special": true},
			map[string]any{"id": 261, "content": "</s>", "special": true},
			map[string]any{"id": 262, "content": "<tool>", "special": false, "lstrip": true, "rstrip": true},
		},
		"normalizer":    nil,
		"pre_tokenizer": map[string]any{"type": "ByteLevel", "add_prefix_space": true, "use_regex": true},
		"post_processor": map[string]any{
			"type": "TemplateProcessing",
			"single": []any{
				map[string]any{"SpecialToken": map[string]any{"id": "<s>"}},
				map[string]any{"Sequence": map[string]any{"id": "A"}},
				map[string]any{"SpecialToken": map[string]any{"id": "</s>"}},
			},
			"special_tokens": map[string]any{
				"<s>":  map[string]any{"ids": []int{260}},
				"</s>": map[string]any{"ids": []int{261}},
			},
		},
		"decoder": map[string]any{"type": "ByteLevel"},
		"model": map[string]any{
			"type": "BPE", "vocab": vocab,
			"merges": []any{"h e", []string{"l", "l"}, "he ll", "Ġ w"},
		},
	}
	if edit != nil {
		edit(file)
	}
	raw, err := json.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func loadTiny(t *testing.T, edit func(map[string]any)) (*HF, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), tinyTokenizerJSON(t, edit), 0o644); err != nil {
		t.Fatal(err)
	}
	return Load(dir)
}

func TestGenericByteLevelBPE(t *testing.T) {
	tok, err := loadTiny(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		text    string
		special bool
		want    []int
	}{
		// " hello" merges to Ġ hell o; " world" to Ġw o r l d.
		{"hello world", true, []int{260, ' ', 258, 'o', 259, 'o', 'r', 'l', 'd', 261}},
		{"hello world", false, []int{' ', 258, 'o', 259, 'o', 'r', 'l', 'd'}},
		// <tool> takes the spaces around it; each side gets its prefix space.
		{"a <tool> b", false, []int{' ', 'a', 262, ' ', 'b'}},
		{"", true, []int{260, 261}},
	} {
		got, err := tok.Encode(c.text, c.special)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("Encode(%q, %v) = %v, want %v", c.text, c.special, got, c.want)
		}
	}
	if got := tok.NumSpecialTokensToAdd(); got != 2 {
		t.Errorf("NumSpecialTokensToAdd() = %d, want 2", got)
	}
	if tok.VocabSize() != 260 || !tok.IsSpecial(261) || tok.IsSpecial(262) {
		t.Errorf("VocabSize %d, IsSpecial(261) %v, IsSpecial(262) %v", tok.VocabSize(), tok.IsSpecial(261), tok.IsSpecial(262))
	}
	text, err := tok.Decode([]int{260, ' ', 258, 'o', 262})
	if err != nil || text != "<s> hello<tool>" {
		t.Errorf("Decode = %q, %v", text, err)
	}
	if _, err := tok.ChatPrompt("hi"); err == nil {
		t.Error("ChatPrompt without a chat template gave no error")
	}
}

func TestUnsupportedTokenizersAreRejected(t *testing.T) {
	for _, c := range []struct {
		edit func(map[string]any)
		want string
	}{
		{func(f map[string]any) { f["model"].(map[string]any)["type"] = "WordPiece" }, "unsupported model type"},
		{func(f map[string]any) { f["normalizer"] = map[string]any{"type": "NFC"} }, "unsupported normalizer"},
		{func(f map[string]any) { f["pre_tokenizer"] = map[string]any{"type": "Metaspace"} }, "unsupported pre-tokenizer"},
		{func(f map[string]any) { f["decoder"] = map[string]any{"type": "WordPiece"} }, "unsupported decoder"},
		{func(f map[string]any) { f["post_processor"] = map[string]any{"type": "BertProcessing"} }, "unsupported post-processor"},
		{func(f map[string]any) { f["model"].(map[string]any)["merges"] = []any{"x yz"} }, "outside the vocabulary"},
	} {
		_, err := loadTiny(t, c.edit)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one containing %q", err, c.want)
		}
	}
}
