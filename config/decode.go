package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// RequestField is the Field of a problem with the request as a whole (not
// JSON, not an object, empty, trailing text).
const RequestField = "request"

// DecodeRequest reads one JSON request the way every entry does: the text
// must be exactly one JSON object, else it returns a *ValidationError saying
// what it got. Fields are decoded one by one; a field of the wrong type or
// an unknown field is remembered and reported by Validate with every other
// problem, so one answer lists them all.
func DecodeRequest(raw []byte) (Request, error) {
	var r Request
	obj, prob := singleObject(raw)
	if prob != nil {
		return r, &ValidationError{Problems: []FieldError{*prob}}
	}
	r.decodeFields(obj)
	return r, nil
}

// DecodeWorkflowInput is the stress-test workflow's first step on its raw
// input: DecodeRequest, Defaults, then ValidateFields. Every problem comes
// back at once in a *ValidationError. It is deterministic and does no I/O,
// so workflow code may call it.
func DecodeWorkflowInput(raw []byte) (Request, error) {
	r, err := DecodeRequest(raw)
	if err != nil {
		return r, err
	}
	r = r.Defaults()
	return r, r.ValidateFields()
}

const example = `{"base_url": "http://10.0.0.5:8000", "num_prompts": 1000, "request_rate": 12}`

// singleObject checks that raw holds exactly one JSON object and returns its
// members.
func singleObject(raw []byte) (map[string]json.RawMessage, *FieldError) {
	fail := func(format string, args ...any) *FieldError {
		return &FieldError{Field: RequestField, Problem: fmt.Sprintf(format, args...)}
	}
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return nil, fail("is empty; give one JSON object such as %s", example)
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	var first json.RawMessage
	if err := dec.Decode(&first); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fail("is not valid JSON: %v at byte %d (%s); give one JSON object such as %s", se, se.Offset, near(trimmed, se.Offset), example)
		}
		return nil, fail("is not valid JSON (%v); give one JSON object such as %s", err, example)
	}
	if rest := bytes.TrimLeft(trimmed[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		off := int64(len(trimmed) - len(rest))
		return nil, fail("has text after the JSON object at byte %d: %s; send exactly one object (a list of runs goes in a --config file)", off, near(trimmed, off))
	}
	if first[0] != '{' {
		return nil, fail("must be a JSON object such as %s, got %s; a list of runs goes in a --config file", example, jsonKind(first))
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(first, &obj); err != nil {
		return nil, fail("is not a JSON object: %v", err)
	}
	return obj, nil
}

// near quotes up to 24 bytes of b from off, for pointing at a mistake.
func near(b []byte, off int64) string {
	off = min(max(off, 0), int64(len(b)))
	s := string(b[off:])
	if len(s) > 24 {
		s = s[:24] + "..."
	}
	return strconv.Quote(s)
}

// decodeFields sets the request's fields from a JSON object's members in
// name order; wrong types and unknown names are kept for Validate.
func (r *Request) decodeFields(obj map[string]json.RawMessage) {
	names := make([]string, 0, len(obj))
	for k := range obj {
		names = append(names, k)
	}
	sort.Strings(names)
	v := reflect.ValueOf(r).Elem()
	for _, name := range names {
		i, ok := fieldIndex()[name]
		if !ok {
			r.unknownFields = append(r.unknownFields, name)
			continue
		}
		f := v.Field(i)
		dst := reflect.New(f.Type())
		if err := decodeValue(obj[name], dst.Interface()); err != nil {
			r.decodeProblems = append(r.decodeProblems, FieldError{Field: name, Problem: typeProblem(f.Type(), obj[name], err)})
			continue
		}
		f.Set(dst.Elem())
		r.noteGiven(name, f)
	}
}

// decodeValue is json.Unmarshal that also takes a whole number written with
// a fraction or exponent (1e6, 1000.0) for an integer, as YAML and most
// JSON writers produce.
func decodeValue(raw json.RawMessage, dst any) error {
	err := json.Unmarshal(raw, dst)
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) || !strings.HasPrefix(te.Value, "number") {
		return err
	}
	f, perr := strconv.ParseFloat(string(raw), 64)
	if perr != nil || f != math.Trunc(f) || math.Abs(f) >= 1<<63 {
		return err
	}
	if json.Unmarshal([]byte(strconv.FormatInt(int64(f), 10)), dst) != nil {
		return err
	}
	return nil
}

var fieldIndex = sync.OnceValue(func() map[string]int {
	m := map[string]int{}
	t := reflect.TypeFor[Request]()
	for i := 0; i < t.NumField(); i++ {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			m[name] = i
		}
	}
	return m
})

// typeProblem says what a field got, what it takes, and how to write it.
func typeProblem(t reflect.Type, raw json.RawMessage, err error) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		// The field's own decoder (rate, list, pairs) says what it takes.
		return err.Error()
	}
	want, fix := wantOf(t)
	isInt := t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64
	if f, perr := strconv.ParseFloat(string(raw), 64); perr == nil && isInt {
		if f != math.Trunc(f) {
			return fmt.Sprintf("got %s, want a whole number; %s", raw, fix)
		}
		return fmt.Sprintf("got %s, too large for this field", raw)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil && unquotedFits(t, s) {
		fix = "write " + s + " without quotes"
	}
	return fmt.Sprintf("got %s, want %s; %s", jsonKind(raw), want, fix)
}

// unquotedFits says whether a string's text, written without quotes, is a
// valid value of kind t (`"500000"` for an integer).
func unquotedFits(t reflect.Type, s string) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int64:
		_, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		return err == nil && strings.TrimSpace(s) == s
	case reflect.Float64:
		_, err := strconv.ParseFloat(s, 64)
		return err == nil && strings.TrimSpace(s) == s
	case reflect.Bool:
		return s == "true" || s == "false"
	}
	return false
}

func wantOf(t reflect.Type) (want, fix string) {
	switch t.Kind() {
	case reflect.Int, reflect.Int64:
		return "an integer", "write a whole number such as 1000"
	case reflect.Float64:
		return "a number", "write a number such as 0.5"
	case reflect.Bool:
		return "true or false", "write true or false without quotes"
	case reflect.String:
		return "a string", `write the value in double quotes`
	case reflect.Slice:
		return "a list of strings", `write a list such as ["--max-model-len=8192"]`
	case reflect.Map:
		if t.Elem().Kind() == reflect.String {
			return "an object of string values", `write an object such as {"key": "value"}`
		}
		return "a JSON object", `write an object such as {"min_tokens": 2}`
	}
	return t.String(), "see the README for the field"
}

// jsonKind describes a JSON value: `a string "500000"`, `an array`.
func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	short := string(raw)
	if len(short) > 40 {
		short = short[:40] + "..."
	}
	switch raw[0] {
	case '"':
		return "a string " + short
	case '[':
		return "an array " + short
	case '{':
		return "an object " + short
	case 't', 'f':
		return "a boolean " + short
	case 'n':
		return "null"
	}
	return "a number " + short
}
