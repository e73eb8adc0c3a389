// Command centagate-sim serves a local CENTAGATE registerActiveToken
// endpoint for demos, tests and benchmarks (SPEC §6). The engine is
// client/clienttest; this command only adds flags, environment, a loopback
// listener, signals and the statistics printed on exit.
//
// Usage:
//
//	centagate-sim [-addr 127.0.0.1:0] [-state FILE] [-latency D] [-jitter D]
//	              [-rate-limit N] [-faults LIST] [-fault-rate F] [-seed N]
//	              [-addr-file FILE]
//
// The credentials it expects come from CENTAGATE_ADMIN, CENTAGATE_AUTH_TOKEN
// and CENTAGATE_SECRET_CODE, with the demo defaults of samples/README.md.
// It prints "listening on http://HOST:PORT" and the base URL on stdout, and
// on SIGINT or SIGTERM shuts down, ending hanging requests, prints its
// statistics and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tokenreg/tokenreg/client/clienttest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore the default handling: a second one
	// kills a shutdown that does not finish.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// config is what the flags and the environment say.
type config struct {
	addr     string
	state    string
	addrFile string
	opts     clienttest.Options
	demo     bool // credentials are the demo defaults
}

// errUsage marks errors already explained by the flag package.
var errUsage = errors.New("usage")

func parse(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("centagate-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:0", "loopback `address` to listen on; port 0 picks a free one")
	fs.StringVar(&cfg.state, "state", "", "JSON state `file` (users, tokens, phones in use, scripted failures), e.g. samples/sim-state.json")
	fs.StringVar(&cfg.addrFile, "addr-file", "", "write the base URL into `file` once listening (removed on exit)")
	fs.DurationVar(&cfg.opts.Latency, "latency", 0, "delay added to every answer")
	fs.DurationVar(&cfg.opts.Jitter, "jitter", 0, "uniform ± variation of the latency")
	fs.Float64Var(&cfg.opts.RateLimit, "rate-limit", 0, "requests per second accepted, the rest get HTTP 429 (0 = no limit)")
	faults := fs.String("faults", "", "comma-separated faults to inject: 500,503,reset,hang,badjson,html,lost or all, and 429 (a stray 429 with Retry-After: 1)")
	fs.Float64Var(&cfg.opts.FaultRate, "fault-rate", 0, "probability (0..1) that a request gets one of -faults")
	fs.Int64Var(&cfg.opts.Seed, "seed", 0, "seed of the fault and jitter random source")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: centagate-sim [flags]\n\n"+
			"Serves PUT %s/token/registerActiveToken/{admin} on loopback.\n"+
			"Credentials from CENTAGATE_ADMIN, CENTAGATE_AUTH_TOKEN, CENTAGATE_SECRET_CODE (demo defaults if unset).\n\nFlags:\n",
			clienttest.DefaultBasePath)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, errUsage
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q: centagate-sim takes flags only", fs.Arg(0))
	}
	if err := checkLoopback(cfg.addr); err != nil {
		return cfg, err
	}
	var err error
	if cfg.opts.Faults, err = clienttest.ParseFaults(*faults); err != nil {
		return cfg, fmt.Errorf("-faults: %w", err)
	}
	switch r := cfg.opts.FaultRate; {
	case r < 0 || r > 1:
		return cfg, fmt.Errorf("-fault-rate %v: want a probability between 0 and 1", r)
	case r > 0 && len(cfg.opts.Faults) == 0:
		return cfg, errors.New("-fault-rate without -faults: name the faults to inject, e.g. -faults all")
	}
	if cfg.opts.RateLimit < 0 {
		return cfg, fmt.Errorf("-rate-limit %v: want 0 (no limit) or more", cfg.opts.RateLimit)
	}
	if cfg.opts.Latency < 0 || cfg.opts.Jitter < 0 {
		return cfg, errors.New("-latency and -jitter must not be negative")
	}
	cfg.opts.Admin = getenv("CENTAGATE_ADMIN")
	cfg.opts.AuthToken = getenv("CENTAGATE_AUTH_TOKEN")
	cfg.opts.SecretCode = getenv("CENTAGATE_SECRET_CODE")
	cfg.demo = cfg.opts.Admin == "" && cfg.opts.AuthToken == "" && cfg.opts.SecretCode == ""
	return cfg, nil
}

