package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client/clienttest"
)

// TestReportFileThatCannotBeWritten: a --summary, --metrics or --html that
// could not be written is refused before anything is sent when its
// directory cannot take it, and makes the run exit 2 when it fails at the
// end — a cron job must not read an old summary as the story of this run.
func TestReportFileThatCannotBeWritten(t *testing.T) {
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", okInput)

	for _, flag := range []string{"--summary", "--metrics", "--html"} {
		t.Run("refused at the start "+flag, func(t *testing.T) {
			s := clienttest.NewServer(testState(), clienttest.Options{})
			defer s.Close()
			out := filepath.Join(t.TempDir(), "r.csv")
			code, _, stderr := cli{env: demoEnv(s.URL)}.run(t, context.Background(), "", "run", in, "--out", out, flag, filepath.Join(dir, "no-such-dir", "x"))
			if code != exitUsage || !strings.Contains(stderr, flag+" ") || !strings.Contains(stderr, "nothing was sent") {
				t.Errorf("exit %d, stderr %q; want %d naming %s and that nothing was sent", code, stderr, exitUsage, flag)
			}
			if n := s.Stats().Requests; n != 0 {
				t.Errorf("%d requests sent, want none", n)
			}
		})
	}

	t.Run("failing at the end", func(t *testing.T) {
		// The server answers slowly; once it has a request, a directory
		// takes the summary's name, so the rename at the end fails.
		s := clienttest.NewServer(testState(), clienttest.Options{Latency: 300 * time.Millisecond})
		defer s.Close()
		out := filepath.Join(t.TempDir(), "r.csv")
		summary := filepath.Join(t.TempDir(), "s.json")
		done := make(chan struct{})
		var code int
		var stderr string
		go func() {
			defer close(done)
			code, _, stderr = cli{env: demoEnv(s.URL)}.run(t, context.Background(), "", "run", in, "--out", out, "--rate", "0", "--summary", summary)
		}()
		for s.Stats().Requests == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		if err := os.MkdirAll(filepath.Join(summary, "taken"), 0o755); err != nil {
			t.Fatal(err)
		}
		<-done
		if code != exitUsage || !strings.Contains(stderr, "could not be written") || !strings.Contains(stderr, "--summary "+summary) {
			t.Errorf("exit %d, stderr %q; want %d saying --summary could not be written", code, stderr, exitUsage)
		}
		if got := readResults(t, out); len(got) != 2 {
			t.Errorf("the result has %d rows, want 2: it is complete", len(got))
		}
	})
}
