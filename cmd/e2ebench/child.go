//go:build !windows

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tokenreg/tokenreg/report"
)

// bench is one e2ebench run: the binaries, the temporary directory, the
// credentials shared by the simulators and tokenreg, the child processes
// still running, and the figures measured so far.
type bench struct {
	tokenreg, sim string // absolute paths of the binaries
	dir           string // temporary directory, removed at the end
	admin         string
	authToken     string
	secretCode    string
	env           []string // the children's environment, credentials set
	log           io.Writer
	verbose       bool
	figures       []figure
	seq           int // numbers the generated files

	mu       sync.Mutex
	children map[*child]struct{}
}

func newBench(binDir string, log io.Writer, verbose bool) (*bench, error) {
	tokenreg, err := binary(binDir, "tokenreg")
	if err != nil {
		return nil, err
	}
	sim, err := binary(binDir, "centagate-sim")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "e2ebench-")
	if err != nil {
		return nil, err
	}
	b := &bench{
		tokenreg: tokenreg, sim: sim, dir: dir, log: log, verbose: verbose,
		admin: "e2e.admin", authToken: randomHex(), secretCode: randomHex(),
		children: make(map[*child]struct{}),
	}
	// The simulator reads the credentials it expects from the same
	// variables as tokenreg (SPEC §6); nothing else of the caller's
	// CENTAGATE_* settings may leak into a measurement.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CENTAGATE_") {
			b.env = append(b.env, kv)
		}
	}
	b.env = append(b.env,
		"CENTAGATE_ADMIN="+b.admin,
		"CENTAGATE_AUTH_TOKEN="+b.authToken,
		"CENTAGATE_SECRET_CODE="+b.secretCode,
	)
	return b, nil
}

func randomHex() string {
	p := make([]byte, 16)
	rand.Read(p)
	return hex.EncodeToString(p)
}

// path returns a new file name in the temporary directory.
func (b *bench) path(format string, a ...any) string {
	b.seq++
	return filepath.Join(b.dir, fmt.Sprintf("%02d-", b.seq)+fmt.Sprintf(format, a...))
}

// child is a started process. done is closed once it has exited and its
// output is complete; err, wall, stdout and stderr may be read after that.
type child struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	wall           time.Duration // from just before start to exit
	err            error
	done           chan struct{}
}

// start starts a child that ctx kills, and registers it so that killAll
// ends it if its owner does not.
func (b *bench) start(ctx context.Context, path string, env []string, args ...string) (*child, error) {
	c := &child{name: filepath.Base(path), done: make(chan struct{})}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	cmd.Stdout = &c.stdout
	cmd.Stderr = &c.stderr
	if b.verbose {
		cmd.Stderr = io.MultiWriter(&c.stderr, b.log)
	}
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = 5 * time.Second
	c.cmd = cmd
	b.mu.Lock()
	defer b.mu.Unlock()
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", c.name, err)
	}
	b.children[c] = struct{}{}
	go func() {
		err := cmd.Wait()
		c.wall = time.Since(begin)
		c.err = err
		b.mu.Lock()
		delete(b.children, c)
		b.mu.Unlock()
		close(c.done)
	}()
	return c, nil
}

// kill ends c at once, if it still runs, and waits for it.
func (c *child) kill() {
	select {
	case <-c.done:
		return
	default:
	}
	c.cmd.Process.Kill()
	<-c.done
}

// interrupt sends SIGINT and waits up to grace for c to exit, then kills it.
func (c *child) interrupt(grace time.Duration) {
	c.cmd.Process.Signal(os.Interrupt)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		c.kill()
	}
}

// killAll kills every child still running.
func (b *bench) killAll() {
	b.mu.Lock()
	cs := make([]*child, 0, len(b.children))
	for c := range b.children {
		cs = append(cs, c)
	}
	b.mu.Unlock()
	for _, c := range cs {
		c.kill()
	}
}

// runChild runs tokenreg with args (credentials in the environment), waits
// up to timeout for it, and fails unless it exited 0.
func (b *bench) runChild(ctx context.Context, timeout time.Duration, args ...string) (*child, error) {
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := b.start(runCtx, b.tokenreg, b.env, args...)
	if err != nil {
		return nil, err
	}
	<-c.done
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case c.err != nil:
		return nil, fmt.Errorf("tokenreg %s: %v: %s", args[0], c.err, c.tail())
	}
	return c, nil
}

