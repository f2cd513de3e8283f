//go:build !linux

package loadgen

import "time"

// sleep is time.Sleep where nanosleep(2) is not in package syscall; the
// dispatcher's adaptive spin margin absorbs the timer's later wake-ups.
func sleep(d time.Duration) { time.Sleep(d) }
