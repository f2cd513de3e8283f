package vllmsim

import (
	"math"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// preciseClock wakes goroutines at absolute deadlines from one OS thread
// that sleeps in ppoll with a nanosecond timeout and 1 ns timer slack.
// Go's own timers sleep in epoll_wait, whose millisecond resolution makes
// them wake up to about 1 ms late, a large error against 10-20 ms ITLs.
// One clock serves every Server in the process.
type preciseClock struct {
	base time.Time // deadlines are monotonic nanoseconds since base
	efd  int       // eventfd that interrupts the sleep when an earlier deadline arrives

	mu    sync.Mutex
	heap  []wakeup // min-heap on at
	sleep int64    // deadline the thread sleeps towards (MaxInt64 when none)
}

type wakeup struct {
	at int64
	ch chan struct{} // capacity 1
}

var sharedClock = sync.OnceValue(func() *preciseClock {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil // fall back to Go timers
	}
	c := &preciseClock{base: time.Now(), efd: efd, sleep: math.MaxInt64}
	go c.run()
	return c
})

func (c *preciseClock) now() int64 { return int64(time.Since(c.base)) }

// wait blocks until t or until done closes; ch must be the caller's own
// channel of capacity 1, reused across calls.
func (c *preciseClock) wait(done <-chan struct{}, t time.Time, ch chan struct{}) bool {
	at := int64(t.Sub(c.base))
	c.mu.Lock()
	c.push(wakeup{at, ch})
	kick := at < c.sleep
	if kick {
		c.sleep = at
	}
	c.mu.Unlock()
	if kick {
		var one = [8]byte{1}
		_, _ = unix.Write(c.efd, one[:])
	}
	select {
	case <-ch:
		return true
	case <-done:
		return false
	}
}

func (c *preciseClock) run() {
	runtime.LockOSThread()
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	fds := []unix.PollFd{{Fd: int32(c.efd), Events: unix.POLLIN}}
	var drain [8]byte
	for {
		c.mu.Lock()
		now := c.now()
		for len(c.heap) > 0 && c.heap[0].at <= now {
			select {
			case c.pop().ch <- struct{}{}:
			default:
			}
		}
		var timeout *unix.Timespec
		c.sleep = math.MaxInt64
		if len(c.heap) > 0 {
			c.sleep = c.heap[0].at
			ts := unix.NsecToTimespec(c.sleep - now)
			timeout = &ts
		}
		c.mu.Unlock()
		if n, _ := unix.Ppoll(fds, timeout, nil); n > 0 {
			_, _ = unix.Read(c.efd, drain[:])
		}
	}
}

func (c *preciseClock) push(w wakeup) {
	h := append(c.heap, w)
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if h[p].at <= h[i].at {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
	c.heap = h
}

func (c *preciseClock) pop() wakeup {
	h := c.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = wakeup{}
	h = h[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && h[l].at < h[m].at {
			m = l
		}
		if r < len(h) && h[r].at < h[m].at {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	c.heap = h
	return top
}
