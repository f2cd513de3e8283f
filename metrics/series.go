package metrics

// seriesChunk is the size of a full series chunk. Being a multiple of
// numpyBufferSize keeps numpy's summation blocks inside one chunk.
const seriesChunk = 16 * numpyBufferSize

// series is an append-only list kept in chunks, so that growing a list of
// millions of values never copies what is already stored.
type series[T any] struct {
	chunks [][]T
	n      int
}

func (s *series[T]) add(values ...T) {
	for len(values) > 0 {
		switch {
		case len(s.chunks) == 0:
			s.chunks = [][]T{nil} // grows as needed: short runs stay small
		case len(s.chunks[len(s.chunks)-1]) == seriesChunk:
			s.chunks = append(s.chunks, make([]T, 0, seriesChunk))
		}
		last := &s.chunks[len(s.chunks)-1]
		take := min(seriesChunk-len(*last), len(values))
		*last = append(*last, values[:take]...)
		values = values[take:]
		s.n += take
	}
}

// flat returns a new contiguous copy of the list.
func (s *series[T]) flat() []T {
	out := make([]T, 0, s.n)
	for _, c := range s.chunks {
		out = append(out, c...)
	}
	return out
}
