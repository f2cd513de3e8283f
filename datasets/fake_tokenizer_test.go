package datasets

import (
	"errors"
	"strings"
)

// wordTokenizer is a stand-in tokenizer: one token per whitespace-separated
// word, plus a BOS token with special tokens, and a one-line chat template.
type wordTokenizer struct{ noTemplate bool }

func (w wordTokenizer) Encode(text string, addSpecialTokens bool) ([]int, error) {
	ids := make([]int, 0, 16)
	if addSpecialTokens {
		ids = append(ids, 1)
	}
	for range strings.Fields(text) {
		ids = append(ids, 2)
	}
	return ids, nil
}

func (wordTokenizer) Decode(ids []int) (string, error) { return strings.Repeat("w ", len(ids)), nil }

func (w wordTokenizer) ChatPrompt(user string) (string, error) {
	if w.noTemplate {
		return "", errors.New("tokenizer has no chat_template")
	}
	return "<user> " + user + " <assistant>", nil
}

func (wordTokenizer) VocabSize() int             { return 100 }
func (wordTokenizer) IsSpecial(id int) bool      { return id == 1 }
func (wordTokenizer) NumSpecialTokensToAdd() int { return 1 }
func (wordTokenizer) Name() string               { return "word tokenizer" }

// byteTokenizer has one token per byte: counts add up across any split.
type byteTokenizer struct{ wordTokenizer }

func (byteTokenizer) Encode(text string, addSpecialTokens bool) ([]int, error) {
	ids := make([]int, len(text))
	if addSpecialTokens {
		ids = append(ids, 1)
	}
	return ids, nil
}
