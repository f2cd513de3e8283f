//go:build linux

package loadgen

import (
	"context"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vibench/vllm-inference-benchmark/datasets"
	"github.com/vibench/vllm-inference-benchmark/metrics"
)

// rawTransportName says how the raw transport times a response.
const rawTransportName = "epoll reactor, kernel receive timestamps (SO_TIMESTAMPNS)"

// idleLimit retires a kept-alive connection before the server does: vLLM's
// server (uvicorn) closes idle connections after 5 s.
const idleLimit = 4 * time.Second

// rawTransport sends plain-HTTP requests on its own keep-alive connections
// and leaves their responses to the reactors. net/http would read every
// token through Go's poller: a wake-up and two read(2) calls per token.
type rawTransport struct {
	addr    string
	head    []byte // request line and the headers every request carries
	maxIdle int
	dialer  net.Dialer
	rs      []*reactor
	next    atomic.Uint32

	mu     sync.Mutex
	idle   []*rawConn // oldest first
	closed bool
}

type rawConn struct {
	fd        int // a blocking socket Go's poller does not know
	r         *reactor
	idleSince time.Time
}

// newRawTransport returns nil for URLs it does not serve (https).
func newRawTransport(u *url.URL, header http.Header, maxConcurrency int) (*rawTransport, error) {
	if u.Scheme != "http" {
		return nil, nil
	}
	rs, err := reactors()
	if err != nil {
		return nil, err
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	host := u.Host
	if h := header.Get("Host"); h != "" {
		host = h // a Host header routes through an ingress or proxy
	}
	head := []byte("POST " + u.RequestURI() + " HTTP/1.1\r\nHost: " + host + "\r\n")
	for _, k := range slices.Sorted(maps.Keys(header)) {
		if k == "Host" {
			continue
		}
		for _, v := range header[k] {
			head = append(head, k+": "+v+"\r\n"...)
		}
	}
	return &rawTransport{
		addr:    addr,
		head:    head,
		maxIdle: idleConns(maxConcurrency),
		dialer:  net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second},
		rs:      rs,
	}, nil
}

// message is one request's bytes, written with a single write(2).
func (t *rawTransport) message(body []byte, requestID string) []byte {
	m := make([]byte, 0, len(t.head)+len(requestID)+64+len(body))
	m = append(m, t.head...)
	m = append(m, "X-Request-Id: "...)
	m = append(m, requestID...)
	m = append(m, "\r\nContent-Length: "...)
	m = strconv.AppendInt(m, int64(len(body)), 10)
	m = append(m, "\r\n\r\n"...)
	return append(m, body...)
}

// get returns the most recently used live connection, or a new one; reused
// says which.
func (t *rawTransport) get(ctx context.Context) (c *rawConn, reused bool, err error) {
	t.mu.Lock()
	for len(t.idle) > 0 {
		c = t.idle[len(t.idle)-1]
		t.idle = t.idle[:len(t.idle)-1]
		if time.Since(c.idleSince) < idleLimit && c.alive() {
			t.mu.Unlock()
			return c, true, nil
		}
		c.close()
	}
	t.mu.Unlock()
	c, err = t.dial(ctx)
	return c, false, err
}

func (t *rawTransport) put(c *rawConn) {
	c.idleSince = time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		c.close()
		return
	}
	for len(t.idle) > 0 && (len(t.idle) >= t.maxIdle || c.idleSince.Sub(t.idle[0].idleSince) >= idleLimit) {
		t.idle[0].close()
		t.idle = t.idle[1:]
	}
	t.idle = append(t.idle, c)
}

// close closes the idle connections and every one put back later.
func (t *rawTransport) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for _, c := range t.idle {
		c.close()
	}
	t.idle = nil
}

// dial connects with Go's resolver and cancellable connect, then keeps a
// duplicate of the socket that Go's poller never sees.
func (t *rawTransport) dial(ctx context.Context) (*rawConn, error) {
	nc, err := t.dialer.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	sc, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var dupErr error
	if err := sc.Control(func(s uintptr) {
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0)
		if errno != 0 {
			dupErr = os.NewSyscallError("fcntl", errno)
			return
		}
		fd = int(r)
	}); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, dupErr
	}
	// Writes block (bounded by cancellation, see write); reads never do:
	// the reactor passes MSG_DONTWAIT. Without receive timestamps the
	// reactor times reads itself.
	if err := syscall.SetNonblock(fd, false); err != nil {
		syscall.Close(fd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	return &rawConn{fd: fd, r: t.rs[int(t.next.Add(1))%len(t.rs)]}, nil
}

func (c *rawConn) close() { syscall.Close(c.fd) }

// alive: no bytes and no EOF wait on an idle connection.
func (c *rawConn) alive() bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(c.fd, b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err == syscall.EAGAIN
}

// write sends msg and says how many of its bytes went out; ending ctx
// shuts the socket down, which unblocks it.
func (c *rawConn) write(ctx context.Context, msg []byte) (int, error) {
	shut := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = syscall.Shutdown(c.fd, syscall.SHUT_RDWR)
		close(shut)
	})
	written := 0
	var err error
	for written < len(msg) {
		n, werr := syscall.Write(c.fd, msg[written:])
		if werr == syscall.EINTR {
			continue
		}
		if werr != nil {
			err = os.NewSyscallError("write", werr)
			break
		}
		written += n
	}
	if !stop() {
		<-shut // the socket may be closed only after the shutdown
	}
	return written, err
}

