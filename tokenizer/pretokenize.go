package tokenizer

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2/v2"
)

// preStep is one pre-tokenizer: it cuts a piece of text into smaller pieces,
// appended to dst in order; the pieces cover the input exactly.
type preStep interface {
	appendPieces(dst []string, s string) ([]string, error)
}

const (
	// llama3Pattern is the Split regex of Llama 3, which scanSplitter
	// implements by hand.
	llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// gpt2Pattern is what a ByteLevel pre-tokenizer with use_regex splits on.
	gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
)

// newSplit builds a Split pre-tokenizer with the "Isolated" behaviour (each
// match and each gap between matches is a piece).
func newSplit(c component) (preStep, error) {
	if c.Behavior != "Isolated" || c.Invert {
		return nil, fmt.Errorf("unsupported Split pre-tokenizer: behavior %q, invert %v", c.Behavior, c.Invert)
	}
	switch {
	case c.Pattern == nil:
		return nil, fmt.Errorf("split pre-tokenizer without a pattern")
	case c.Pattern.String != nil:
		if *c.Pattern.String == "" {
			return nil, fmt.Errorf("split pre-tokenizer with an empty pattern")
		}
		return literalSplitter(*c.Pattern.String), nil
	case c.Pattern.Regex == nil:
		return nil, fmt.Errorf("split pre-tokenizer pattern is neither Regex nor String")
	case *c.Pattern.Regex == llama3Pattern:
		return scanSplitter{}, nil
	}
	return newRegexSplitter(*c.Pattern.Regex)
}

// regexSplitter splits on any regex, with the backtracking engine regexp2
// (tokenizer.json regexes use lookaheads that Go's regexp lacks).
type regexSplitter struct{ re *regexp2.Regexp }

func newRegexSplitter(pattern string) (regexSplitter, error) {
	re, err := regexp2.Compile(pattern)
	if err != nil {
		return regexSplitter{}, fmt.Errorf("split pre-tokenizer regex %q: %w", pattern, err)
	}
	return regexSplitter{re: re}, nil
}

func (r regexSplitter) appendPieces(dst []string, s string) ([]string, error) {
	matches, err := r.re.FindAllStringIndex(s, -1)
	if err != nil {
		return dst, err
	}
	prev := 0
	for _, m := range matches {
		if m[0] > prev {
			dst = append(dst, s[prev:m[0]])
		}
		if m[1] > m[0] {
			dst = append(dst, s[m[0]:m[1]])
		}
		prev = m[1]
	}
	if prev < len(s) {
		dst = append(dst, s[prev:])
	}
	return dst, nil
}

// literalSplitter isolates every occurrence of a fixed string.
type literalSplitter string

func (l literalSplitter) appendPieces(dst []string, s string) ([]string, error) {
	for {
		i := strings.Index(s, string(l))
		if i < 0 {
			break
		}
		if i > 0 {
			dst = append(dst, s[:i])
		}
		dst = append(dst, s[i:i+len(l)])
		s = s[i+len(l):]
	}
	if s != "" {
		dst = append(dst, s)
	}
	return dst, nil
}

// byteLevelStep is the ByteLevel pre-tokenizer. Its byte-to-unicode mapping
// is not needed here because the vocabulary is kept as raw bytes; what is left
// is the optional prefix space and the optional GPT-2 regex split.
type byteLevelStep struct {
	addPrefixSpace bool
	split          preStep // nil without use_regex
}

func (b byteLevelStep) appendPieces(dst []string, s string) ([]string, error) {
	if b.addPrefixSpace && !strings.HasPrefix(s, " ") {
		s = " " + s
	}
	if b.split == nil {
		return append(dst, s), nil
	}
	return b.split.appendPieces(dst, s)
}

// scanSplitter matches llama3Pattern without a regex engine, about nine
// times faster than regexp2 (BenchmarkPreTokenize). The alternatives are tried in the
// pattern's order, with the backtracking outcome of each worked out by hand.
// Character classes follow Oniguruma, the engine of Hugging Face tokenizers:
// \s is Unicode White_Space (unicode.IsSpace), \p{L} and \p{N} are the
// general categories, and (?i:'s) also matches U+017F (long s), which folds
// to "s".
type scanSplitter struct{}

