package report

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tokenreg/tokenreg/internal/safetext"
)

// OtherShardPrefix starts the message of a row that --shard K/N left to
// another shard (SPEC §5). Such a row only holds the line's place: when
// several results are merged, the owning shard's row counts instead.
// batch writes it with this constant and report reads it back: one wording.
const OtherShardPrefix = "another shard's row"

// Bounds that keep a Page's memory constant whatever the size of the
// results it reads.
const (
	// maxMessage is the most runes of a server message a Page keeps.
	maxMessage = 300
	// maxRowErrors is how many unreadable rows a Page quotes.
	maxRowErrors = 10
	// timeBuckets is the number of bars of the throughput chart.
	timeBuckets = 120
	// maxAttempts is the last bar of the attempts chart ("10 or more").
	maxAttempts = 10
)

// latencyBounds are the upper bounds (exclusive) of the latency histogram's
// buckets; the last bucket holds everything above.
var latencyBounds = []time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second,
	30 * time.Second, time.Minute,
}

// ResultSource is one result file for a Page, with the summary of the run
// that wrote it when there is one (--summary), which gives the page the
// run's elapsed time, rate, input SHA-256, version and parameters.
type ResultSource struct {
	Path    string
	Summary *SummaryJSON
}

// PageOptions shape a Page. The zero value of each field is its default.
type PageOptions struct {
	// Title heads the page; default "tokenreg report".
	Title string
	// RowsPerGroup is how many rows of each needs-action group the page
	// lists; the others are counted. Default 25.
	RowsPerGroup int
	// Version is the version of the program making the report.
	Version string
	// Now is the clock (the page says when it was made); default time.Now.
	Now func() time.Time
}

// Page is the HTML report of one or more result files (SPEC §3 `tokenreg
// report`), built by streaming the rows once: it keeps counters, fixed-size
// histograms and a bounded list of rows per needs-action group, so its
// memory does not grow with the rows (merging several files keeps 8 bytes
// per row of every file but the first; see BuildPage).
//
// A Page is not safe for concurrent use.
type Page struct {
	opts  PageOptions
	made  time.Time
	files []*fileTally

	rows, sent int
	byStatus   map[Status]int
	codes      map[string]*codeTally
	groups     map[string]*group

	throughput timeHistogram
	latency    []int // len(latencyBounds)+1
	latSum     time.Duration
	latMax     time.Duration
	attempts   []int // index = attempts, the last holds maxAttempts and more

	rowErrors []string
}

// fileTally is what the page knows about one result file.
type fileTally struct {
	path    string
	summary *SummaryJSON
	// rows counts the file's rows that the page counts; superseded and
	// otherShard those it left out, unreadable those it could not read.
	rows, sent, superseded, otherShard, unreadable int
	// first is the earliest first attempt (finished_at - duration) and
	// last the latest finished_at of the file's rows.
	first, last time.Time
}

// codeTally counts the rows the server answered with one code.
type codeTally struct {
	code, message string
	count         int
	status        Status
}

// group is the rows that need one action: a failed code, or the error or
// invalid rows.
type group struct {
	key    string // the code, or the status for rows with no code
	status Status
	entry  RunbookEntry
	count  int
	rows   []groupRow
}

type groupRow struct {
	file int // index in Page.files
	r    Result
}