// exchange is one response being read by a reactor.
type exchange struct {
	fd       int
	resp     response
	stream   *stream
	watch    *watchdog
	ts       float64 // when the bytes being fed arrived
	gotBytes bool
	// Set before done is closed: err ended the response early; malformed
	// is the stream's own error among them.
	err, malformed error
	done           chan struct{}
}

func (ex *exchange) body(p []byte) error {
	if err := ex.stream.feed(p, ex.ts); err != nil {
		ex.malformed = err
		return err
	}
	return nil
}

// earlyAnswerWait bounds the wait for a response already in the socket
// when the request could not be written whole.
const earlyAnswerWait = time.Second

// roundTrip writes msg and waits until the reactor has read the response
// into sr or ctx ends (then the error is ctx's cause); written is how much
// of msg went out. A server that answers and closes before taking the
// whole request (413, 400) is reported by its answer, as net/http does.
func (c *rawConn) roundTrip(ctx context.Context, msg []byte, sr *stream, wd *watchdog) (ex *exchange, written int, err error) {
	written, werr := c.write(ctx, msg)
	ex = &exchange{fd: c.fd, stream: sr, watch: wd, done: make(chan struct{})}
	ex.resp.reset()
	if err := c.r.watch(ex); err != nil {
		return nil, written, err
	}
	var late <-chan time.Time // nil: never
	if werr != nil {
		late = time.After(earlyAnswerWait)
	}
	select {
	case <-ex.done:
	case <-ctx.Done():
		if c.r.unwatch(ex) {
			if werr != nil {
				return nil, written, werr
			}
			return nil, written, context.Cause(ctx)
		}
		<-ex.done
	case <-late:
		if c.r.unwatch(ex) {
			return nil, written, werr
		}
		<-ex.done
	}
	if werr != nil && ex.resp.status == 0 {
		return nil, written, werr
	}
	return ex, written, nil
}

// doRaw is Do over the raw transport. As vLLM's clock, StartTime is
// taken before a connection is taken or dialled. As net/http, a request is
// sent again (once, on a new connection) only if none of it went out on a
// kept-alive connection the server had closed.
func (c *Client) doRaw(ctx, reqCtx context.Context, rec metrics.Record, s datasets.Sample, body []byte, wd *watchdog) metrics.Record {
	msg := c.raw.message(body, rec.RequestID)
	st := c.now()
	rec.StartTime = st
	for attempt := 0; ; attempt++ {
		conn, reused, err := c.raw.get(reqCtx)
		if err != nil {
			return c.failed(rec, ctx, reqCtx, "request failed", err)
		}
		sr := newStream(c.chat, st, s.ExpectedOutputLen)
		ex, written, err := conn.roundTrip(reqCtx, msg, sr, wd)
		if err != nil {
			conn.close()
			if reused && attempt == 0 && written == 0 && reqCtx.Err() == nil {
				continue
			}
			sr.partial(&rec)
			return c.failed(rec, ctx, reqCtx, "request failed", err)
		}
		if ex.err != nil || ex.resp.close {
			conn.close()
		} else {
			c.raw.put(conn)
		}
		switch {
		case ex.malformed != nil:
			sr.partial(&rec)
			return c.failed(rec, ctx, reqCtx, "malformed stream message", ex.malformed)
		case ex.err != nil && !ex.gotBytes:
			return c.failed(rec, ctx, reqCtx, "request failed", ex.err)
		case ex.err != nil:
			sr.partial(&rec)
			return c.failed(rec, ctx, reqCtx, "stream broken", ex.err)
		case ex.resp.status != http.StatusOK:
			rec.Status = metrics.StatusFailed
			rec.Error = ex.resp.reason
			if rec.Error == "" {
				rec.Error = http.StatusText(ex.resp.status)
			}
			return rec
		}
		return c.finish(rec, ctx, reqCtx, sr)
	}
}
