package loadgen

import (
	"syscall"
	"time"
)

// sleep blocks the thread in nanosleep(2): unlike time.Sleep it does not
// wait for the runtime's timer to wake the goroutine, so a wake-up is late
// by the kernel's slack only. EINTR only shortens it.
func sleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	_ = syscall.Nanosleep(&ts, nil)
}