// checkLoopback refuses an address that is not on loopback: the simulator
// accepts any registration signed with demo credentials and must never be
// reachable from the network.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("refusing -addr %q: the simulator listens on loopback only (127.0.0.1, [::1] or localhost)", addr)
}

// run is the whole command; it returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	// The HTTP server logs from its own goroutines.
	stderr = &lockedWriter{w: stderr}
	cfg, err := parse(args, getenv, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "centagate-sim: %v\n", err)
		return 2
	}
	var st clienttest.State
	if cfg.state != "" {
		if st, err = clienttest.LoadState(cfg.state); err != nil {
			fmt.Fprintf(stderr, "centagate-sim: %v\n", err)
			return 2
		}
		fmt.Fprintf(stderr, "centagate-sim: state %s: %d users, %d tokens, %d phones in use, %d scripted failures\n",
			cfg.state, len(st.Users), len(st.Tokens), len(st.PhonesInUse), len(st.Failures))
	} else {
		fmt.Fprintln(stderr, "centagate-sim: no -state: every user is unknown (22002)")
	}
	if cfg.demo {
		fmt.Fprintf(stderr, "centagate-sim: expecting the demo credentials (admin %q, see samples/README.md)\n", clienttest.DefaultAdmin)
	}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		fmt.Fprintf(stderr, "centagate-sim: %v\n", err)
		return 1
	}
	if ta, ok := ln.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
		ln.Close()
		fmt.Fprintf(stderr, "centagate-sim: refusing -addr %q: it resolved to %s, not loopback\n", cfg.addr, ln.Addr())
		return 2
	}
	h := clienttest.NewHandler(st, cfg.opts)
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(stderr, "centagate-sim: ", 0),
	}
	base := "http://" + ln.Addr().String() + h.BasePath()
	// The file first, so that whoever reads the first stdout line can
	// rely on it.
	if cfg.addrFile != "" {
		if err := writeFileAtomic(cfg.addrFile, base+"\n"); err != nil {
			ln.Close()
			fmt.Fprintf(stderr, "centagate-sim: -addr-file: %v\n", err)
			return 1
		}
		defer os.Remove(cfg.addrFile)
	}
	// os.Stdout is unbuffered: these lines reach a script reading the pipe
	// at once.
	fmt.Fprintf(stdout, "listening on http://%s\nbase URL %s\n", ln.Addr(), base)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	code := 0
	select {
	case <-ctx.Done():
	case err := <-served:
		fmt.Fprintf(stderr, "centagate-sim: serve: %v\n", err)
		served <- err // Serve has returned; let the wait below pass
		code = 1
	}

	// End hangs and cut latencies short first: Shutdown waits for every
	// request in flight, and a hanging one would never finish.
	h.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-served
	printStats(stdout, h.Stats())
	return code
}

// printStats writes the end-of-run statistics.
func printStats(w io.Writer, s clienttest.Stats) {
	fmt.Fprintln(w, "statistics:")
	fmt.Fprintf(w, "  requests       %d\n", s.Requests)
	fmt.Fprintf(w, "  rate           %.1f req/s\n", s.Rate)
	fmt.Fprintf(w, "  max in flight  %d\n", s.MaxInFlight)
	fmt.Fprintf(w, "  codes          %s\n", counts(s.ByCode))
	statuses := make(map[string]int64, len(s.HTTPStatus))
	for k, v := range s.HTTPStatus {
		statuses[strconv.Itoa(k)] = v
	}
	fmt.Fprintf(w, "  http status    %s\n", counts(statuses))
	faults := make(map[string]int64, len(s.Faults))
	for k, v := range s.Faults {
		faults[string(k)] = v
	}
	fmt.Fprintf(w, "  faults         %s\n", counts(faults))
	doubles := s.DoubleRegistrations()
	fmt.Fprintf(w, "  registrations  %d tokens, %d registered twice", len(s.Registrations), len(doubles))
	if len(doubles) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(doubles, " "))
	}
	fmt.Fprintln(w)
}

// counts formats a map as "k=v k=v", numeric keys in numeric order.
func counts(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		x, errX := strconv.Atoi(a)
		y, errY := strconv.Atoi(b)
		if errX == nil && errY == nil {
			return x - y
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

// writeFileAtomic writes text to path through a temporary file and a
// rename, so a script polling for path never reads it half-written.
func writeFileAtomic(path, text string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.WriteString(text); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// lockedWriter serializes writes from the HTTP server's goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