// tail returns the end of a child's stderr, for error messages.
func (c *child) tail() string {
	s := strings.TrimSpace(c.stderr.String())
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	if s == "" {
		return "(no stderr)"
	}
	return s
}

// usage is what the kernel says a child used.
type usage struct {
	peakRSS   int64         // bytes
	user, sys time.Duration // CPU time
}

func (c *child) usage() usage {
	ps := c.cmd.ProcessState
	u := usage{user: ps.UserTime(), sys: ps.SystemTime()}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		u.peakRSS = int64(ru.Maxrss)
		if runtime.GOOS != "darwin" {
			u.peakRSS *= 1024 // KiB everywhere but macOS
		}
	}
	return u
}

func (u usage) cpu() time.Duration { return u.user + u.sys }

// selfCPU is the CPU time e2ebench itself has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sim is a running centagate-sim.
type sim struct {
	*child
	url string // base URL, CENTAGATE_URL
}

// startSim starts centagate-sim on a free loopback port with the state
// file and extra flags, and waits until it listens.
func (b *bench) startSim(ctx context.Context, state string, flags ...string) (*sim, error) {
	addrFile := b.path("sim.addr")
	c, err := b.start(ctx, b.sim, b.env, append([]string{"-state", state, "-addr-file", addrFile}, flags...)...)
	if err != nil {
		return nil, err
	}
	// The simulator writes the file atomically once it listens; loading a
	// state of a million users takes a few seconds.
	deadline := time.NewTimer(2 * time.Minute)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if data, err := os.ReadFile(addrFile); err == nil && len(data) > 0 {
			return &sim{child: c, url: strings.TrimSpace(string(data))}, nil
		}
		select {
		case <-c.done:
			return nil, fmt.Errorf("centagate-sim exited before listening (%v): %s", c.err, c.tail())
		case <-deadline.C:
			c.kill()
			return nil, errors.New("centagate-sim did not listen within 2 minutes")
		case <-ctx.Done():
			c.kill()
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

// simStats is what centagate-sim prints on exit.
// simRun starts a simulator on state with simFlags, calls run with its URL
// and stops it: run's result, the simulator's tally and its own usage. Every
// figure that wants a fresh simulator for one run goes through here.
func (b *bench) simRun(ctx context.Context, state string, simFlags []string, run func(url string) (runResult, error)) (runResult, simStats, usage, error) {
	s, err := b.startSim(ctx, state, simFlags...)
	if err != nil {
		return runResult{}, simStats{}, usage{}, err
	}
	defer s.kill()
	r, err := run(s.url)
	if err != nil {
		return runResult{}, simStats{}, usage{}, err
	}
	st, err := s.stop()
	if err != nil {
		return runResult{}, simStats{}, usage{}, err
	}
	return r, st, s.usage(), nil
}

type simStats struct {
	requests int64
	rate     float64 // (requests-1) / (last arrival - first arrival)
	codes    map[string]int64
	statuses map[string]int64 // HTTP statuses answered
	text     string
}

// stop interrupts the simulator and returns the statistics it printed.
func (s *sim) stop() (simStats, error) {
	s.interrupt(10 * time.Second)
	if s.err != nil {
		return simStats{}, fmt.Errorf("centagate-sim: %v: %s", s.err, s.tail())
	}
	return parseSimStats(s.stdout.String())
}

var statLine = regexp.MustCompile(`(?m)^\s+(\S+(?: \S+)*)\s{2,}(.*)$`)

func parseSimStats(out string) (simStats, error) {
	st := simStats{codes: map[string]int64{}, statuses: map[string]int64{}, text: out}
	i := strings.Index(out, "statistics:")
	if i < 0 {
		return st, fmt.Errorf("centagate-sim printed no statistics: %q", out)
	}
	for _, m := range statLine.FindAllStringSubmatch(out[i:], -1) {
		key, val := m[1], strings.TrimSpace(m[2])
		switch key {
		case "requests":
			st.requests, _ = strconv.ParseInt(val, 10, 64)
		case "rate":
			st.rate, _ = strconv.ParseFloat(strings.TrimSuffix(val, " req/s"), 64)
		case "codes":
			parseCounts(st.codes, val)
		case "http status":
			parseCounts(st.statuses, val)
		}
	}
	return st, nil
}

// parseCounts reads "k=v k=v" into m.
func parseCounts(m map[string]int64, val string) {
	for kv := range strings.FieldsSeq(val) {
		k, v, ok := strings.Cut(kv, "=")
		if n, err := strconv.ParseInt(v, 10, 64); ok && err == nil {
			m[k] = n
		}
	}
}

// allOK checks that the simulator answered code 0 to exactly rows requests
// and nothing else.
func (st simStats) allOK(rows int) error {
	if st.requests != int64(rows) || st.codes["0"] != int64(rows) || len(st.codes) != 1 {
		return fmt.Errorf("simulator saw %d requests with codes %v, want %d all answered 0:\n%s", st.requests, st.codes, rows, st.text)
	}
	return nil
}

// okAfter429s checks that the simulator answered code 0 to exactly rows
// requests, and HTTP 429 to the others; it returns their number.
func (st simStats) okAfter429s(rows int) (int64, error) {
	n429 := st.statuses["429"]
	if st.codes["0"] != int64(rows) || len(st.codes) != 1 || st.requests != int64(rows)+n429 {
		return 0, fmt.Errorf("simulator saw %d requests with codes %v and HTTP statuses %v, want %d answered 0 and the rest 429:\n%s", st.requests, st.codes, st.statuses, rows, st.text)
	}
	return n429, nil
}

// runResult is one finished measurement: a `tokenreg run`, or the bare
// loop (whose usage is e2ebench's own CPU time and which has no summary).
type runResult struct {
	rows    int
	wall    time.Duration
	usage   usage
	summary report.SummaryJSON
}

func (r runResult) rate() float64 { return float64(r.rows) / r.wall.Seconds() }

// runTokenreg runs `tokenreg run input` against url with extra flags, and
// checks that it exited 0 with every one of rows rows ok.
func (b *bench) runTokenreg(ctx context.Context, url, input string, rows int, timeout time.Duration, flags ...string) (runResult, error) {
	c, summary, err := b.execTokenreg(ctx, url, input, timeout, flags)
	if err != nil {
		return runResult{}, err
	}
	if c.err != nil {
		return runResult{}, fmt.Errorf("tokenreg %s: %v: %s", strings.Join(flags, " "), c.err, c.tail())
	}
	r := runResult{rows: rows, wall: c.wall, usage: c.usage()}
	data, err := os.ReadFile(summary)
	if err != nil {
		return r, fmt.Errorf("tokenreg --summary: %w", err)
	}
	if err := json.Unmarshal(data, &r.summary); err != nil {
		return r, fmt.Errorf("tokenreg --summary: %w", err)
	}
	if s := r.summary; s.Rows != rows || s.ByStatus[report.StatusOK] != rows {
		return r, fmt.Errorf("tokenreg: %d rows, %v, want %d rows all ok", s.Rows, s.ByStatus, rows)
	}
	return r, nil
}

// execTokenreg runs `tokenreg run input --out … --summary …` against url
// with extra flags and waits for it to finish within timeout: the finished
// child and the path of its summary. The result file is removed (a million
// rows are 90 MB); the exit status is left to the caller.
func (b *bench) execTokenreg(ctx context.Context, url, input string, timeout time.Duration, flags []string) (*child, string, error) {
	out := b.path("result.csv")
	summary := b.path("summary.json")
	args := append([]string{"run", input, "--out", out, "--summary", summary, "--progress", "never"}, flags...)
	env := append(slices.Clone(b.env), "CENTAGATE_URL="+url)
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := b.start(runCtx, b.tokenreg, env, args...)
	if err != nil {
		return nil, "", err
	}
	<-c.done
	os.Remove(out)
	switch {
	case ctx.Err() != nil:
		return nil, "", ctx.Err()
	case runCtx.Err() != nil:
		return nil, "", fmt.Errorf("tokenreg %s: not done after %s", strings.Join(flags, " "), timeout)
	}
	return c, summary, nil
}
