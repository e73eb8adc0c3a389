package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tokenreg/tokenreg/batch"
	"github.com/tokenreg/tokenreg/internal/safefile"
	"github.com/tokenreg/tokenreg/report"
)

// maxMergeLine bounds the line numbers merge indexes (a few bytes each):
// far beyond any inventory, it keeps a corrupt line number from asking for
// gigabytes.
const maxMergeLine = 1 << 27

// runMerge is `tokenreg merge`: it combines the results of the N shards of
// one input (--shard K/N) into one result file with one row per input line
// and one summary.
//
// Every shard's result holds a row for every line of the input: its own rows
// with their outcome, the others as skipped placeholders. A row belongs to
// the shard its username hashes to (batch.Shard, SPEC §5): each file's
// shard is the shard of its own rows (every row but the placeholders, whose
// message starts with report.OtherShardPrefix), a file with none gets the
// one shard left, and then from every line the owning shard's row is kept.
// The files are refused, before anything is written, unless they are the
// results of one input: every file has a row for every line, the line's
// username, tokenSn and tokenType agree in all of them, each row of a file
// belongs to its shard unless it is a placeholder, no kept row is one, and
// no two files are one shard.
func runMerge(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("tokenreg merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "-", "merged result CSV (- for stdout)")
	summary := fs.String("summary", "", "also write the merged summary as JSON to `FILE`")
	force := fs.Bool("force", false, "replace an existing --out file")
	fs.Usage = func() { fmt.Fprint(stderr, mergeUsage); fs.PrintDefaults() }
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if len(files) == 0 {
		fs.Usage()
		return exitUsage, usagef("merge takes the result files of every shard of one input")
	}
	others := []namedPath{{"--out", *out}}
	for _, f := range files {
		others = append(others, namedPath{"the result " + f, f})
	}
	if err := checkReports([]namedPath{{"--summary", *summary}}, others); err != nil {
		return exitUsage, usagef("%v; nothing was written", err)
	}
	if *out != "-" {
		for _, f := range files {
			if sameFile(f, *out) {
				return exitUsage, usagef("--out %s is one of the results to merge: write the merged result to a new file", *out)
			}
		}
		// Refused early, before the files are read; the commit below is
		// what makes sure, in one step with putting the file there.
		if _, err := os.Lstat(*out); err == nil && !*force {
			return exitUsage, outExists(*out)
		}
	}

	for _, f := range files {
		if err := resultInUse(f); err != nil {
			return exitUsage, err
		}
	}
	m := newMerger(files)
	if err := m.assignShards(ctx); err != nil {
		return exitUsage, err
	}
	if *out == "-" {
		// stdout cannot be taken back: check every row first, so that a
		// refused merge writes nothing there either (`merge ... > all.csv`).
		if err := m.merge(ctx, func(report.Result) error { return nil }); err != nil {
			return exitUsage, err
		}
		clear(m.kept)
		clear(m.count)
	}
	sum := report.NewSummary(m.start)
	sum.ResultPath = *out
	var w io.Writer = stdout
	var tmp *safefile.Atomic
	if *out != "-" {
		// Written beside --out and put in place at the end (safefile's
		// atomic writer, mode 0600 as run makes a result: usernames and
		// phone numbers are personal data): a refused merge leaves nothing
		// behind and never a half-merged result. Without --force, an --out
		// that appeared meanwhile is refused in the same step.
		if tmp, err = safefile.Create(*out, 0o600, safefile.Options{Replace: *force}); err != nil {
			return exitUsage, usagef("--out: %v", err)
		}
		defer tmp.Close()
		w = bufio.NewWriterSize(tmp, 256<<10)
	}
	rw := report.NewWriter(w)
	if err := rw.WriteHeader(); err != nil {
		return exitUsage, fmt.Errorf("write %s: %w", *out, err)
	}
	if err := m.merge(ctx, func(r report.Result) error {
		sum.Add(r)
		return rw.Write(r)
	}); err != nil {
		return exitUsage, err
	}
	sum.Finish(m.end)
	if sum.Rows() > sum.Count(report.StatusOK)+sum.Count(report.StatusSkipped)+sum.Count(report.StatusValid) {
		sum.ExitCode = exitNotAllOK // what one run over the whole input would have ended with
	}
	if tmp != nil {
		if err := w.(*bufio.Writer).Flush(); err != nil {
			return exitUsage, fmt.Errorf("write %s: %w", *out, err)
		}
		if err := tmp.Commit(); errors.Is(err, os.ErrExist) && !*force {
			return exitUsage, outExists(*out)
		} else if err != nil {
			return exitUsage, fmt.Errorf("write %s: %w", *out, err)
		}
	}
	if err := sum.WriteText(stderr); err != nil {
		return exitUsage, err
	}
	fmt.Fprintf(stderr, "merged %d shard results: %d lines\n", len(files), sum.Rows())
	if *summary != "" {
		data, err := sum.JSON()
		if err == nil {
			err = report.WriteFileAtomic(*summary, data, 0o600) // it quotes server messages, as run's does
		}
		if err != nil {
			return exitUsage, fmt.Errorf("write --summary %s: %w", *summary, err)
		}
	}
	return exitOK, nil
}

// merger holds what merge learns about the files and, per input line, what
// it needs to check them: a few bytes a line, nothing per row.
type merger struct {
	files []string
	shard []int // the shard of each file, -1 until known
	seed  maphash.Seed

	start, end time.Time // earliest first attempt, latest finished_at

	fields []uint64 // per line: hash of username, tokenSn, tokenType (0: none yet)
	kept   []uint64 // per line: hash of the kept row (0: none yet)
	count  []uint16 // per line: files that have a row for it
	inFile []uint64 // per line, one bit: seen in the file being read
}

func newMerger(files []string) *merger {
	m := &merger{files: files, shard: make([]int, len(files)), seed: maphash.MakeSeed()}
	for i := range m.shard {
		m.shard[i] = -1
	}
	return m
}

// owner is the shard a row belongs to among n (SPEC §5: by username, a row
// without one to shard 0). It asks batch.Shard, the one place that decides.
func owner(username string, n int) int {
	for k := 0; k < n; k++ {
		if (batch.Shard{K: k, N: n}).Owns(username) {
			return k
		}
	}
	return 0
}

// decided reports whether a shard's run wrote this row as its own: every
// row but another shard's placeholder (skipped, report.OtherShardPrefix).
// A row skipped for its own reasons (a duplicate, in the ledger) is the
// shard's own: a nightly shard whose rows are all in the ledger sends
// nothing, and its file still shows its shard.
func decided(r report.Result) bool {
	return r.Status != report.StatusSkipped || !strings.HasPrefix(r.Message, report.OtherShardPrefix)
}

// assignShards reads every file once: each file's shard, and the time span
// of the runs for the summary.
func (m *merger) assignShards(ctx context.Context) error {
	n := len(m.files)
	if n > 1<<16-1 {
		return usagef("merge: %d files: at most 65535 shards", n)
	}
	holder := make(map[int]int) // shard -> file
	for i, path := range m.files {
		err := readResultFile(ctx, path, func(r report.Result) error {
			if first := r.FinishedAt.Add(-r.Duration); !r.FinishedAt.IsZero() && (m.start.IsZero() || first.Before(m.start)) {
				m.start = first
			}
			if r.FinishedAt.After(m.end) {
				m.end = r.FinishedAt
			}
			if m.shard[i] < 0 && decided(r) {
				m.shard[i] = owner(r.Username, n)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if k := m.shard[i]; k >= 0 {
			if j, dup := holder[k]; dup {
				return usagef("merge: %s and %s both hold the rows of shard %d of %d: %s", m.files[j], path, k, n, everyShard(n))
			}
			holder[k] = i
		}
	}
	var unknown []int
	for i, k := range m.shard {
		if k < 0 {
			unknown = append(unknown, i)
		}
	}
	switch len(unknown) {
	case 0:
	case 1:
		for k := 0; k < n; k++ {
			if _, ok := holder[k]; !ok {
				m.shard[unknown[0]] = k
			}
		}
	default:
		names := make([]string, len(unknown))
		for j, i := range unknown {
			names[j] = m.files[i]
		}
		return usagef("merge: cannot tell which shard each of %s is: every row of them is another shard's placeholder, so none shows its shard; merge the other results, and keep these as they are (their shards own no line)", strings.Join(names, ", "))
	}
	return nil
}

// merge reads the files again, checks every row, and hands each line's
// kept row to keep, file after file (each in its own order: sort by line to
// read the result in input order). It returns the first inconsistency.
func (m *merger) merge(ctx context.Context, keep func(report.Result) error) error {
	n := len(m.files)
	var placeholder error // a kept row that only holds another shard's place
	for i, path := range m.files {
		clear(m.inFile)
		k := m.shard[i]
		err := readResultFile(ctx, path, func(r report.Result) error {
			l := r.Line
			if l < 1 || l > maxMergeLine {
				return usagef("merge: %s: line %d is out of range: is it a result file?", path, l)
			}
			m.grow(l)
			f := m.hashFields(r)
			switch {
			case m.fields[l] == 0:
				m.fields[l] = f
			case m.fields[l] != f:
				return usagef("merge: %s: line %d (%s, %s, %s) differs from the same line in %s: the files are results of different inputs", path, l, r.Username, r.TokenSn, r.TokenType, m.otherThan(i))
			}
			own := owner(r.Username, n) == k
			if !own && decided(r) {
				return usagef("merge: %s: line %d is %s for user %q of shard %d, in the result of shard %d of %d: %s", path, l, r.Status, r.Username, owner(r.Username, n), k, n, everyShard(n))
			}
			if own && placeholder == nil && r.Status == report.StatusSkipped && strings.HasPrefix(r.Message, report.OtherShardPrefix) {
				// The run that wrote this file left the line to another
				// shard: that shard's result is not among the files (the
				// file was written for another N), and the merge would
				// present a line never sent as skipped. Reported once every
				// file is read, if nothing more precise turned up.
				placeholder = usagef("merge: %s: line %d was left to another shard by the run that wrote it (%s), and no result of that shard is given: merge needs the result of every shard of one input, each once", path, l, r.Message)
			}
			if m.inFile[l/64]&(1<<(l%64)) != 0 {
				// A line twice in one file: the same row again is harmless,
				// two different rows leave the outcome unknown.
				if own && m.kept[l] != m.hashRow(r) {
					return usagef("merge: %s has two different rows for line %d: keep one (tokenreg repair keeps the last of each line), then merge", path, l)
				}
				return nil
			}
			m.inFile[l/64] |= 1 << (l % 64)
			m.count[l]++
			if !own {
				return nil
			}
			m.kept[l] = m.hashRow(r)
			return keep(r)
		})
		if err != nil {
			return err
		}
	}
	for l, c := range m.count {
		if c != 0 && int(c) != n {
			return usagef("merge: line %d has a row in only %d of the %d results: a shard's run did not finish (run it again with --resume), or the files are not the results of one input", l, c, n)
		}
	}
	return placeholder
}

// everyShard is the advice when the files are not N shards of one run.
func everyShard(n int) string {
	return fmt.Sprintf("merge needs the result of every shard of one input, each once (%d files for --shard K/%d)", n, n)
}

func (m *merger) grow(l int) {
	if l < len(m.fields) {
		return
	}
	size := max(2*len(m.fields), l+1, 1024)
	m.fields = append(m.fields, make([]uint64, size-len(m.fields))...)
	m.kept = append(m.kept, make([]uint64, size-len(m.kept))...)
	m.count = append(m.count, make([]uint16, size-len(m.count))...)
	m.inFile = append(m.inFile, make([]uint64, size/64+1-len(m.inFile))...)
}

func (m *merger) otherThan(i int) string {
	if i == 0 {
		return "another result"
	}
	return m.files[0] + " or a later result"
}

// hashFields identifies a line's input: the same in every shard's result.
// It is never 0 (0 marks a line not seen yet).
func (m *merger) hashFields(r report.Result) uint64 {
	var h maphash.Hash
	h.SetSeed(m.seed)
	for _, s := range []string{r.Username, r.TokenSn, r.TokenType} {
		h.WriteString(s)
		h.WriteByte(0)
	}
	return h.Sum64() | 1
}

// hashRow identifies a whole row.
func (m *merger) hashRow(r report.Result) uint64 {
	var h maphash.Hash
	h.SetSeed(m.seed)
	for _, s := range []string{r.Username, r.TokenSn, r.TokenType, string(r.Status), r.Code, r.Message,
		strconv.Itoa(r.Attempts), strconv.FormatInt(int64(r.Duration), 10), r.FinishedAt.String()} {
		h.WriteString(s)
		h.WriteByte(0)
	}
	return h.Sum64() | 1
}

// readResultFile streams a result file's rows to fn. A row that cannot be
// read is an error with the file and line: merge writes nothing it cannot
// vouch for.
func readResultFile(ctx context.Context, path string, fn func(report.Result) error) error {
	f, err := os.Open(path)
	if err != nil {
		return usagef("merge: %v", err)
	}
	defer f.Close()
	rd, err := report.NewReader(f)
	if err != nil {
		return usagef("merge: %s: %v", path, err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return usagef("merge: %s: %v (a torn last line? finish the shard's run with --resume first)", path, err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
}

// outExists refuses an existing --out.
func outExists(path string) error {
	return usagef("--out %s already exists: use --force to replace it", path)
}

// sameFile reports whether a and b name one existing file.
func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

const mergeUsage = `Usage: tokenreg merge RESULT... [--out MERGED.csv [--force]] [--summary FILE]

Combines the results of the N shards of one input (tokenreg run --shard K/N,
one file per K) into one result with one row per input line, each line's row
taken from the shard that owns it, and one summary (stderr, and --summary as
JSON). The result goes to --out, put in place whole at the end (an existing
--out is refused, even one created while merge ran, unless --force), or to
stdout.

Refused, before anything is written, unless the files are the results of one
input: every file must have a row for every line, with the same username,
tokenSn and tokenType; each file's sent, invalid or valid rows must belong to
its shard; every shard must be given once. A shard whose run stopped early
(interrupted, aborted, crashed) is missing lines: finish it with --resume.

Exit 0 when merged (the summary's exit_code says whether every row is ok),
2 when refused.

Example:
  tokenreg merge results/shard-*.result.csv --out all.result.csv --summary all.summary.json

Flags:
`
