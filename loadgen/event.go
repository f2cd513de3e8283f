package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// event is what vLLM's timing rules need from one stream message.
type event struct {
	choices     bool   // "choices" is a non-empty list
	text        []byte // choices[0].delta.content (chat) or choices[0].text, as the raw JSON string body
	textEscaped bool   // text holds escape sequences
	usage       bool   // "usage" is a non-empty object

	completionTokens    int
	hasCompletionTokens bool
	promptTokens        int
	hasPromptTokens     bool
}

// decodeEvent reads one JSON message of a stream. It walks the bytes once,
// skipping everything but "choices" and "usage", and fails where vLLM's
// json.loads or its field accesses would raise.
//
// memo carries what one message teaches about the next: every chunk of a
// stream starts with the same skipped members ("id", "object", "created",
// "model"), so a message whose bytes match the previous one's up to the
// ':' after its "choices" or "usage" key resumes parsing there. nil: no memo.
func decodeEvent(b []byte, chat bool, ev *event, memo *eventMemo) error {
	*ev = event{}
	s := jscan{b: b}
	var key []byte
	more := true
	if memo != nil && len(memo.prefix) > 0 && bytes.HasPrefix(b, memo.prefix) {
		s.i, key = len(memo.prefix), memo.key
		s.ws()
	} else {
		s.ws()
		if s.peek() != '{' {
			return errors.New("message is not a JSON object")
		}
		var err error
		if key, more, err = s.nextMember(true); err != nil {
			return err
		}
		if memo != nil {
			memo.prefix = memo.prefix[:0]
		}
	}
	for more {
		var err error
		switch string(key) {
		case "choices", "usage":
			if memo != nil && len(memo.prefix) == 0 {
				memo.prefix = append(memo.prefix, b[:s.i]...)
				memo.key = append(memo.key[:0], key...)
			}
			if string(key) == "choices" {
				err = s.choices(chat, ev)
			} else {
				err = s.usageObject(ev)
			}
		default:
			err = s.skip()
		}
		if err != nil {
			return err
		}
		if key, more, err = s.nextMember(false); err != nil {
			return err
		}
	}
	s.ws()
	if s.i != len(s.b) {
		return errors.New("data after the JSON object")
	}
	return nil
}

// eventMemo is a message's bytes up to and including the ':' after its
// first "choices" or "usage" key (every member before it was skipped),
// and that key.
type eventMemo struct {
	prefix, key []byte
}

// jscan is a cursor over JSON text.
type jscan struct {
	b []byte
	i int
}

var errTruncated = errors.New("truncated JSON")

func (s *jscan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jscan) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *jscan) syntax(want string) error {
	if s.i >= len(s.b) {
		return errTruncated
	}
	return fmt.Errorf("invalid JSON at offset %d: want %s, got %q", s.i, want, s.b[s.i])
}

// nextMember moves to the next member of the object the cursor is in (on
// its '{' when first) and returns its key with the cursor on the value;
// more is false at the closing '}'.
func (s *jscan) nextMember(first bool) (key []byte, more bool, err error) {
	if first {
		s.i++ // '{'
	}
	s.ws()
	if s.peek() == '}' {
		s.i++
		return nil, false, nil
	}
	if !first {
		if s.peek() != ',' {
			return nil, false, s.syntax("',' or '}'")
		}
		s.i++
		s.ws()
	}
	if s.peek() != '"' {
		return nil, false, s.syntax("object key")
	}
	key, _, err = s.str()
	if err != nil {
		return nil, false, err
	}
	s.ws()
	if s.peek() != ':' {
		return nil, false, s.syntax("':'")
	}
	s.i++
	s.ws()
	return key, true, nil
}

// nextElement is nextMember for arrays.
func (s *jscan) nextElement(first bool) (more bool, err error) {
	if first {
		s.i++ // '['
	}
	s.ws()
	if s.peek() == ']' {
		s.i++
		return false, nil
	}
	if !first {
		if s.peek() != ',' {
			return false, s.syntax("',' or ']'")
		}
		s.i++
		s.ws()
	}
	return true, nil
}

// str reads the string at the cursor and returns its body. One plain
// loop: the strings of a stream message are short, where bytes.IndexByte's
// call costs more than it saves.
func (s *jscan) str() (body []byte, escaped bool, err error) {
	start := s.i + 1
	for i := start; i < len(s.b); i++ {
		switch s.b[i] {
		case '"':
			s.i = i + 1
			return s.b[start:i], escaped, nil
		case '\\':
			i++
			if i >= len(s.b) {
				return nil, false, errTruncated
			}
			switch s.b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't', 'u':
			default:
				return nil, false, fmt.Errorf("invalid JSON escape \\%c", s.b[i])
			}
			escaped = true
		}
	}
	return nil, false, errTruncated
}

