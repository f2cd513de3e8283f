package loadgen

import "time"

// origin is the process-wide zero of the monotonic clock that every
// Record.StartTime is measured on (vLLM's perf_counter has an arbitrary
// origin too).
var origin = time.Now()

// MonotonicSeconds returns t on the process's monotonic clock, in seconds
// since an arbitrary process-wide origin. t must carry a monotonic reading
// (a value from time.Now) for the result to be monotonic.
func MonotonicSeconds(t time.Time) float64 {
	return t.Sub(origin).Seconds()
}

// monoNow is MonotonicSeconds(time.Now()).
func monoNow() float64 {
	return time.Since(origin).Seconds()
}
