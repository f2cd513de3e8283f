//go:build !linux

package vllmsim

import "time"

// preciseClock exists on Linux only; elsewhere streams use Go timers.
type preciseClock struct{}

func sharedClock() *preciseClock { return nil }

func (*preciseClock) wait(<-chan struct{}, time.Time, chan struct{}) bool {
	panic("vllmsim: no precise clock on this platform")
}
