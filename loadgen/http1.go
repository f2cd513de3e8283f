package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// maxResponseLine bounds a status, header or chunk-size line.
const maxResponseLine = 64 << 10

var errLineTooLong = errors.New("response line longer than 64 KiB")

type responseState uint8

const (
	inStatusLine responseState = iota
	inHeaders
	inChunkSize
	inChunkData
	inChunkEnd // the CRLF after a chunk's data
	inTrailers
	inBody // Content-Length bytes
	inBodyUntilClose
	responseDone
)

// response reads one HTTP/1.1 response incrementally as its bytes arrive:
// the status line and headers, then the body (chunked, Content-Length or
// until the server closes), handing each piece of body bytes to a callback.
// Responses other than 200 end at their headers: the benchmark only reports
// their reason phrase, and their connection is not reused.
type response struct {
	state   responseState
	line    []byte // a line split across reads
	status  int
	reason  string
	chunked bool
	length  int64 // Content-Length, -1 when absent
	left    int64 // bytes left of the current chunk or of Content-Length
	// close: the connection cannot carry another request after this one.
	close bool
}

func (r *response) reset() {
	*r = response{line: r.line[:0], length: -1}
}

// bodySink takes a response's body bytes as they arrive.
type bodySink interface {
	body(p []byte) error
}

// feed consumes p, handing the body bytes in it to sink, and reports
// whether the response is complete.
func (r *response) feed(p []byte, sink bodySink) (bool, error) {
	for len(p) > 0 {
		switch r.state {
		case inChunkData, inBody:
			n := int(min(int64(len(p)), r.left))
			if err := sink.body(p[:n]); err != nil {
				return false, err
			}
			p, r.left = p[n:], r.left-int64(n)
			if r.left > 0 {
				break
			}
			if r.state == inBody {
				r.state = responseDone
			} else {
				r.state = inChunkEnd
			}
		case inBodyUntilClose:
			return false, sink.body(p)
		default:
			nl := bytes.IndexByte(p, '\n')
			if nl < 0 {
				if len(r.line)+len(p) > maxResponseLine {
					return false, errLineTooLong
				}
				r.line = append(r.line, p...)
				return false, nil
			}
			line := p[:nl]
			p = p[nl+1:]
			if len(r.line) > 0 {
				r.line = append(r.line, line...)
				line = r.line
			}
			line = bytes.TrimSuffix(line, []byte{'\r'})
			err := r.processLine(line)
			r.line = r.line[:0]
			if err != nil {
				return false, err
			}
		}
		if r.state == responseDone {
			if len(p) > 0 {
				r.close = true // bytes after the response: never reuse the connection
			}
			return true, nil
		}
	}
	return r.state == responseDone, nil
}

// eof reports whether a connection closed by the server completed the
// response.
func (r *response) eof() (bool, error) {
	switch r.state {
	case inBodyUntilClose, responseDone:
		r.state = responseDone
		return true, nil
	case inStatusLine:
		if len(r.line) == 0 {
			return false, errors.New("EOF before the response")
		}
	}
	return false, errors.New("unexpected EOF")
}

func (r *response) processLine(line []byte) error {
	switch r.state {
	case inStatusLine:
		return r.statusLine(line)
	case inHeaders:
		if len(line) == 0 {
			return r.endOfHeaders()
		}
		return r.header(line)
	case inChunkSize:
		if i := bytes.IndexAny(line, "; \t"); i >= 0 {
			line = line[:i]
		}
		size, err := strconv.ParseInt(string(line), 16, 64)
		if err != nil || size < 0 {
			return fmt.Errorf("malformed chunk size %q", line)
		}
		if size == 0 {
			r.state = inTrailers
		} else {
			r.state, r.left = inChunkData, size
		}
	case inChunkEnd:
		if len(line) != 0 {
			return errors.New("malformed chunked encoding: no CRLF after chunk data")
		}
		r.state = inChunkSize
	case inTrailers:
		if len(line) == 0 {
			r.state = responseDone
		}
	}
	return nil
}

func (r *response) statusLine(line []byte) error {
	proto, rest, _ := bytes.Cut(line, []byte{' '})
	code, reason, _ := bytes.Cut(rest, []byte{' '})
	status, err := strconv.Atoi(string(code))
	if !bytes.HasPrefix(proto, []byte("HTTP/1.")) || len(code) != 3 || err != nil {
		return fmt.Errorf("malformed HTTP status line %q", line)
	}
	r.status, r.reason = status, string(bytes.TrimSpace(reason))
	r.close = string(proto) == "HTTP/1.0"
	r.state = inHeaders
	return nil
}

func (r *response) header(line []byte) error {
	name, value, ok := bytes.Cut(line, []byte{':'})
	if !ok {
		return fmt.Errorf("malformed header line %q", line)
	}
	value = bytes.TrimSpace(value)
	switch {
	case bytes.EqualFold(name, []byte("Content-Length")):
		n, err := strconv.ParseInt(string(value), 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("malformed Content-Length %q", value)
		}
		r.length = n
	case bytes.EqualFold(name, []byte("Transfer-Encoding")):
		r.chunked = hasToken(value, "chunked")
	case bytes.EqualFold(name, []byte("Connection")):
		if hasToken(value, "close") {
			r.close = true
		} else if hasToken(value, "keep-alive") {
			r.close = false
		}
	}
	return nil
}

func hasToken(list []byte, token string) bool {
	for t := range bytes.SplitSeq(list, []byte{','}) {
		if bytes.EqualFold(bytes.TrimSpace(t), []byte(token)) {
			return true
		}
	}
	return false
}

func (r *response) endOfHeaders() error {
	switch {
	case r.status >= 100 && r.status < 200:
		r.reset() // an interim response; the real one follows
	case r.status != 200:
		r.state, r.close = responseDone, true
	case r.chunked:
		r.state = inChunkSize
	case r.length == 0:
		r.state = responseDone
	case r.length > 0:
		r.state, r.left = inBody, r.length
	default:
		r.state, r.close = inBodyUntilClose, true
	}
	return nil
}