// BuildPage reads the result files and returns their report. The sources
// are in the order the runs happened: a run, then its retries (shards in
// any order). The merge rule:
//
//   - A row of a later file supersedes every row of an earlier file with
//     the same username, tokenType and tokenSn (a retry's line numbers
//     point into the result it retried, so lines cannot be matched), except
//     an earlier skipped row, which stands (a duplicate, a ledger hit: it
//     was never sent, so no retry replaces it).
//   - When several files are given, a row that --shard left to another
//     shard is not counted: the owning shard's file holds the real row.
//
// To apply the first rule in one pass, the files are read from the last to
// the first, remembering a 64-bit hash of each row of the later files:
// 8 bytes a row of every file but the first. A row that cannot be read is
// counted and quoted, and reading goes on; any other read error stops.
func BuildPage(ctx context.Context, sources []ResultSource, opts PageOptions) (*Page, error) {
	if opts.Title == "" {
		opts.Title = "tokenreg report"
	}
	if opts.RowsPerGroup <= 0 {
		opts.RowsPerGroup = 25
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p := &Page{
		opts:     opts,
		made:     opts.Now(),
		byStatus: make(map[Status]int),
		codes:    make(map[string]*codeTally),
		groups:   make(map[string]*group),
		latency:  make([]int, len(latencyBounds)+1),
		attempts: make([]int, maxAttempts+1),
	}
	for _, src := range sources {
		p.files = append(p.files, &fileTally{path: src.Path, summary: src.Summary})
	}
	seed := maphash.MakeSeed()
	var later []uint64 // sorted hashes of the rows of the files read so far
	for i := len(p.files) - 1; i >= 0; i-- {
		keep := i > 0 // the first file's keys are never looked up
		var keys []uint64
		err := p.readFile(ctx, i, func(r Result) {
			ft := p.files[i]
			if len(p.files) > 1 && r.Status == StatusSkipped && strings.HasPrefix(r.Message, OtherShardPrefix) {
				ft.otherShard++
				return
			}
			if keep || len(later) > 0 {
				k := rowKey(seed, r)
				if r.Status != StatusSkipped && len(later) > 0 {
					if _, found := slices.BinarySearch(later, k); found {
						ft.superseded++
						return
					}
				}
				if keep {
					keys = append(keys, k)
				}
			}
			p.add(i, r)
		})
		if err != nil {
			return nil, err
		}
		if len(keys) > 0 {
			later = append(later, keys...)
			slices.Sort(later)
			later = slices.Compact(later)
		}
	}
	return p, nil
}

// rowKey identifies a registration across result files.
func rowKey(seed maphash.Seed, r Result) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	h.WriteString(r.Username)
	h.WriteByte(0)
	h.WriteString(r.TokenType)
	h.WriteByte(0)
	h.WriteString(r.TokenSn)
	return h.Sum64()
}

// readFile streams file i's rows to fn, counting its sent rows and times.
func (p *Page) readFile(ctx context.Context, i int, fn func(Result)) error {
	ft := p.files[i]
	f, err := os.Open(ft.path)
	if err != nil {
		return err
	}
	defer f.Close()
	rd, err := NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", ft.path, err)
	}
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		r, err := rd.Read()
		if err == io.EOF {
			return nil
		}
		if rowErr, ok := errors.AsType[*RowError](err); ok {
			ft.unreadable++
			if len(p.rowErrors) < maxRowErrors {
				p.rowErrors = append(p.rowErrors, clip(fmt.Sprintf("%s %s", ft.path, rowErr)))
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", ft.path, err)
		}
		if r.Attempts > 0 {
			ft.sent++
		}
		if !r.FinishedAt.IsZero() {
			if start := r.FinishedAt.Add(-r.Duration); ft.first.IsZero() || start.Before(ft.first) {
				ft.first = start
			}
			if r.FinishedAt.After(ft.last) {
				ft.last = r.FinishedAt
			}
		}
		fn(r)
	}
}

// add counts one row of file i.
func (p *Page) add(i int, r Result) {
	ft := p.files[i]
	ft.rows++
	p.rows++
	p.byStatus[r.Status]++
	if r.Code != "" {
		c := p.codes[r.Code]
		if c == nil {
			// As the summary counts them: the first MaxCodes codes one by
			// one, the rest together.
			key := r.Code
			if len(p.codes) >= MaxCodes {
				key = OtherCode
			}
			if c = p.codes[key]; c == nil {
				c = &codeTally{code: key, message: clip(r.Message), status: r.Status}
				if key == OtherCode {
					c.message = fmt.Sprintf("more than %d distinct codes; see the result file", MaxCodes)
				}
				p.codes[key] = c
			}
		}
		c.count++
	}
	if r.Attempts > 0 {
		p.sent++
		p.attempts[min(r.Attempts, maxAttempts)]++
		b, _ := slices.BinarySearch(latencyBounds, r.Duration+1)
		p.latency[b]++
		p.latSum += r.Duration
		p.latMax = max(p.latMax, r.Duration)
		if !r.FinishedAt.IsZero() {
			p.throughput.add(r.FinishedAt)
		}
	}
	if !needsAction(r.Status) {
		return
	}
	// Groups of codes and of statuses apart, whatever a server calls its
	// codes.
	key, mapKey := string(r.Status), "status "+string(r.Status)
	if r.Code != "" {
		key = r.Code
		if c := p.codes[key]; c == nil || c.code != key {
			key = OtherCode
		}
		mapKey = "code " + key
	}
	g := p.groups[mapKey]
	if g == nil {
		g = &group{key: key, status: r.Status, entry: RunbookFor(r.Status, r.Code)}
		if r.Code != "" && key == OtherCode {
			g.entry = RunbookFor(r.Status, "(other)") // not a code: the "other" entry
		}
		p.groups[mapKey] = g
	}
	g.count++
	if len(g.rows) < p.opts.RowsPerGroup {
		// Only these few rows are kept; their text is shown as the
		// summary shows server text (issue 16), and cut short.
		r.Username, r.TokenSn, r.TokenType = clip(r.Username), clip(r.TokenSn), clip(r.TokenType)
		r.Code, r.Message = clip(r.Code), clip(r.Message)
		g.rows = append(g.rows, groupRow{file: i, r: r})
	}
}

