package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// floorClient is the machine's floor: the least a client can do to time a
// stream. One OS thread per request, a blocking socket, raw read(2) calls,
// and every read that carries a token event stamped right after it
// returns; no HTTP library, no SSE or JSON parsing, no Go netpoller.
// Whatever timing error it still shows comes from the kernel, the loopback
// and the scheduler, not from client code.
type floorClient struct {
	addr  syscall.SockaddrInet4
	model string
}

func newFloorClient(base string) (*floorClient, error) {
	host, port, err := net.SplitHostPort(base[len("http://"):])
	if err != nil {
		return nil, err
	}
	ip := net.ParseIP(host).To4()
	p, err := strconv.Atoi(port)
	if ip == nil || err != nil {
		return nil, fmt.Errorf("floor client needs an IPv4 host:port, got %q", base)
	}
	f := &floorClient{model: benchModel}
	f.addr.Port = p
	copy(f.addr.Addr[:], ip)
	return f, nil
}

// floorResult is one floor request: what it measured and what it cost.
type floorResult struct {
	measured
	CPUSeconds float64
}

// The patterns the floor client looks for. Every token chunk of the
// simulator's completions stream has a "text" key; the usage chunk has none.
var (
	tokenMark = []byte(`"text":`)
	doneMark  = []byte(`[DONE]`) // shorter than tokenMark, so the carried tail finds it too
)

// do sends one completions request for tokens tokens with x-request-id id.
// It locks its goroutine to a thread and never unlocks, so the thread
// exits with it and the thread's CPU time is this request's alone.
func (f *floorClient) do(id string, tokens int) floorResult {
	runtime.LockOSThread()
	cpu0 := threadCPUSeconds()
	res := floorResult{measured: measured{ID: id, ITL: []float64{}}}
	err := f.stream(&res.measured, tokens)
	if err != nil {
		res.Error = err.Error()
	}
	res.CPUSeconds = threadCPUSeconds() - cpu0
	return res
}

func (f *floorClient) stream(m *measured, tokens int) error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	if err := syscall.Connect(fd, &f.addr); err != nil {
		return err
	}
	if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1); err != nil {
		return err
	}
	body, err := json.Marshal(map[string]any{
		"model": f.model, "prompt": benchPrompt, "max_tokens": tokens,
		"stream": true, "ignore_eos": true, "stream_options": map[string]bool{"include_usage": true},
	})
	if err != nil {
		return err
	}
	req := fmt.Appendf(nil, "POST /v1/completions HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"+
		"X-Request-Id: %s\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", m.ID, len(body), body)

	start := time.Now()
	m.StartUnixNs = start.UnixNano()
	for sent := 0; sent < len(req); {
		n, err := syscall.Write(fd, req[sent:])
		if err != nil && !errors.Is(err, syscall.EINTR) {
			return err
		}
		sent += max(n, 0)
	}
	// A mark split across two reads is seen by carrying the previous
	// read's tail; the tail is shorter than a token mark, so no mark is
	// counted twice.
	keep := len(tokenMark) - 1
	buf := make([]byte, keep+64<<10)
	carried := 0
	last := start
	for {
		n, err := syscall.Read(fd, buf[carried:])
		now := time.Now()
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.New("connection closed before [DONE]")
		}
		scan := buf[:carried+n]
		for c := bytes.Count(scan, tokenMark); c > 0; c-- {
			if m.Tokens == 0 {
				m.TTFT = now.Sub(start).Seconds()
			} else {
				m.ITL = append(m.ITL, now.Sub(last).Seconds())
			}
			last = now
			m.Tokens++
		}
		if bytes.Contains(scan, doneMark) {
			m.OK = m.Tokens == tokens
			return nil
		}
		carried = copy(buf, scan[max(len(scan)-keep, 0):])
	}
}