// skip moves past the value at the cursor.
func (s *jscan) skip() error {
	switch c := s.peek(); {
	case c == '{':
		for first := true; ; first = false {
			_, more, err := s.nextMember(first)
			if err != nil || !more {
				return err
			}
			if err := s.skip(); err != nil {
				return err
			}
		}
	case c == '[':
		for first := true; ; first = false {
			more, err := s.nextElement(first)
			if err != nil || !more {
				return err
			}
			if err := s.skip(); err != nil {
				return err
			}
		}
	case c == '"':
		_, _, err := s.str()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		s.number()
		return nil
	default:
		return s.syntax("a JSON value")
	}
}

func (s *jscan) literal(word string) error {
	if !bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		return s.syntax(word)
	}
	s.i += len(word)
	return nil
}

// number moves past a number and returns its text.
func (s *jscan) number() []byte {
	start := s.i
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
			s.i++
		default:
			return s.b[start:s.i]
		}
	}
	return s.b[start:s.i]
}

// choices reads "choices": a non-empty list marks a token message, and its
// first element must hold the text as vLLM reads it.
func (s *jscan) choices(chat bool, ev *event) error {
	ev.choices, ev.text, ev.textEscaped = false, nil, false
	switch s.peek() {
	case 'n':
		return s.literal("null")
	case '[':
	default:
		return errors.New(`"choices" is not a list`)
	}
	for first := true; ; first = false {
		more, err := s.nextElement(first)
		if err != nil || !more {
			return err
		}
		if !first {
			if err := s.skip(); err != nil {
				return err
			}
			continue
		}
		ev.choices = true
		if s.peek() != '{' {
			return errors.New(`"choices[0]" is not an object`)
		}
		if chat {
			err = s.chatChoice(ev)
		} else {
			err = s.textMember(ev, "text")
		}
		if err != nil {
			return err
		}
	}
}

// chatChoice reads choices[0] of a chat chunk; vLLM indexes "delta"
// directly, so a missing or null delta fails the request.
func (s *jscan) chatChoice(ev *event) error {
	sawDelta := false
	for first := true; ; first = false {
		key, more, err := s.nextMember(first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		if string(key) != "delta" {
			if err := s.skip(); err != nil {
				return err
			}
			continue
		}
		if s.peek() != '{' {
			return errors.New(`"choices[0].delta" is not an object`)
		}
		sawDelta = true
		if err := s.textMember(ev, "content"); err != nil {
			return err
		}
	}
	if !sawDelta {
		return errors.New(`"choices[0]" has no "delta"`)
	}
	return nil
}

// textMember reads the object at the cursor, taking the string member name
// (null or missing: no text).
func (s *jscan) textMember(ev *event, name string) error {
	for first := true; ; first = false {
		key, more, err := s.nextMember(first)
		if err != nil || !more {
			return err
		}
		if string(key) != name {
			if err := s.skip(); err != nil {
				return err
			}
			continue
		}
		switch s.peek() {
		case 'n':
			ev.text, ev.textEscaped = nil, false
			if err := s.literal("null"); err != nil {
				return err
			}
		case '"':
			if ev.text, ev.textEscaped, err = s.str(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%q is not a string", name)
		}
	}
}

// usageObject reads "usage"; only a non-empty object counts.
func (s *jscan) usageObject(ev *event) error {
	ev.usage = false
	switch s.peek() {
	case 'n':
		return s.literal("null")
	case '{':
	default:
		return errors.New(`"usage" is not an object`)
	}
	for first := true; ; first = false {
		key, more, err := s.nextMember(first)
		if err != nil || !more {
			return err
		}
		ev.usage = true
		switch string(key) {
		case "completion_tokens":
			ev.completionTokens, ev.hasCompletionTokens, err = s.optionalInt(key)
		case "prompt_tokens":
			ev.promptTokens, ev.hasPromptTokens, err = s.optionalInt(key)
		default:
			err = s.skip()
		}
		if err != nil {
			return err
		}
	}
}

// optionalInt reads an integer or null.
func (s *jscan) optionalInt(key []byte) (int, bool, error) {
	if s.peek() == 'n' {
		return 0, false, s.literal("null")
	}
	num := s.number()
	neg := len(num) > 0 && num[0] == '-'
	if neg {
		num = num[1:]
	}
	if len(num) == 0 || len(num) > 18 {
		return 0, false, fmt.Errorf("usage.%s is not an integer", key)
	}
	n := 0
	for _, c := range num {
		if c < '0' || c > '9' {
			return 0, false, fmt.Errorf("usage.%s is not an integer", key)
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true, nil
}

// appendUnescaped appends the decoded body of a JSON string that holds
// escapes (already validated by str).
func appendUnescaped(dst, body []byte) []byte {
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		switch body[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, n := hex4(body[i+1:])
			i += n
			if utf16.IsSurrogate(r) && n == 4 && i+2 < len(body) && body[i+1] == '\\' && body[i+2] == 'u' {
				if r2, n2 := hex4(body[i+3:]); n2 == 4 {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						i += 2 + n2
					}
				}
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, body[i])
		}
	}
	return dst
}

// hex4 reads the four hex digits of a \u escape; a short or bad one gives
// U+FFFD and how many bytes to skip.
func hex4(b []byte) (rune, int) {
	if len(b) < 4 {
		return utf8.RuneError, len(b)
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return utf8.RuneError, 4
		}
	}
	return r, 4
}
