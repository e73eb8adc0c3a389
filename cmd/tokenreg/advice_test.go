package main

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenreg/tokenreg/client/clienttest"
	"github.com/tokenreg/tokenreg/report"
)

// TestUnknownCAAdviceInResult: a server whose certificate comes from a CA
// this machine does not trust fails every row; the row's message says what
// to do, and it is the command, not the client, that names --ca-file.
func TestUnknownCAAdviceInResult(t *testing.T) {
	h := clienttest.NewHandler(testState(), clienttest.Options{})
	defer h.Close()
	s := httptest.NewUnstartedServer(h)
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	defer s.Close()
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", okInput)
	code, _, stderr := cli{env: demoEnv(s.URL + h.BasePath())}.run(t, context.Background(), "", "run", in, "--attempts", "1", "--rate", "0")
	if code != exitNotAllOK {
		t.Fatalf("exit = %d, want %d; stderr:\n%s", code, exitNotAllOK, stderr)
	}
	got := readResults(t, filepath.Join(dir, "in.result.csv"))
	if len(got) == 0 {
		t.Fatal("no result rows")
	}
	for line, r := range got {
		if r.Status != report.StatusError || !strings.Contains(r.Message, "unknown authority") || !strings.Contains(r.Message, "(if the server's certificate comes from a private CA, pass that CA with --ca-file)") {
			t.Errorf("line %d = %s %q, want an error row that says to pass the CA with --ca-file", line, r.Status, r.Message)
		}
	}
}
