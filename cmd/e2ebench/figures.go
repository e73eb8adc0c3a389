//go:build !windows

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tokenreg/tokenreg/batch"
	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/client/clienttest"
)

// The bars of SPEC §7.
const (
	throughputBar   = 0.90 // tokenreg rows/s at its defaults ÷ bare loop rows/s
	stray429Rate    = 0.01 // share of requests answered 429 at random
	stray429Bar     = 0.50 // rows/s with stray 429s ÷ rows/s without
	limitShareBar   = 0.10 // most share of answers that are 429 against a limit
	pacingTolerance = 0.02 // achieved rate within 2% of --rate
	latencyWorkers  = 64
	latencyShare    = 0.90    // of workers / latency
	memoryBar       = 64e6    // bytes of peak RSS at 1,000,000 rows
	memoryBarRows   = 1000000 // the row count the memory bar is for
)

// throughput compares tokenreg with a bare keep-alive Go HTTP loop, each
// against a fresh simulator with no latency and no rate limit. workers 0
// runs tokenreg at its defaults (only --rate 0) and the bare loop with as
// many goroutines as tokenreg then has request slots.
func (b *bench) throughput(ctx context.Context, sz sizes, workers int) error {
	flags := []string{"--rate", "0"}
	workersNote := fmt.Sprintf("%d (tokenreg's default at --rate 0)", batch.DefaultWorkers(0))
	if workers > 0 {
		flags = append(flags, "--workers", strconv.Itoa(workers))
		workersNote = strconv.Itoa(workers)
	} else {
		workers = batch.DefaultWorkers(0)
	}
	n := sz.throughput
	state, input, err := b.writeFiles("throughput", n, 1)
	if err != nil {
		return err
	}
	// The machine's speed drifts from one second to the next (a virtual
	// machine's CPUs are shared): each repetition runs both sides back to
	// back, alternating which goes first, and the figure is the median of
	// the repetitions' ratios.
	var ratios, rates, bareRates []float64
	var cpu, bareCPU, simCPU time.Duration
	for rep := range sz.reps {
		sides := []string{"bare", "tokenreg"}
		if rep%2 == 1 {
			sides[0], sides[1] = sides[1], sides[0]
		}
		var pair [2]float64 // tokenreg, bare
		for _, side := range sides {
			r, st, simUsage, err := b.simRun(ctx, state, nil, func(url string) (runResult, error) {
				if side == "bare" {
					return b.bareLoop(ctx, url, n, 1, workers)
				}
				return b.runTokenreg(ctx, url, input, n, 3*time.Minute, flags...)
			})
			if err != nil {
				return err
			}
			if err := st.allOK(n); err != nil {
				return fmt.Errorf("%s: %w", side, err)
			}
			fmt.Fprintf(b.log, "  run %d %-8s %6.0f rows/s (%d rows in %s; client CPU %s, simulator CPU %s)\n",
				rep+1, side, r.rate(), n, r.wall.Round(time.Millisecond), r.usage.cpu().Round(time.Millisecond), simUsage.cpu().Round(time.Millisecond))
			if side == "bare" {
				pair[1] = r.rate()
				bareCPU += r.usage.cpu()
			} else {
				pair[0] = r.rate()
				cpu += r.usage.cpu()
				simCPU += simUsage.cpu()
			}
		}
		rates, bareRates = append(rates, pair[0]), append(bareRates, pair[1])
		ratios = append(ratios, pair[0]/pair[1])
	}
	perRow := func(d time.Duration) string {
		return fmt.Sprintf("%.0f µs", float64(d.Nanoseconds())/1e3/float64(n*sz.reps))
	}
	ratio := median(ratios)
	b.info("throughput tokenreg", "%.0f rows/s", median(rates))
	b.info("throughput bare Go loop", "%.0f rows/s", median(bareRates))
	b.check("throughput ratio", fmt.Sprintf("%.3f", ratio), fmt.Sprintf(">= %.2f", throughputBar), ratio >= throughputBar)
	b.info("  measured as", "median of %d runs", sz.reps)
	b.info("  ratios of the runs", "%s", formatList(ratios, "%.2f"))
	b.info("  workers, rows per run", "%s, %d", workersNote, n)
	b.info("  tokenreg CPU per row", "%s", perRow(cpu))
	b.info("  bare loop CPU per row", "%s", perRow(bareCPU))
	b.info("  simulator CPU per row", "%s", perRow(simCPU))
	return nil
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func formatList(xs []float64, format string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(parts, " ")
}

// bareLoop sends rows registrations of the series the way the simplest Go
// program would: workers goroutines sharing one keep-alive transport, each
// PUTting the JSON body and discarding the answer. Its usage is e2ebench's
// own CPU time over the loop.
func (b *bench) bareLoop(ctx context.Context, base string, rows, series, workers int) (runResult, error) {
	endpoint := base + "/token/registerActiveToken/" + url.PathEscape(b.admin)
	cenToken := client.CenToken(b.admin, b.authToken, b.secretCode)
	tr := &http.Transport{MaxIdleConns: workers, MaxIdleConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 15 * time.Second}
	var next atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	cpu0, begin := selfCPU(), time.Now()
	for range workers {
		g.Go(func() error {
			for {
				i := int(next.Add(1)) - 1
				if i >= rows {
					return nil
				}
				body := make([]byte, 0, 160)
				body = append(body, `{"username":"`...)
				body = appendUsername(body, i)
				body = append(body, `","tokenSn":"`...)
				body = appendPhone(body, series, i)
				body = append(body, `","tokenType":"1","cenToken":"`...)
				body = append(body, cenToken...)
				body = append(body, `"}`...)
				req, err := http.NewRequestWithContext(gctx, http.MethodPut, endpoint, bytes.NewReader(body))
				if err != nil {
					return err
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json")
				resp, err := hc.Do(req)
				if err != nil {
					return err
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil {
					return err
				}
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("bare loop: HTTP %d", resp.StatusCode)
				}
			}
		})
	}
	err := g.Wait()
	r := runResult{rows: rows, wall: time.Since(begin)}
	r.usage.user = selfCPU() - cpu0
	return r, err
}

// pacing drives tokenreg at --rate R --burst 1 against an in-process
// clienttest.Server, whose recorded arrival times show the pace.
func (b *bench) pacing(ctx context.Context, sz sizes) error {
	n, rate := sz.pacing, sz.pacingRate
	input := b.path("pacing.csv")
	if err := writeInput(input, n, n, 2); err != nil {
		return err
	}
	srv := clienttest.NewServer(clienttest.State{Users: usernames(n)},
		clienttest.Options{Admin: b.admin, AuthToken: b.authToken, SecretCode: b.secretCode})
	defer srv.Close()
	timeout := time.Duration(2*float64(n)/rate*float64(time.Second)) + time.Minute
	r, err := b.runTokenreg(ctx, srv.URL, input, n, timeout,
		"--rate", strconv.FormatFloat(rate, 'f', -1, 64), "--burst", "1", "--workers", "8")
	if err != nil {
		return err
	}
	st := srv.Stats()
	times := st.RequestTimes
	if len(times) != n {
		return fmt.Errorf("server saw %d requests, want %d", len(times), n)
	}
	achieved := float64(len(times)-1) / times[len(times)-1].Sub(times[0]).Seconds()
	window := st.MaxInWindow(time.Second)
	b.check("pacing achieved rate", fmt.Sprintf("%.1f req/s", achieved),
		fmt.Sprintf("%.0f ± %.0f%%", rate, 100*pacingTolerance), math.Abs(achieved-rate) <= pacingTolerance*rate)
	b.check("pacing max in 1 s window", strconv.Itoa(window), fmt.Sprintf("<= %.0f", rate+1), float64(window) <= rate+1)
	b.info("  rows, --rate, --burst", "%d, %.0f, 1", n, rate)
	b.info("  tokenreg wall time", "%s", r.wall.Round(time.Millisecond))
	return nil
}

// stray429 compares `tokenreg run --rate 0 --workers 16` against a
// simulator that answers 1% of requests at random with HTTP 429 and
// Retry-After: 1, with the same run against one that does not: a stray 429
// is noise, and the row that waits for its retry must not hold a request
// slot. Both sides run -reps times (at most 3), alternating which goes
// first; the figure is the median ratio.
func (b *bench) stray429(ctx context.Context, sz sizes) error {
	n := sz.stray
	state, input, err := b.writeFiles("stray429", n, 6)
	if err != nil {
		return err
	}
	var ratios, clean, faulty []float64
	var throttled int64
	for rep := range min(sz.reps, 3) {
		sides := []bool{false, true}
		if rep%2 == 1 {
			sides[0], sides[1] = true, false
		}
		var pair [2]float64 // clean, with 429s
		for _, with429 := range sides {
			var flags []string
			if with429 {
				flags = []string{"-faults", "429", "-fault-rate", strconv.FormatFloat(stray429Rate, 'f', -1, 64), "-seed", strconv.Itoa(rep + 1)}
			}
			r, st, _, err := b.simRun(ctx, state, flags, func(url string) (runResult, error) {
				return b.runTokenreg(ctx, url, input, n, 3*time.Minute, "--rate", "0", "--workers", "16")
			})
			if err != nil {
				return err
			}
			n429, err := st.okAfter429s(n)
			if err != nil {
				return err
			}
			side := "no 429s"
			if with429 {
				side = "1% 429s"
				pair[1] = r.rate()
				throttled += n429
			} else {
				pair[0] = r.rate()
			}
			fmt.Fprintf(b.log, "  run %d %-8s %6.0f rows/s (%d rows in %s, %d answered 429)\n", rep+1, side, r.rate(), n, r.wall.Round(time.Millisecond), n429)
		}
		clean, faulty = append(clean, pair[0]), append(faulty, pair[1])
		ratios = append(ratios, pair[1]/pair[0])
	}
	ratio := median(ratios)
	b.info("stray 429s, rows/s without", "%.0f rows/s", median(clean))
	b.info("stray 429s, rows/s with 1%", "%.0f rows/s", median(faulty))
	b.check("stray 429s, ratio", fmt.Sprintf("%.3f", ratio), fmt.Sprintf(">= %.2f", stray429Bar), ratio >= stray429Bar)
	b.info("  --rate 0 --workers 16, rows", "%d, median of %d pairs (%s)", n, len(ratios), formatList(ratios, "%.2f"))
	b.info("  answered 429, all runs", "%d", throttled)
	return nil
}

// rateLimit runs tokenreg at its defaults with --rate 0 against a
// simulator that accepts limitRate requests a second and answers the rest
// 429: the pace must find the limit and stay under it.
func (b *bench) rateLimit(ctx context.Context, sz sizes) error {
	n, limit := sz.limited, sz.limitRate
	state, input, err := b.writeFiles("ratelimit", n, 7)
	if err != nil {
		return err
	}
	timeout := time.Duration(4*float64(n)/limit*float64(time.Second)) + time.Minute
	r, st, _, err := b.simRun(ctx, state, []string{"-rate-limit", strconv.FormatFloat(limit, 'f', -1, 64)}, func(url string) (runResult, error) {
		return b.runTokenreg(ctx, url, input, n, timeout, "--rate", "0")
	})
	if err != nil {
		return err
	}
	n429, err := st.okAfter429s(n)
	if err != nil {
		return err
	}
	share := float64(n429) / float64(st.requests)
	b.check("rate limit, share of 429s", fmt.Sprintf("%.1f%%", 100*share), fmt.Sprintf("<= %.0f%%", 100*limitShareBar), share <= limitShareBar)
	b.info("  --rate 0 vs -rate-limit", "%.0f req/s, %d rows", limit, n)
	b.info("  rows/s achieved", "%.0f rows/s (%d requests, %d answered 429)", r.rate(), st.requests, n429)
	return nil
}

// latency measures how well 64 workers hide a 100 ms server latency.
func (b *bench) latency(ctx context.Context, sz sizes) error {
	n := sz.latency
	state, input, err := b.writeFiles("latency", n, 3)
	if err != nil {
		return err
	}
	r, st, _, err := b.simRun(ctx, state, []string{"-latency", sz.latencyWait.String()}, func(url string) (runResult, error) {
		return b.runTokenreg(ctx, url, input, n, 3*time.Minute, "--rate", "0", "--workers", strconv.Itoa(latencyWorkers))
	})
	if err != nil {
		return err
	}
	if err := st.allOK(n); err != nil {
		return err
	}
	ideal := float64(latencyWorkers) / sz.latencyWait.Seconds()
	b.check("latency hiding", fmt.Sprintf("%.0f rows/s", r.rate()), fmt.Sprintf(">= %.0f", latencyShare*ideal), r.rate() >= latencyShare*ideal)
	b.info("  measured as", "rows / tokenreg wall time")
	b.info("  simulator arrival rate", "%.0f req/s", st.rate)
	b.info("  ideal (workers / latency)", "%.0f rows/s", ideal)
	return nil
}

// memory measures tokenreg's peak RSS over a small and a large input of
// real registrations against one simulator that knows every user.
func (b *bench) memory(ctx context.Context, sz sizes) error {
	state := b.path("memory-state.json")
	if err := writeState(state, sz.memUsers); err != nil {
		return err
	}
	s, err := b.startSim(ctx, state)
	if err != nil {
		return err
	}
	defer s.kill()
	var runs []runResult
	for i, n := range []int{sz.memSmall, sz.memLarge} {
		input := b.path("memory-%d.csv", n)
		if err := writeInput(input, n, sz.memUsers, 4+i); err != nil {
			return err
		}
		r, err := b.runTokenreg(ctx, s.url, input, n, 8*time.Minute, "--rate", "0", "--workers", "16")
		if err != nil {
			return err
		}
		runs = append(runs, r)
		fmt.Fprintf(b.log, "  %d rows: peak RSS %.1f MB, %.0f rows/s, CPU %s\n", n, mb(r.usage.peakRSS), r.rate(), r.usage.cpu().Round(time.Millisecond))
	}
	st, err := s.stop()
	if err != nil {
		return err
	}
	if err := st.allOK(sz.memSmall + sz.memLarge); err != nil {
		return err
	}
	small, large := runs[0], runs[1]
	b.info(fmt.Sprintf("memory peak RSS %s rows", count(small.rows)), "%.1f MB", mb(small.usage.peakRSS))
	name := fmt.Sprintf("memory peak RSS %s rows", count(large.rows))
	value := fmt.Sprintf("%.1f MB", mb(large.usage.peakRSS))
	if large.rows >= memoryBarRows {
		b.check(name, value, fmt.Sprintf("< %.0f MB", mb(memoryBar)), large.usage.peakRSS < memoryBar)
	} else {
		b.info(name, "%s (the bar is for %s rows)", value, count(memoryBarRows))
	}
	growth := float64(large.usage.peakRSS-small.usage.peakRSS) / float64(large.rows-small.rows)
	b.info("  growth per row", "%.1f bytes", growth)
	b.info(fmt.Sprintf("  rate at %s rows", count(large.rows)), "%.0f rows/s", large.rate())
	return nil
}

func mb(bytes int64) float64 { return float64(bytes) / 1e6 }

// count formats 1000000 as 1,000,000.
func count(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
