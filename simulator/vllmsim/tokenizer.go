package vllmsim

import "fmt"

// ByteQuadTokenizer is a cheap stand-in tokenizer: every 4 bytes of text
// form one token whose id packs those bytes little-endian, so Decode(Encode(s))
// gives s back for any text without NUL bytes, and a prompt of n bytes counts
// ceil(n/4) tokens. It adds no special tokens.
type ByteQuadTokenizer struct{}

// Encode returns one id per 4-byte piece of text.
func (ByteQuadTokenizer) Encode(text string, _ bool) ([]int, error) {
	ids := make([]int, 0, (len(text)+3)/4)
	for i := 0; i < len(text); i += 4 {
		id := 0
		for j := min(i+4, len(text)) - 1; j >= i; j-- {
			id = id<<8 | int(text[j])
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// Decode unpacks each id into its bytes (high zero bytes are dropped).
func (ByteQuadTokenizer) Decode(ids []int) (string, error) {
	buf := make([]byte, 0, 4*len(ids))
	for _, id := range ids {
		if id < 0 || id > 0xFFFFFFFF {
			return "", fmt.Errorf("token id %d is out of vocabulary", id)
		}
		for ; id != 0; id >>= 8 {
			buf = append(buf, byte(id))
		}
	}
	return string(buf), nil
}
