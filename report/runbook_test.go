package report

import (
	"os"
	"strings"
	"testing"
)

// The README's runbook tables are exactly Runbook and StatusRunbook: the
// report shows the same actions the operator reads in the README.
func TestRunbookMatchesREADME(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## Runbook")
	if !ok {
		t.Fatal("README has no '## Runbook' section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var codes, statuses []RunbookEntry
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| code |") || strings.HasPrefix(line, "| rows |") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		switch len(cells) {
		case 4:
			codes = append(codes, RunbookEntry{cells[0], cells[1], cells[2], cells[3]})
		case 3:
			statuses = append(statuses, RunbookEntry{Code: cells[0], Meaning: cells[1], Action: cells[2]})
		default:
			t.Errorf("README runbook row with %d cells: %s", len(cells), line)
		}
	}
	compare := func(name string, got, want []RunbookEntry) {
		if len(got) != len(want) {
			t.Errorf("README %s table has %d rows, %s has %d", name, len(got), name, len(want))
		}
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Errorf("README %s row %d:\n  %q\nwant (report/runbook.go):\n  %q", name, i+1, got[i], want[i])
			}
		}
	}
	compare("Runbook", codes, Runbook)
	compare("StatusRunbook", statuses, StatusRunbook)
}
