package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/tokenreg/tokenreg/internal/csvfile"
	"github.com/tokenreg/tokenreg/internal/safetext"
)

// runStatuses are always reported, zero or not, so that a dashboard or a
// JSON consumer never has to guess whether a missing status means zero.
var runStatuses = []Status{StatusOK, StatusFailed, StatusError, StatusInvalid, StatusSkipped}

// Summary tallies the results of one run for the end-of-run report (SPEC
// §5): rows by status, rows by server code with the server's message, time
// and rate. It is a pure tally: it decides nothing (the circuit breaker and
// the exit code live in batch).
//
// The exported fields are set by the caller and only reported. A Summary is
// not safe for concurrent use: the goroutine that writes the results owns
// it. Create it with NewSummary.
type Summary struct {
	// Input is the input file's name ("-" for stdin).
	Input string
	// InputSHA256 is the lowercase hex SHA-256 of the input, if known.
	InputSHA256 string
	// ResultPath is the result file's name.
	ResultPath string
	// ExitCode is the exit code the run ends with (SPEC §5).
	ExitCode int
	// Interrupted is set when SIGINT/SIGTERM cut the run short.
	Interrupted bool
	// Aborted is why the circuit breaker stopped the run; empty if it did not.
	// It may quote the server: the reports sanitise it.
	Aborted string
	// Limited is set when the run stopped at its --limit (a canary).
	Limited bool
	// Remaining is the number of input rows left without a result row
	// (a canary, an interrupt, an abort): --resume sends them. -1 if
	// unknown (the input is a pipe).
	Remaining int
	// Version is the tokenreg version that ran.
	Version string
	// Parameters are the settings the run was made with (flag name to
	// value; never a secret), for the report.
	Parameters map[string]string

	start, end time.Time
	rows, sent int
	byStatus   map[Status]int
	byCode     map[string]*CodeCount
	lastOK     time.Time
}

// CodeCount is how many rows the server answered with one code, and the
// message it gave the first time. Codes() and the reports give Code and
// Message sanitised (safetext.Sanitize), whatever the rows held.
type CodeCount struct {
	Code    string `json:"code"`
	Count   int    `json:"count"`
	Message string `json:"message"`
}

// NewSummary returns an empty Summary for a run that started at start.
func NewSummary(start time.Time) *Summary {
	return &Summary{
		start:    start,
		byStatus: make(map[Status]int),
		byCode:   make(map[string]*CodeCount),
	}
}

// MaxCodes bounds the distinct server codes a Summary tracks one by one,
// so that a server answering a new code for every row cannot grow it with
// the input; the rows of further codes are counted under OtherCode.
const MaxCodes = 100

// OtherCode is the code under which the rows of codes beyond MaxCodes are
// counted (in the summary and in the metrics).
const OtherCode = "other"

// maxCodeMessage bounds the bytes of a code's first message kept for the
// report; the result file has every message in full.
const maxCodeMessage = 512

// Add counts one result row. Rows with a server code are also counted by
// code; rows that were sent (Attempts > 0) count towards the rate.
func (s *Summary) Add(r Result) {
	s.rows++
	s.byStatus[r.Status]++
	if r.Attempts > 0 {
		s.sent++
	}
	if r.Code != "" {
		if c := s.byCode[r.Code]; c != nil {
			c.Count++
		} else if len(s.byCode) < MaxCodes {
			s.byCode[r.Code] = &CodeCount{Code: r.Code, Count: 1, Message: truncate(r.Message, maxCodeMessage)}
		} else if c := s.byCode[OtherCode]; c != nil {
			c.Count++
		} else {
			s.byCode[OtherCode] = &CodeCount{Code: OtherCode, Count: 1, Message: fmt.Sprintf("more than %d distinct codes; see the result file", MaxCodes)}
		}
	}
	if r.Status == StatusOK && r.FinishedAt.After(s.lastOK) {
		s.lastOK = r.FinishedAt
	}
}

// Finish records when the run ended. Call it once, before the report
// methods; calling it again moves the end.
func (s *Summary) Finish(end time.Time) { s.end = end }

// Rows is the number of rows added.
func (s *Summary) Rows() int { return s.rows }

// Sent is the number of rows added that were sent at least once.
func (s *Summary) Sent() int { return s.sent }

// Count is the number of rows added with status st.
func (s *Summary) Count(st Status) int { return s.byStatus[st] }

// Codes returns the server codes seen, most frequent first (then by code),
// each with its count and first message, both sanitised. The slice is the
// caller's.
func (s *Summary) Codes() []CodeCount {
	out := make([]CodeCount, 0, len(s.byCode))
	for _, c := range s.byCode {
		out = append(out, CodeCount{Code: safetext.Sanitize(c.Code), Count: c.Count, Message: safetext.Sanitize(c.Message)})
	}
	slices.SortFunc(out, func(a, b CodeCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Code, b.Code)
	})
	return out
}

// LastOK is the FinishedAt of the latest ok row; zero if there was none. If
// ok rows carry no FinishedAt it is the end of the run.
func (s *Summary) LastOK() time.Time {
	if s.lastOK.IsZero() && s.byStatus[StatusOK] > 0 {
		return s.end
	}
	return s.lastOK
}

