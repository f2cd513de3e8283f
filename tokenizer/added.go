package tokenizer

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// addedTokens finds the added tokens of tokenizer.json (special or not) in
// raw text, before any pre-tokenization, the way Hugging Face does:
// leftmost match first, the longest token at that position.
type addedTokens struct {
	byFirstByte [256][]addedToken // candidates per first byte, longest first
	firstBytes  []byte            // the bytes that start some token
}

type addedToken struct {
	content        string
	id             int
	lstrip, rstrip bool
}

func newAddedTokens(tokens []addedTokenJSON) (*addedTokens, error) {
	a := &addedTokens{}
	for _, t := range tokens {
		if t.Content == "" {
			return nil, fmt.Errorf("added token %d has no content", t.ID)
		}
		if t.SingleWord {
			return nil, fmt.Errorf("added token %q: single_word is not supported", t.Content)
		}
		first := t.Content[0]
		a.byFirstByte[first] = append(a.byFirstByte[first], addedToken{
			content: t.Content, id: t.ID, lstrip: t.LStrip, rstrip: t.RStrip,
		})
	}
	for c, list := range a.byFirstByte {
		if len(list) > 0 {
			a.firstBytes = append(a.firstBytes, byte(c))
		}
		sort.SliceStable(list, func(i, j int) bool { return len(list[i].content) > len(list[j].content) })
	}
	return a, nil
}

// find returns the span [start, end) and id of the first added token in
// text at or after from; lstrip and rstrip widen the span over adjacent
// whitespace (but not before from).
func (a *addedTokens) find(text string, from int) (start, end, id int, ok bool) {
	if len(a.firstBytes) == 0 {
		return 0, 0, 0, false
	}
	for i := from; i < len(text); i++ {
		if len(a.firstBytes) == 1 { // Llama 3: every added token starts with "<"
			k := strings.IndexByte(text[i:], a.firstBytes[0])
			if k < 0 {
				break
			}
			i += k
		}
		for _, t := range a.byFirstByte[text[i]] {
			if !strings.HasPrefix(text[i:], t.content) {
				continue
			}
			start, end = i, i+len(t.content)
			if t.lstrip {
				for start > from {
					r, n := utf8.DecodeLastRuneInString(text[from:start])
					if !unicode.IsSpace(r) {
						break
					}
					start -= n
				}
			}
			if t.rstrip {
				for end < len(text) {
					r, n := utf8.DecodeRuneInString(text[end:])
					if !unicode.IsSpace(r) {
						break
					}
					end += n
				}
			}
			return start, end, t.id, true
		}
	}
	return 0, 0, 0, false
}
