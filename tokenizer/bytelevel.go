package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// charToByte inverts GPT-2's byte-to-unicode table: the byte-level alphabet in
// which tokenizer.json spells its vocabulary. Printable Latin-1 bytes stand for
// themselves; the other 68 bytes are shifted to U+0100 and up, in byte order.
var charToByte = func() map[rune]byte {
	m := make(map[rune]byte, 256)
	shifted := 0
	for b := 0; b < 256; b++ {
		if b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF {
			m[rune(b)] = byte(b)
			continue
		}
		m[rune(256+shifted)] = byte(b)
		shifted++
	}
	return m
}()

// fromByteLevel maps a byte-level token to the bytes it stands for; ok is
// false when some character is outside the alphabet.
func fromByteLevel(token string) (raw string, ok bool) {
	var sb strings.Builder
	sb.Grow(len(token))
	for _, r := range token {
		b, in := charToByte[r]
		if !in {
			return "", false
		}
		sb.WriteByte(b)
	}
	return sb.String(), true
}

// appendLossyUTF8 appends b to dst as valid UTF-8 the way Rust's
// String::from_utf8_lossy (and a WHATWG TextDecoder) does: each maximal
// invalid subpart becomes one U+FFFD.
func appendLossyUTF8(dst []byte, b []byte) []byte {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r != utf8.RuneError || n > 1 {
			dst = append(dst, b[:n]...)
			b = b[n:]
			continue
		}
		dst = append(dst, "\uFFFD"...)
		b = b[maximalSubpart(b):]
	}
	return dst
}

// maximalSubpart is the length of the invalid sequence at the start of b:
// a lead byte followed by the continuation bytes that could still have
// completed it (Unicode 3.9, "U+FFFD substitution of maximal subparts").
func maximalSubpart(b []byte) int {
	lo, hi := byte(0x80), byte(0xBF)
	var need int
	switch c := b[0]; {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c == 0xED:
		need, hi = 2, 0x9F
	case c >= 0xE1 && c <= 0xEF:
		need = 2
	case c == 0xF0:
		need, lo = 3, 0x90
	case c == 0xF4:
		need, hi = 3, 0x8F
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	default:
		return 1
	}
	n := 1
	for ; n <= need && n < len(b); n++ {
		if b[n] < lo || b[n] > hi {
			break
		}
		lo, hi = 0x80, 0xBF
	}
	return n
}

// cleanUpTokenization is transformers' clean_up_tokenization: it removes
// the space before some punctuation and English contractions, one pattern
// after the other as Python's chained str.replace does.
func cleanUpTokenization(s string) string {
	for _, p := range cleanUpPairs {
		s = strings.ReplaceAll(s, p[0], p[1])
	}
	return s
}

var cleanUpPairs = [][2]string{
	{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
	{" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
}
