package tokenizer

import (
	"fmt"
	"math"
	"strings"
	"sync"
)

// bpe is a byte-level BPE model with its vocabulary kept as raw bytes (the
// byte-level spelling of tokenizer.json decoded once at load).
type bpe struct {
	vocab        map[string]int    // raw bytes -> id
	merges       map[uint64]merged // pairKey(left, right) -> result
	byteIDs      [256]int32        // id of each single byte
	ignoreMerges bool              // a piece found whole in the vocabulary is one token
	cache        *wordCache
}

type merged struct {
	rank int32
	id   int32
}

func pairKey(left, right int32) uint64 { return uint64(uint32(left))<<32 | uint64(uint32(right)) }

func newBPE(m modelJSON) (*bpe, error) {
	if m.Type != "BPE" {
		return nil, fmt.Errorf("unsupported model type %q (only BPE)", m.Type)
	}
	if m.Dropout != nil && *m.Dropout != 0 || m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "" ||
		m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "" || m.ByteFallback {
		return nil, fmt.Errorf("unsupported BPE options (dropout, subword prefix/suffix or byte_fallback)")
	}
	b := &bpe{
		vocab:        make(map[string]int, len(m.Vocab)),
		merges:       make(map[uint64]merged, len(m.Merges)),
		ignoreMerges: m.IgnoreMerges,
		cache:        newWordCache(1 << 16),
	}
	for token, id := range m.Vocab {
		raw, ok := fromByteLevel(token)
		if !ok {
			return nil, fmt.Errorf("vocabulary token %q is not byte-level (only byte-level BPE is supported)", token)
		}
		if id < 0 || id > math.MaxInt32 {
			return nil, fmt.Errorf("vocabulary token %q has id %d", token, id)
		}
		b.vocab[raw] = id
	}
	for c := 0; c < 256; c++ {
		id, ok := b.vocab[string([]byte{byte(c)})]
		if !ok {
			return nil, fmt.Errorf("vocabulary lacks the single byte 0x%02x (not a byte-level BPE)", c)
		}
		b.byteIDs[c] = int32(id)
	}
	for rank, raw := range m.Merges {
		left, right, err := parseMerge(raw)
		if err != nil {
			return nil, err
		}
		l, lok := fromByteLevel(left)
		r, rok := fromByteLevel(right)
		lid, lin := b.vocab[l]
		rid, rin := b.vocab[r]
		id, in := b.vocab[l+r]
		if !lok || !rok || !lin || !rin || !in {
			return nil, fmt.Errorf("merge %d (%q %q) uses a token outside the vocabulary", rank, left, right)
		}
		// A repeated merge keeps its last rank, as in Hugging Face tokenizers.
		b.merges[pairKey(int32(lid), int32(rid))] = merged{rank: int32(rank), id: int32(id)}
	}
	return b, nil
}

// maxCachedPiece bounds the pieces kept in the cache; longer ones are rare.
const maxCachedPiece = 64

// appendPiece appends the ids of one pre-tokenized piece (raw bytes).
func (b *bpe) appendPiece(dst []int, piece string) []int {
	if id, ok := b.vocab[piece]; ok && (b.ignoreMerges || len(piece) == 1) {
		return append(dst, id)
	}
	if len(piece) <= maxCachedPiece {
		if ids, ok := b.cache.get(piece); ok {
			return append(dst, ids...)
		}
	}
	start := len(dst)
	dst = b.merge(dst, piece)
	if len(piece) <= maxCachedPiece {
		b.cache.put(piece, append([]int(nil), dst[start:]...))
	}
	return dst
}

// merge runs BPE on piece: start from single bytes and repeatedly apply the
// lowest-ranked merge among adjacent pairs, leftmost first on ties (the same
// outcome as the priority queue of Hugging Face tokenizers).
func (b *bpe) merge(dst []int, piece string) []int {
	const none = math.MaxInt32
	var symBuf, rankBuf [maxCachedPiece]int32
	syms, ranks := symBuf[:0], rankBuf[:0]
	for i := 0; i < len(piece); i++ {
		syms = append(syms, b.byteIDs[piece[i]])
	}
	rankOf := func(i int) int32 {
		if m, ok := b.merges[pairKey(syms[i], syms[i+1])]; ok {
			return m.rank
		}
		return none
	}
	for i := 0; i+1 < len(syms); i++ {
		ranks = append(ranks, rankOf(i))
	}
	for len(syms) > 1 {
		best := 0
		for i, r := range ranks {
			if r < ranks[best] {
				best = i
			}
		}
		if ranks[best] == none {
			break
		}
		syms[best] = b.merges[pairKey(syms[best], syms[best+1])].id
		syms = append(syms[:best+1], syms[best+2:]...)
		ranks = append(ranks[:best], ranks[best+1:]...)
		if best > 0 {
			ranks[best-1] = rankOf(best - 1)
		}
		if best < len(ranks) {
			ranks[best] = rankOf(best)
		}
	}
	for _, id := range syms {
		dst = append(dst, int(id))
	}
	return dst
}

// wordCache maps pieces to their ids; safe for concurrent use. When full it
// is emptied, which keeps memory bounded at little cost: the words that
// matter come back at once.
type wordCache struct {
	mu    sync.RWMutex
	limit int
	words map[string][]int
}

func newWordCache(limit int) *wordCache {
	return &wordCache{limit: limit, words: make(map[string][]int)}
}

func (c *wordCache) get(word string) ([]int, bool) {
	c.mu.RLock()
	ids, ok := c.words[word]
	c.mu.RUnlock()
	return ids, ok
}

func (c *wordCache) put(word string, ids []int) {
	c.mu.Lock()
	if len(c.words) >= c.limit {
		clear(c.words)
	}
	c.words[strings.Clone(word)] = ids // word may point into a large text
	c.mu.Unlock()
}
