package config

// UnmarshalJSON decodes a request leniently, field by field, and remembers
// what it could not take (a field of the wrong type, an unknown name, a
// value that is not an object) so Validate can name each with its fix: a
// mistake must fail the run with a clear error on every entry point,
// including `temporal workflow start`, where a decoding error would only
// stall the workflow task. A request decoded from JSON must be validated.
func (r *Request) UnmarshalJSON(b []byte) error {
	*r = Request{}
	obj, prob := singleObject(b)
	if prob != nil {
		r.decodeProblems = []FieldError{*prob}
		return nil
	}
	r.decodeFields(obj)
	return nil
}

func closestField(name string) string {
	best, bestD := "", 4
	for k := range fieldIndex() {
		if d := editDistance(name, k); d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
