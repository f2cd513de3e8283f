package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vibench/vllm-inference-benchmark/simulator/vllmsim"
)

// The bench runs as three kinds of process: the orchestrator (no pinning,
// only bookkeeping), the simulator child ("sim", pinned to core 1) and the
// generator child ("gen", pinned to core 0). Separate processes keep each
// one's CPU time and peak RSS its own.
const (
	modeSim = "sim"
	modeGen = "gen"

	generatorCore = "0"
	simulatorCore = "1"
)

// pinning is how children are started: under taskset when it works here.
type pinning struct{ taskset string }

func detectPinning() pinning {
	path, err := exec.LookPath("taskset")
	if err != nil {
		return pinning{}
	}
	for _, core := range []string{generatorCore, simulatorCore} {
		if exec.Command(path, "-c", core, "true").Run() != nil {
			return pinning{}
		}
	}
	return pinning{taskset: path}
}

func (p pinning) String() string {
	if p.taskset == "" {
		return "none (taskset missing or cores 0/1 not allowed)"
	}
	return "generator on core " + generatorCore + ", simulator on core " + simulatorCore + " (taskset)"
}

// command runs this executable in mode, on core when pinning works.
func (p pinning) command(core, mode string, args ...string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	argv := append([]string{self, mode}, args...)
	if p.taskset != "" {
		argv = append([]string{p.taskset, "-c", core}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	return cmd, nil
}

// simSettings configure one simulator child.
type simSettings struct {
	TTFT, ITL  time.Duration
	ChunkLog   string // path; empty: no chunk log
	FlushEvery int    // token events per flush; 0 or 1: each alone
}

// simProc is a running simulator child.
type simProc struct {
	cmd  *exec.Cmd
	Base string // http://host:port
}

func (p pinning) startSim(s simSettings) (*simProc, error) {
	cmd, err := p.command(simulatorCore, modeSim,
		"--ttft", s.TTFT.String(), "--itl", s.ITL.String(), "--chunk-log", s.ChunkLog,
		"--flush-every", strconv.Itoa(s.FlushEvery))
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	sp := &simProc{cmd: cmd}
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		sp.kill()
		return nil, fmt.Errorf("simulator did not report its address: %w", err)
	}
	sp.Base = "http://" + strings.TrimSpace(addr)
	if err := waitHealthy(sp.Base); err != nil {
		sp.kill()
		return nil, err
	}
	return sp, nil
}

func waitHealthy(base string) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("simulator at %s not healthy after 10s", base)
}

// stop asks the simulator to shut down (which flushes its chunk log) and
// waits for it.
func (sp *simProc) stop() error {
	_ = sp.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- sp.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		sp.kill()
		return errors.New("simulator did not stop within 20s")
	}
}

func (sp *simProc) kill() {
	_ = sp.cmd.Process.Kill()
	_ = sp.cmd.Wait()
}

// runGenerator runs one job in a generator child and returns its result,
// with the child's whole-life CPU time and peak RSS from wait4's rusage.
// A child still running after limit gets SIGQUIT, so its goroutines are
// dumped on stderr: a hang is reported, never waited out.
func (p pinning) runGenerator(j job, limit time.Duration) (genResult, error) {
	spec, err := json.Marshal(j)
	if err != nil {
		return genResult{}, err
	}
	cmd, err := p.command(generatorCore, modeGen, string(spec))
	if err != nil {
		return genResult{}, err
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		return genResult{}, err
	}
	timer := time.AfterFunc(limit, func() { _ = cmd.Process.Signal(syscall.SIGQUIT) })
	err = cmd.Wait()
	if !timer.Stop() {
		return genResult{}, fmt.Errorf("generator (%s) still running after %v: stopped with SIGQUIT (goroutine dump on stderr)", j.Kind, limit)
	}
	if err != nil {
		return genResult{}, fmt.Errorf("generator (%s): %w", j.Kind, err)
	}
	var r genResult
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return genResult{}, fmt.Errorf("generator (%s) output: %w", j.Kind, err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.ProcessCPUSeconds = float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
		r.ProcessMaxRSSMB = float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	return r, nil
}

// simMain is the simulator child: it serves on a loopback port, prints the
// address on stdout, and stops on SIGTERM.
func simMain(args []string) error {
	fs := flag.NewFlagSet(modeSim, flag.ContinueOnError)
	ttft := fs.Duration("ttft", 0, "time to first token")
	itl := fs.Duration("itl", 0, "inter-token latency")
	chunkLog := fs.String("chunk-log", "", "chunk log path")
	flushEvery := fs.Int("flush-every", 0, "token events per flush")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := vllmsim.Config{Model: benchModel, TTFT: *ttft, ITL: *itl, FlushEvery: *flushEvery}
	if *chunkLog != "" {
		f, err := os.Create(*chunkLog)
		if err != nil {
			return err
		}
		defer f.Close()
		cfg.ChunkLog = f // the server writes whole lines under its own lock
	}
	srv, err := vllmsim.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return srv.Serve(ctx, ln)
}

// procStatusKB reads one "Name: N kB" field of /proc/self/status.
func procStatusKB(name string) (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, name+":")
		if !ok {
			continue
		}
		return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
	}
	return 0, fmt.Errorf("/proc/self/status has no %s", name)
}

func procStatusMB(name string) float64 {
	kb, err := procStatusKB(name)
	if err != nil {
		return 0
	}
	return float64(kb) / 1024
}

// readCalls is how many read-like system calls this process has made
// (syscr of /proc/self/io); 0 when unknown.
func readCalls() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscr:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// resetPeakRSS makes VmHWM start again from the current RSS (Linux >= 4.0),
// so a phase's own peak can be read.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// processCPUSeconds is this process's user+system CPU time so far.
func processCPUSeconds() float64 {
	return rusageSeconds(syscall.RUSAGE_SELF)
}

// threadCPUSeconds is the calling OS thread's CPU time (RUSAGE_THREAD).
func threadCPUSeconds() float64 {
	const rusageThread = 1
	return rusageSeconds(rusageThread)
}

func rusageSeconds(who int) float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(who, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
