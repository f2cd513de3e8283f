// Package freeport picks TCP ports for test servers that are started as
// separate processes.
package freeport

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Port returns a free loopback port below the kernel's ephemeral range.
// A port from that range (what listening on :0 gives) can be taken as the
// source port of any outgoing connection between the check and the
// server's own bind; below it, only another listener can take it.
func Port(t testing.TB) int {
	t.Helper()
	hi := ephemeralLow() - 1
	lo := max(hi-12000, 1024)
	for range 200 {
		p := lo + rand.IntN(hi-lo+1)
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
			l.Close()
			return p
		}
	}
	t.Fatalf("freeport: no free port in [%d, %d]", lo, hi)
	return 0
}

// ephemeralLow is the first port of net.ipv4.ip_local_port_range (Linux's
// default, 32768, elsewhere).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	if n, err := strconv.Atoi(f[0]); err == nil && n > 2048 {
		return n
	}
	return 32768
}