// Elapsed is the time from start to Finish; zero before Finish.
func (s *Summary) Elapsed() time.Duration {
	if s.end.IsZero() {
		return 0
	}
	return s.end.Sub(s.start)
}

// Rate is the achieved rate in rows per second over the rows that were sent
// (the figure to compare with --rate); zero before Finish.
func (s *Summary) Rate() float64 {
	if e := s.Elapsed().Seconds(); e > 0 {
		return float64(s.sent) / e
	}
	return 0
}

// SummaryJSON is the --summary file (SPEC §3). Times are RFC 3339 UTC with
// milliseconds; FinishedAt is empty if the Summary was not finished.
// ByStatus always has the five run statuses, zero or not.
type SummaryJSON struct {
	Input          string            `json:"input"`
	InputSHA256    string            `json:"input_sha256"`
	Result         string            `json:"result"`
	StartedAt      string            `json:"started_at"`
	FinishedAt     string            `json:"finished_at"`
	ElapsedSeconds float64           `json:"elapsed_seconds"`
	Rows           int               `json:"rows"`
	Sent           int               `json:"sent"`
	ByStatus       map[Status]int    `json:"by_status"`
	ByCode         []CodeCount       `json:"by_code"`
	RatePerSecond  float64           `json:"rate_per_second"`
	ExitCode       int               `json:"exit_code"`
	Interrupted    bool              `json:"interrupted"`
	Aborted        string            `json:"aborted"`
	Limited        bool              `json:"limited"`
	Remaining      int               `json:"remaining"`
	Version        string            `json:"version,omitempty"`
	Parameters     map[string]string `json:"parameters,omitempty"`
}

// Snapshot returns the summary as the --summary file reports it.
func (s *Summary) Snapshot() SummaryJSON {
	byStatus := make(map[Status]int, len(runStatuses)+len(s.byStatus))
	for _, st := range runStatuses {
		byStatus[st] = 0
	}
	for st, n := range s.byStatus {
		byStatus[st] = n
	}
	return SummaryJSON{
		Input:          s.Input,
		InputSHA256:    s.InputSHA256,
		Result:         s.ResultPath,
		StartedAt:      formatTime(s.start),
		FinishedAt:     formatTime(s.end),
		ElapsedSeconds: round3(s.Elapsed().Seconds()),
		Rows:           s.rows,
		Sent:           s.sent,
		ByStatus:       byStatus,
		ByCode:         s.Codes(),
		RatePerSecond:  round3(s.Rate()),
		ExitCode:       s.ExitCode,
		Interrupted:    s.Interrupted,
		Aborted:        safetext.Sanitize(s.Aborted),
		Limited:        s.Limited,
		Remaining:      s.Remaining,
		Version:        s.Version,
		Parameters:     s.Parameters,
	}
}

// JSON returns Snapshot as indented JSON with a final newline, ready for
// WriteSummaryFile.
func (s *Summary) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(s.Snapshot(), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// WriteText writes the human summary (for stderr): rows, counts by status,
// counts by code with the server's message, elapsed time, achieved rate and
// the input's SHA-256.
func (s *Summary) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "rows\t%d\n", s.rows)
	for _, st := range runStatuses {
		fmt.Fprintf(tw, "  %s\t%d\n", st, s.byStatus[st])
	}
	var others []Status
	for st := range s.byStatus {
		if !slices.Contains(runStatuses, st) {
			others = append(others, st)
		}
	}
	slices.Sort(others)
	for _, st := range others {
		fmt.Fprintf(tw, "  %s\t%d\n", st, s.byStatus[st])
	}
	for _, c := range s.Codes() {
		fmt.Fprintf(tw, "  code %s\t%-6d %s\n", c.Code, c.Count, c.Message)
	}
	fmt.Fprintf(tw, "elapsed\t%s\n", s.Elapsed().Round(time.Millisecond))
	fmt.Fprintf(tw, "rate\t%.1f rows/s (%d rows sent)\n", s.Rate(), s.sent)
	if s.Input != "" {
		fmt.Fprintf(tw, "input\t%s\n", s.Input)
	}
	if s.InputSHA256 != "" {
		fmt.Fprintf(tw, "input sha256\t%s\n", s.InputSHA256)
	}
	if s.ResultPath != "" {
		fmt.Fprintf(tw, "result\t%s\n", s.ResultPath)
	}
	if s.Interrupted {
		fmt.Fprintf(tw, "interrupted\tyes\n")
	}
	if s.Aborted != "" {
		fmt.Fprintf(tw, "aborted\t%s\n", safetext.Sanitize(s.Aborted))
	}
	if s.Limited {
		fmt.Fprintf(tw, "limited\tyes: stopped at --limit\n")
	}
	switch {
	case s.Remaining > 0:
		fmt.Fprintf(tw, "remaining\t%d rows not sent yet (run the same command with --resume)\n", s.Remaining)
	case s.Remaining < 0:
		fmt.Fprintf(tw, "remaining\tunknown (the input is a pipe)\n")
	}
	return tw.Flush()
}

// truncate cuts s to at most limit bytes, on a character boundary, marking
// the cut with "…".
func truncate(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	cut := limit - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// formatTime formats t as finished_at does; "" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(csvfile.TimeLayout)
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