// needsAction reports whether an operator must do something about a row
// with status st before it can succeed.
func needsAction(st Status) bool {
	return st == StatusFailed || st == StatusError || st == StatusInvalid
}

// clip makes text from a result file or a server fit for the page: the
// one sanitiser (control and invisible format characters shown escaped,
// as everywhere tokenreg prints server text), then cut to maxMessage runes
// so that one server's essay cannot grow the page.
func clip(s string) string {
	s = safetext.Sanitize(s)
	if utf8.RuneCountInString(s) <= maxMessage {
		return s
	}
	n := 0
	for i := range s {
		if n == maxMessage {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// sortedCodes returns the codes by count, most first, then by code.
func (p *Page) sortedCodes() []*codeTally {
	out := make([]*codeTally, 0, len(p.codes))
	for _, c := range p.codes {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *codeTally) int {
		if c := cmp.Compare(b.count, a.count); c != 0 {
			return c
		}
		return cmp.Compare(a.code, b.code)
	})
	return out
}

// sortedGroups returns the needs-action groups, largest first, each with
// its rows in file and line order.
func (p *Page) sortedGroups() []*group {
	out := make([]*group, 0, len(p.groups))
	for _, g := range p.groups {
		slices.SortFunc(g.rows, func(a, b groupRow) int {
			if c := cmp.Compare(a.file, b.file); c != 0 {
				return c
			}
			return cmp.Compare(a.r.Line, b.r.Line)
		})
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b *group) int {
		if c := cmp.Compare(b.count, a.count); c != 0 {
			return c
		}
		return cmp.Compare(a.key, b.key)
	})
	return out
}

// span is when the results' runs began and ended: from the summaries where
// there are some, from the rows' times otherwise.
func (ft *fileTally) span() (start, end time.Time) {
	start, end = ft.first, ft.last
	if s := ft.summary; s != nil {
		if t, err := time.Parse(time.RFC3339Nano, s.StartedAt); err == nil {
			start = t
		}
		if t, err := time.Parse(time.RFC3339Nano, s.FinishedAt); err == nil {
			end = t
		}
	}
	return start, end
}

// elapsed and rate are the file's run time and achieved rate: the
// summary's, or from the rows' times.
func (ft *fileTally) elapsed() time.Duration {
	if ft.summary != nil && ft.summary.FinishedAt != "" {
		return time.Duration(ft.summary.ElapsedSeconds * float64(time.Second))
	}
	return ft.last.Sub(ft.first)
}

func (ft *fileTally) rate() float64 {
	if ft.summary != nil && ft.summary.FinishedAt != "" {
		return ft.summary.RatePerSecond
	}
	if e := ft.elapsed().Seconds(); e > 0 {
		return float64(ft.sent) / e
	}
	return 0
}

// timeHistogram counts events in timeBuckets buckets of equal width that
// widen (doubling) to take in whatever time comes: fixed memory for any
// span.
type timeHistogram struct {
	start time.Time
	width time.Duration
	n     [timeBuckets]int
	total int
}

func (h *timeHistogram) add(t time.Time) {
	if h.total == 0 {
		h.width = 10 * time.Millisecond
		h.start = t.Truncate(h.width)
	}
	for t.Before(h.start) {
		// Double the width and move the start back by the old range, so
		// the old buckets fill the upper half.
		var n [timeBuckets]int
		for i, c := range h.n {
			n[timeBuckets/2+i/2] += c
		}
		h.start = h.start.Add(-timeBuckets * h.width)
		h.width *= 2
		h.n = n
	}
	for t.Sub(h.start) >= timeBuckets*h.width {
		var n [timeBuckets]int
		for i, c := range h.n {
			n[i/2] += c
		}
		h.width *= 2
		h.n = n
	}
	h.n[t.Sub(h.start)/h.width]++
	h.total++
}

// used returns the index range [lo, hi) of the buckets between the first
// and the last non-empty one.
func (h *timeHistogram) used() (lo, hi int) {
	lo, hi = -1, 0
	for i, c := range h.n {
		if c > 0 {
			if lo < 0 {
				lo = i
			}
			hi = i + 1
		}
	}
	if lo < 0 {
		return 0, 0
	}
	return lo, hi
}
