//go:build linux

package loadgen

import (
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// batchWindow is how long a reactor rests after each poll, so that one
// wake-up reads every stream that received bytes meanwhile. Waking the
// process once per token costs more than reading the token (see
// bench/RESULTS.md). A token read late keeps its time: the kernel's
// receive timestamp. Tokens of one stream that arrive within one rest (or
// while the reader is behind) share one read and so the last one's time,
// as they would in any client reading after they arrived.
const batchWindow = 500 * time.Microsecond

// reactor reads the responses of plain-HTTP requests: one epoll set of
// sockets that Go's own poller never sees, read with recvmsg(2) and timed
// by the kernel's receive timestamps (SO_TIMESTAMPNS), converted to the
// monotonic clock.
type reactor struct {
	epfd   int
	mu     sync.Mutex // held while a batch is read; watch/unwatch take it
	active map[int32]*exchange
	buf    []byte // one read; what a stream keeps is copied out of it
	oob    []byte
	events []syscall.EpollEvent
}

// reactors are shared by every Client of the process: one per P, at most 8.
var reactors = sync.OnceValues(func() ([]*reactor, error) {
	rs := make([]*reactor, min(runtime.GOMAXPROCS(0), 8))
	for i := range rs {
		r, err := newReactor()
		if err != nil {
			return nil, err
		}
		rs[i] = r
	}
	return rs, nil
})

func newReactor() (*reactor, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	r := &reactor{
		epfd:   fd,
		active: map[int32]*exchange{},
		buf:    make([]byte, 64<<10),
		oob:    make([]byte, syscall.CmsgSpace(16)*2),
		events: make([]syscall.EpollEvent, 512),
	}
	// The waits are blocking system calls: the runtime hands this
	// goroutine's P to other goroutines meanwhile. Registering the set
	// with Go's poller instead would wake the process for every token.
	go func() {
		rest := syscall.NsecToTimespec(int64(batchWindow))
		for {
			r.poll()
			_ = syscall.Nanosleep(&rest, nil)
		}
	}()
	return r, nil
}

// watch makes the reactor read ex's socket into ex until its response
// ends (then done is closed). The socket is in the set only meanwhile:
// level-triggered, so bytes that arrived before it was added are seen.
func (r *reactor) watch(ex *exchange) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(ex.fd)}
	if err := syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_ADD, ex.fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	r.active[int32(ex.fd)] = ex
	return nil
}

// unwatch stops reading ex's socket; false if its response had already
// ended. After it returns the reactor no longer touches ex.
func (r *reactor) unwatch(ex *exchange) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.active[int32(ex.fd)] != ex {
		return false
	}
	r.remove(ex)
	return true
}

func (r *reactor) remove(ex *exchange) {
	_ = syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_DEL, ex.fd, nil)
	delete(r.active, int32(ex.fd))
}

// poll waits until some sockets are ready and reads each once.
func (r *reactor) poll() {
	n, err := syscall.EpollWait(r.epfd, r.events, -1)
	if err != nil {
		return // EINTR
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	for _, e := range r.events[:n] {
		if ex := r.active[e.Fd]; ex != nil {
			r.read(ex, now, e.Events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0)
		}
	}
}

// read reads ex's socket until a read comes back short (the socket is
// empty; level-triggered, it is reported again when bytes arrive) or, on
// a closed or failed socket (hup), until the end of the stream.
func (r *reactor) read(ex *exchange, now time.Time, hup bool) {
	for {
		n, oobn, _, _, err := syscall.Recvmsg(ex.fd, r.buf, r.oob, syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return
		case err != nil:
			r.finish(ex, os.NewSyscallError("recvmsg", err))
			return
		case n == 0:
			_, err := ex.resp.eof()
			r.finish(ex, err)
			return
		}
		ex.ts = arrivalTime(r.oob[:oobn], now)
		ex.gotBytes = true
		ex.watch.touch()
		done, err := ex.resp.feed(r.buf[:n], ex)
		if done || err != nil {
			r.finish(ex, err)
			return
		}
		if n < len(r.buf) && !hup {
			return
		}
	}
}

func (r *reactor) finish(ex *exchange, err error) {
	r.remove(ex)
	ex.err = err
	close(ex.done)
}

// arrivalTime is when the read's last bytes reached the socket, on the
// monotonic clock of MonotonicSeconds: the kernel's realtime receive
// timestamp placed relative to now (the batch's clock reading). Without
// one (a kernel that gives none), the time of the read.
func arrivalTime(oob []byte, now time.Time) float64 {
	for len(oob) >= syscall.SizeofCmsghdr {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		if h.Len < syscall.SizeofCmsghdr || int(h.Len) > len(oob) {
			break
		}
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SO_TIMESTAMPNS && int(h.Len) >= syscall.CmsgLen(16) {
			ts := (*syscall.Timespec)(unsafe.Pointer(&oob[syscall.CmsgLen(0)]))
			// Bytes that arrived while the batch was read are newer than
			// now; a realtime clock stepped meanwhile shows as an offset
			// out of range.
			if d := ts.Nano() - now.UnixNano(); d > -int64(10*time.Second) && d < int64(10*time.Second) {
				return MonotonicSeconds(now) + float64(d)/1e9
			}
			return monoNow()
		}
		step := syscall.CmsgSpace(int(h.Len) - syscall.CmsgLen(0))
		if step > len(oob) {
			break
		}
		oob = oob[step:]
	}
	return monoNow()
}
