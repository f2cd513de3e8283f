package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// scanAlphabet mixes every class the split regexes distinguish: letters of
// several scripts, numbers of several kinds, the contraction letters, Unicode
// whitespace (U+0085, U+00A0, U+2028, U+3000 included), newlines, punctuation,
// combining marks, format characters and emoji.
var scanAlphabet = []string{
	"a", "Z", "é", "日", "ß", "1", "٣", "½", "Ⅻ", " ", " ", " ", "\t", "\n", "\r", "\v", "\f",
	"\u00a0", "\u3000", "\u0085", "\u2028", "'", "'", "s", "S", "t", "r", "E", "v", "m", "l", "L", "d",
	".", ",", "!", "-", "😀", "\u0301", "\u200b", "_", "\x00", "<", "|",
}

func randomScanText(r *rand.Rand) string {
	var sb strings.Builder
	for n := r.IntN(24); n > 0; n-- {
		sb.WriteString(scanAlphabet[r.IntN(len(scanAlphabet))])
	}
	return sb.String()
}

func checkScanMatchesRegex(t *testing.T, sc scanSplitter, re regexSplitter, text string) {
	t.Helper()
	want, err := re.appendPieces(nil, text)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := sc.appendPieces(nil, text)
	if !slices.Equal(got, want) {
		t.Fatalf("pieces of %q:\n scanner %q\n  regexp2 %q", text, got, want)
	}
}

// The hand-written scanner must split exactly as the regex does under a
// backtracking engine.
func TestScanSplitterMatchesRegex(t *testing.T) {
	re, err := newRegexSplitter(llama3Pattern)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 40000 {
		checkScanMatchesRegex(t, scanSplitter{}, re, randomScanText(r))
	}
	for _, text := range []string{"", "  \n  x", "a\r\n\r\n  b", "'S'ReLL 'VE", "1234567 x", "  !!\n\n  "} {
		checkScanMatchesRegex(t, scanSplitter{}, re, text)
	}
}

func FuzzScanSplitterMatchesRegex(f *testing.F) {
	re, err := newRegexSplitter(llama3Pattern)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"Hello, world!", "it's  \n\n 12345", "\t'll ?!\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if !isValidForRegexComparison(text) {
			t.Skip()
		}
		checkScanMatchesRegex(t, scanSplitter{}, re, text)
	})
}

// isValidForRegexComparison leaves out invalid UTF-8 (Encode replaces it
// first) and U+017F, on which regexp2's case folding differs from Oniguruma.
func isValidForRegexComparison(text string) bool {
	return strings.ToValidUTF8(text, "") == text && !strings.ContainsRune(text, 'ſ')
}

// Oniguruma folds U+017F (long s) to "s", so (?i:'s) takes it; regexp2 does
// not, hence the explicit case.
func TestScanSplitterFoldsLongS(t *testing.T) {
	got, _ := scanSplitter{}.appendPieces(nil, "x'ſa")
	if want := []string{"x", "'ſ", "a"}; !slices.Equal(got, want) {
		t.Errorf("pieces %q, want %q", got, want)
	}
}

// BenchmarkPreTokenize compares the scanner with regexp2 on the same text.
func BenchmarkPreTokenize(b *testing.B) {
	text := strings.Repeat("Shall I compare thee to a summer's day?\nThou art more lovely and more temperate: 2024!\n", 50)
	re, err := newRegexSplitter(llama3Pattern)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		step preStep
	}{{"scanner", scanSplitter{}}, {"regexp2", re}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			var pieces []string
			for b.Loop() {
				pieces, _ = c.step.appendPieces(pieces[:0], text)
			}
		})
	}
}
