package config

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/vibench/vllm-inference-benchmark/metrics"
)

// Rate is a request rate in requests per second; +Inf means "send all at
// once", as vLLM's default. In JSON it is a number or the string "inf".
type Rate float64

// Inf is the unlimited rate.
var Inf = Rate(math.Inf(1))

func (r Rate) IsInf() bool { return math.IsInf(float64(r), 1) }

// String renders the rate as Python's str(float) does ("inf", "12.0",
// "12.5"): vLLM's file names and log lines use that form.
func (r Rate) String() string { return metrics.PyFloat(float64(r)) }

func (r Rate) MarshalJSON() ([]byte, error) {
	if r.IsInf() {
		return []byte(`"inf"`), nil
	}
	return json.Marshal(float64(r))
}

func (r *Rate) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		return r.Set(s)
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("want a number of requests per second or \"inf\", got %s", b)
	}
	*r = Rate(f)
	return nil
}

// Set parses a flag value.
func (r *Rate) Set(s string) error {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "inf") || strings.EqualFold(s, "infinity") {
		*r = Inf
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("want a number of requests per second or \"inf\", got %q", s)
	}
	*r = Rate(f)
	return nil
}

// List is a list of strings that JSON may give as an array or as one
// string separated by commas or spaces ("ttft,tpot,itl", "25,50,99").
type List []string

func (l *List) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*l = splitList(s)
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(b, &items); err != nil {
		return fmt.Errorf("want a list or a comma-separated string, got %s", b)
	}
	out := make(List, 0, len(items))
	for _, it := range items {
		var v any
		if err := json.Unmarshal(it, &v); err != nil {
			return err
		}
		switch v := v.(type) {
		case string:
			out = append(out, splitList(v)...)
		case float64:
			out = append(out, strconv.FormatFloat(v, 'f', -1, 64))
		default:
			return fmt.Errorf("list items must be strings or numbers, got %s", it)
		}
	}
	*l = out
	return nil
}

func (l List) String() string { return strings.Join(l, ",") }

// Set appends a flag value (flags may repeat or hold a comma list).
func (l *List) Set(s string) error {
	*l = append(*l, splitList(s)...)
	return nil
}

func splitList(s string) List {
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
	if len(f) == 0 {
		return List{}
	}
	return List(f)
}

// Pairs holds KEY=VALUE (metadata) or NAME:VALUE (goodput) items in the
// order given. JSON may give an array of strings, one space-separated
// string, or an object (then keys are taken in sorted order by
// encoding/json; give an array when order matters).
type Pairs []string

func (p *Pairs) UnmarshalJSON(b []byte) error {
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err == nil {
		sep := "="
		out := Pairs{}
		for _, k := range sortedKeys(obj) {
			out = append(out, k+sep+fmt.Sprint(obj[k]))
		}
		*p = out
		return nil
	}
	var l List
	if err := l.UnmarshalJSON(b); err != nil {
		return fmt.Errorf("want a list of KEY=VALUE strings or an object, got %s", b)
	}
	*p = Pairs(l)
	return nil
}

func (p Pairs) String() string { return strings.Join(p, " ") }

func (p *Pairs) Set(s string) error {
	*p = append(*p, strings.Fields(s)...)
	return nil
}
