//go:build !cgo

package pyrand

// Log is the natural logarithm, correctly rounded (see libm.go).
func Log(x float64) float64 { return correctlyRoundedLog(x) }

// Pow is x**y, correctly rounded (see libm.go).
func Pow(x, y float64) float64 { return correctlyRoundedPow(x, y) }

const libmIsC = false
