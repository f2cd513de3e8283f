//go:build cgo

package pyrand

// #cgo LDFLAGS: -lm
// #include <math.h>
import "C"

// Log is the C library's log, which numpy calls.
func Log(x float64) float64 { return float64(C.log(C.double(x))) }

// Pow is the C library's pow, which numpy calls.
func Pow(x, y float64) float64 { return float64(C.pow(C.double(x), C.double(y))) }

const libmIsC = true