func (sc scanSplitter) appendPieces(dst []string, s string) ([]string, error) {
	for i := 0; i < len(s); {
		j := sc.pieceEnd(s, i)
		dst = append(dst, s[i:j])
		i = j
	}
	return dst, nil
}

// pieceEnd returns the end of the piece that starts at i (i < len(s)).
func (sc scanSplitter) pieceEnd(s string, i int) int {
	r, n := decodeRune(s, i)
	// (?i:'s|'t|'re|'ve|'m|'ll|'d)
	if r == '\'' {
		if k := contractionLen(s[i+1:]); k > 0 {
			return i + 1 + k
		}
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if isLetter(r) {
		return skipWhile(s, i+n, isLetter)
	}
	if r != '\r' && r != '\n' && !isNumber(r) && i+n < len(s) {
		if r2, n2 := decodeRune(s, i+n); isLetter(r2) {
			return skipWhile(s, i+n+n2, isLetter)
		}
	}
	// \p{N}{1,3}
	if isNumber(r) {
		j := i + n
		for k := 1; k < 3 && j < len(s); k++ {
			r2, n2 := decodeRune(s, j)
			if !isNumber(r2) {
				break
			}
			j += n2
		}
		return j
	}
	// ` ?[^\s\p{L}\p{N}]+[\r\n]*` (r is neither a letter nor a number here)
	if !isSpace(r) {
		return skipWhile(s, skipWhile(s, i+n, isPunct), isNewline)
	}
	if r == ' ' && i+n < len(s) {
		if r2, n2 := decodeRune(s, i+n); isPunct(r2) {
			return skipWhile(s, skipWhile(s, i+n+n2, isPunct), isNewline)
		}
	}
	// r starts a run of whitespace.
	end, afterNewline, lastStart := i, -1, i
	for end < len(s) {
		r2, n2 := decodeRune(s, end)
		if !isSpace(r2) {
			break
		}
		lastStart = end
		end += n2
		if r2 == '\r' || r2 == '\n' {
			afterNewline = end
		}
	}
	switch {
	case afterNewline >= 0: // \s*[\r\n]+ backtracks to the run's last newline
		return afterNewline
	case end == len(s): // \s+(?!\S) at the end of the text
		return end
	case lastStart > i: // \s+(?!\S) leaves the last space for the next piece
		return lastStart
	default: // \s+
		return end
	}
}

// contractionLen is the length of s, s, t, re, ve, m, ll or d (any case) at
// the start of rest, or 0.
func contractionLen(rest string) int {
	if rest == "" {
		return 0
	}
	switch rest[0] | 0x20 {
	case 's', 't', 'm', 'd':
		return 1
	case 'r', 'v':
		if len(rest) > 1 && rest[1]|0x20 == 'e' {
			return 2
		}
	case 'l':
		if len(rest) > 1 && rest[1]|0x20 == 'l' {
			return 2
		}
	}
	if strings.HasPrefix(rest, "\u017F") {
		return len("\u017F")
	}
	return 0
}

func decodeRune(s string, i int) (rune, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

func skipWhile(s string, i int, in func(rune) bool) int {
	for i < len(s) {
		r, n := decodeRune(s, i)
		if !in(r) {
			break
		}
		i += n
	}
	return i
}

// asciiClass caches the character classes of ASCII.
var asciiClass = func() (t [utf8.RuneSelf]uint8) {
	for c := range t {
		r := rune(c)
		switch {
		case unicode.IsLetter(r):
			t[c] = classLetter
		case unicode.IsNumber(r):
			t[c] = classNumber
		case unicode.IsSpace(r):
			t[c] = classSpace
		}
	}
	return t
}()

const (
	classPunct uint8 = iota
	classLetter
	classNumber
	classSpace
)

func class(r rune) uint8 {
	if r < utf8.RuneSelf {
		return asciiClass[r]
	}
	switch {
	case unicode.IsLetter(r):
		return classLetter
	case unicode.IsNumber(r):
		return classNumber
	case unicode.IsSpace(r):
		return classSpace
	}
	return classPunct
}

func isLetter(r rune) bool  { return class(r) == classLetter }
func isNumber(r rune) bool  { return class(r) == classNumber }
func isSpace(r rune) bool   { return class(r) == classSpace }
func isPunct(r rune) bool   { return class(r) == classPunct }
func isNewline(r rune) bool { return r == '\r' || r == '\n' }
