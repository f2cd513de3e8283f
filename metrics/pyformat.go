package metrics

import (
	"math"
	"slices"
	"strconv"
	"strings"
)

// PyFloat formats x as Python's str(float)/repr(float): the shortest
// round-trip digits, fixed notation with at least one decimal for
// 1e-4 <= |x| < 1e16, otherwise d.ddde±XX; "inf", "-inf", "nan".
func PyFloat(x float64) string {
	switch {
	case math.IsInf(x, 1):
		return "inf"
	case math.IsInf(x, -1):
		return "-inf"
	case math.IsNaN(x):
		return "nan"
	case x == 0:
		if math.Signbit(x) {
			return "-0.0"
		}
		return "0.0"
	}
	e := strconv.FormatFloat(x, 'e', -1, 64) // [-]d[.ddd]e±XX
	sign := ""
	if e[0] == '-' {
		sign, e = "-", e[1:]
	}
	mantissa, expText, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expText)
	digits := strings.Replace(mantissa, ".", "", 1)

	if exp < -4 || exp >= 16 {
		expSign := "+"
		if exp < 0 {
			expSign, exp = "-", -exp
		}
		expDigits := strconv.Itoa(exp)
		if len(expDigits) < 2 {
			expDigits = "0" + expDigits
		}
		return sign + mantissa + "e" + expSign + expDigits
	}
	if exp < 0 {
		return sign + "0." + strings.Repeat("0", -exp-1) + digits
	}
	if len(digits) <= exp+1 {
		return sign + digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
	}
	return sign + digits[:exp+1] + "." + digits[exp+1:]
}

// pyJSONFloat is a float as Python's json.dumps writes it, except that
// infinities and NaN, which json.dumps writes as the bare words Infinity
// and NaN that strict JSON parsers reject, are written as the strings
// "inf", "-inf" and "nan": the form vLLM itself gives request_rate.
func pyJSONFloat(x float64) string {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return `"` + PyFloat(x) + `"`
	}
	return PyFloat(x)
}

// pyJSONString is a string as Python's json.dumps (ensure_ascii=True) writes
// it: everything outside printable ASCII becomes \uXXXX (surrogate pairs
// above U+FFFF); invalid UTF-8 bytes become U+FFFD.
func pyJSONString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r >= ' ' && r <= '~':
				b.WriteRune(r)
			case r > 0xFFFF:
				r -= 0x10000
				writeUEscape(&b, 0xD800+(r>>10))
				writeUEscape(&b, 0xDC00+(r&0x3FF))
			default:
				writeUEscape(&b, r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

func writeUEscape(b *strings.Builder, r rune) {
	const hex = "0123456789abcdef"
	b.WriteString(`\u`)
	for shift := 12; shift >= 0; shift -= 4 {
		b.WriteByte(hex[(r>>shift)&0xF])
	}
}

// pyDict is a JSON object that keeps Python dict semantics: keys stay in
// first-insertion order and setting an existing key replaces its value in
// place. Values are raw JSON text.
type pyDict struct {
	keys   []string
	values map[string]string
}

func newPyDict() *pyDict { return &pyDict{values: map[string]string{}} }

func (d *pyDict) set(key, rawJSON string) {
	if _, ok := d.values[key]; !ok {
		d.keys = append(d.keys, key)
	}
	d.values[key] = rawJSON
}

func (d *pyDict) delete(key string) {
	if _, ok := d.values[key]; ok {
		delete(d.values, key)
		d.keys = slices.DeleteFunc(d.keys, func(k string) bool { return k == key })
	}
}

func (d *pyDict) setString(key, value string)    { d.set(key, pyJSONString(value)) }
func (d *pyDict) setFloat(key string, x float64) { d.set(key, pyJSONFloat(x)) }
func (d *pyDict) setInt(key string, n int)       { d.set(key, strconv.Itoa(n)) }

// text renders the object as json.dumps does by default: ", " and ": ".
func (d *pyDict) text() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range d.keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pyJSONString(k))
		b.WriteString(": ")
		b.WriteString(d.values[k])
	}
	b.WriteByte('}')
	return b.String()
}

// pyJSONList renders n items as a JSON list with ", " separators.
func pyJSONList(n int, item func(i int) string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(item(i))
	}
	b.WriteByte(']')
	return b.String()
}
