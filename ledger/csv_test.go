package ledger

import (
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/report"
)

func TestExportImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := open(t, filepath.Join(t.TempDir(), "src.db"), Options{RunID: "=run"})
	record(t, src,
		reg{"=cmd|' /C calc'!A0", client.OTP, "OTP-1", t1},
		reg{"alice", client.SMS, "+60123456789", t1.Add(time.Second)},
		reg{"bob", client.SMS, "-5+3", t1.Add(2 * time.Second)},
		reg{"@carol", client.OTP, "'=quoted", t1.Add(3 * time.Second)},
		reg{"\tdave", client.OTP, "x,\"y\"\nz", t1.Add(4 * time.Second)},
		reg{"'erin", client.OTP, "'+601", t1.Add(5 * time.Second)},
		reg{"Frank ", client.OTP, " OTP-2", t2},
	)
	var out strings.Builder
	n, err := src.Export(ctx, &out)
	if err != nil || n != 7 {
		t.Fatalf("Export() = %d, %v, want 7, nil", n, err)
	}
	want := "username,tokenSn,tokenType,registered_at,run_id,lost\n" +
		"'=cmd|' /C calc'!A0,OTP-1,OTP,2026-11-28T02:15:00.123Z,'=run,false\n" +
		"alice,+60123456789,SMS,2026-11-28T02:15:01.123Z,'=run,false\n" +
		"bob,'-5+3,SMS,2026-11-28T02:15:02.123Z,'=run,false\n" +
		"'@carol,''=quoted,OTP,2026-11-28T02:15:03.123Z,'=run,false\n" +
		"'\tdave,\"x,\"\"y\"\"\nz\",OTP,2026-11-28T02:15:04.123Z,'=run,false\n" +
		"'erin,'+601,OTP,2026-11-28T02:15:05.123Z,'=run,false\n" +
		"Frank ,\" OTP-2\",OTP,2026-11-29T02:15:00.123Z,'=run,false\n"
	if out.String() != want {
		t.Fatalf("Export() wrote\n%q\nwant\n%q", out.String(), want)
	}

	dst := open(t, filepath.Join(t.TempDir(), "dst.db"), Options{RunID: "import"})
	imported, skipped, err := dst.Import(ctx, strings.NewReader(out.String()), "")
	if err != nil || imported != 7 || skipped != 0 {
		t.Fatalf("Import(export) = %d, %d, %v, want 7, 0, nil", imported, skipped, err)
	}
	var again strings.Builder
	if _, err := dst.Export(ctx, &again); err != nil {
		t.Fatal(err)
	}
	if again.String() != want {
		t.Errorf("Export(Import(Export())) =\n%q\nwant\n%q", again.String(), want)
	}
	wantLookup(t, dst, "=cmd|' /C calc'!A0", client.OTP, "OTP-1", true, t1)
	wantLookup(t, dst, "alice", client.SMS, "+60123456789", true, t1.Add(time.Second))
	wantLookup(t, dst, "Frank ", client.OTP, " OTP-2", true, t2)

	// Importing the same file again adds nothing.
	imported, skipped, err = dst.Import(ctx, strings.NewReader(out.String()), "")
	if err != nil || imported != 0 || skipped != 7 {
		t.Errorf("second Import(export) = %d, %d, %v, want 0, 7, nil", imported, skipped, err)
	}
}

func TestImportResult(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name         string
		csv          string
		wantImported int
		wantSkipped  int
		want         []reg // registrations Import must have made
		wantMissing  []reg // and must not
	}{
		{
			name: "mixed statuses",
			csv: "line,username,tokenSn,tokenType,status,code,message,attempts,duration_ms,finished_at\n" +
				"2,alice,OTP-1,OTP,ok,0,Success,1,12,2026-11-28T02:15:00.123Z\n" +
				"3,bob,OTP-2,OTP,failed,29008,An OTP token already registered to this user,1,9,2026-11-28T02:15:01.000Z\n" +
				"4,carol,60111111111,SMS,error,,timeout,5,15000,2026-11-28T02:15:02.000Z\n" +
				"5,dave,,SMS,invalid,,empty tokenSn,0,0,2026-11-28T02:15:03.000Z\n" +
				"6,erin,OTP-1,OTP,skipped,,duplicate of line 2,0,0,2026-11-28T02:15:04.000Z\n" +
				"7,frank,+60123456789,SMS,ok,0,Success,2,30,2026-11-29T02:15:00.123+08:00\n",
			wantImported: 2,
			wantSkipped:  4,
			want: []reg{
				{"alice", client.OTP, "OTP-1", t1},
				{"frank", client.SMS, "+60123456789", t2.Add(-8 * time.Hour)},
			},
			wantMissing: []reg{
				{"bob", client.OTP, "OTP-2", time.Time{}},
				{"carol", client.SMS, "60111111111", time.Time{}},
				{"erin", client.OTP, "OTP-1", time.Time{}},
			},
		},
		{
			name: "BOM, CRLF, header case and order, blank lines, guards",
			csv: "\ufeffStatus,TOKENTYPE,Token_Sn,UserName,Line,Code,Message\r\n" +
				"\r\n" +
				"OK,2,'=OTP-3,'@grace,2,0,Success\r\n" +
				" ok ,sms,'+60 123,heidi,3,0,Success\r\n",
			wantImported: 2,
			want: []reg{
				{"@grace", client.OTP, "=OTP-3", time.Time{}},
				{"heidi", client.SMS, "+60 123", time.Time{}},
			},
		},
		{
			name: "quote that is not a guard is kept",
			csv: "username,tokenSn,tokenType,status,finished_at\n" +
				"'ivan,'+601,OTP,ok,2026-11-28T02:15:00.123Z\n",
			wantImported: 1,
			want:         []reg{{"'ivan", client.OTP, "'+601", t1}},
		},
		{
			name: "no data rows",
			csv:  "username,tokenSn,tokenType,status,finished_at\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := open(t, filepath.Join(t.TempDir(), "ledger.db"), Options{})
			before := time.Now().Truncate(time.Millisecond)
			imported, skipped, err := l.Import(ctx, strings.NewReader(tt.csv), "seed")
			if err != nil || imported != tt.wantImported || skipped != tt.wantSkipped {
				t.Fatalf("Import() = %d, %d, %v, want %d, %d, nil", imported, skipped, err, tt.wantImported, tt.wantSkipped)
			}
			for _, r := range tt.want {
				at, found, err := l.Lookup(ctx, r.user, r.t, r.sn)
				if err != nil || !found {
					t.Errorf("Lookup(%q, %v, %q) = %v, %t, %v, want found", r.user, r.t, r.sn, at, found, err)
					continue
				}
				// A missing finished_at is the time of the import.
				if r.at.IsZero() && (at.Before(before) || at.After(time.Now())) {
					t.Errorf("Lookup(%q, %v, %q) = %v, want the import's time", r.user, r.t, r.sn, at)
				}
				if !r.at.IsZero() && !at.Equal(r.at) {
					t.Errorf("Lookup(%q, %v, %q) = %v, want %v", r.user, r.t, r.sn, at, r.at)
				}
			}
			for _, r := range tt.wantMissing {
				wantLookup(t, l, r.user, r.t, r.sn, false, time.Time{})
			}
			var b strings.Builder
			if _, err := l.Export(ctx, &b); err != nil {
				t.Fatal(err)
			}
			if got := strings.Count(b.String(), ",seed,false\n"); got != tt.wantImported {
				t.Errorf("Export() has %d rows with run_id seed, want %d:\n%s", got, tt.wantImported, b.String())
			}
		})
	}
}

func TestImportUnparsableTimeIsNow(t *testing.T) {
	ctx := context.Background()
	l := open(t, filepath.Join(t.TempDir(), "ledger.db"), Options{})
	before := time.Now().Truncate(time.Millisecond)
	csv := "username,tokenSn,tokenType,status,finished_at\n" +
		"alice,OTP-1,OTP,ok,yesterday\n" +
		"bob,OTP-2,OTP,ok,\n" +
		"carol,OTP-3,OTP,ok,2026-11-28 02:15:00Z\n"
	if _, _, err := l.Import(ctx, strings.NewReader(csv), ""); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"alice", "bob"} {
		at, found, err := l.Lookup(ctx, user, client.OTP, map[string]string{"alice": "OTP-1", "bob": "OTP-2"}[user])
		if err != nil || !found || at.Before(before) || at.After(time.Now()) {
			t.Errorf("Lookup(%q) = %v, %t, %v, want found at the import's time", user, at, found, err)
		}
	}
	wantLookup(t, l, "carol", client.OTP, "OTP-3", true, time.Date(2026, 11, 28, 2, 15, 0, 0, time.UTC))
}

func TestImportMalformed(t *testing.T) {
	ctx := context.Background()
	const hdr = "line,username,tokenSn,tokenType,status,code,message,attempts,duration_ms,finished_at\n"
	const ok = "2,alice,OTP-1,OTP,ok,0,Success,1,12,2026-11-28T02:15:00.123Z\n"
	tests := []struct {
		name string
		csv  string
		want string
	}{
		{"empty", "", "empty: no header"},
		// A full result header: report.Reader's errors are the import's.
		{"unterminated quote", hdr + ok + "3,\"bob,OTP-2,OTP,ok,0,Success,1,12,\n", "line 3: a quoted field that starts on line 3 is never closed"},
		{"bare quote", hdr + ok + ok + "4,bo\"b,OTP-2,OTP,ok,0,Success,1,12,\n", "line 4: malformed CSV at column 5: bare \""},
		{"torn last line", hdr + ok + "3,bob,OTP-2", "line 3: 3 fields, want 10"},
		{"status with spaces", hdr + ok + "3,bob,OTP-2,OTP, ok ,0,Success,1,12,\n", "line 3: unknown status \" ok \""},
		{"unknown status", hdr + ok + "3,bob,OTP-2,OTP,done,0,Success,1,12,\n", "line 3: unknown status \"done\""},
		{"bad finished_at", hdr + ok + "3,bob,OTP-2,OTP,ok,0,Success,1,12,yesterday\n", "line 3: finished_at \"yesterday\" is not an RFC 3339 time"},
		{"bad line cell", hdr + ok + "x,bob,OTP-2,OTP,ok,0,Success,1,12,\n", "line 3: line \"x\" is not a positive integer"},
		// A hand-made file: the lenient path's own errors.
		{"hand-made unterminated quote", "username,tokenSn,tokenType,status\nalice,OTP-1,OTP,ok\n\"bob,OTP-2,OTP,ok\n", "line 3, column "},
		{"hand-made bare quote", "username,tokenSn,tokenType,status\nalice,OTP-1,OTP,ok\nbo\"b,OTP-2,OTP,ok\n", "line 3, column 3: bare \""},
		{"hand-made torn line", "username,tokenSn,tokenType,status\nalice,OTP-1,OTP,ok\nbob,OTP-2", "line 3: 2 fields, but the header has 4"},
		{"too many fields", hdr + "2,alice,OTP-1,OTP,ok,0,Success,1,12,,extra\n", "line 2: 11 fields"},
		{"unknown token type", hdr + ok + "3,bob,OTP-2,TOTP,ok,0,Success,1,12,\n", "line 3: unknown token type \"TOTP\""},
		{"empty username", hdr + ok + "3,,OTP-2,OTP,ok,0,Success,1,12,\n", "line 3: empty username"},
		{"empty serial", hdr + ok + "3,bob,,OTP,ok,0,Success,1,12,\n", "line 3: empty tokenSn"},
		{"line count after a quoted newline", hdr + "2,\"al\nice\",OTP-1,OTP,ok,0,,1,12,\n3,bob,OTP-2,2FA,ok,0,,1,12,\n", "line 4: unknown token type"},
		{"neither format", "username,tokenSn,tokenType\nalice,OTP-1,OTP\n", "line 1: neither a tokenreg result file"},
		{"missing column", "username,tokenType,status\nalice,OTP,ok\n", "line 1: the header lacks column(s) tokenSn"},
		{"duplicate column", "username,tokenSn,tokenType,status,Status\n", "line 1: column \"Status\" appears twice"},
		{"export with bad type", "username,tokenSn,tokenType,registered_at,run_id\nalice,OTP-1,3,2026-11-28T02:15:00.123Z,r\n", "line 2: unknown token type \"3\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := open(t, filepath.Join(t.TempDir(), "ledger.db"), Options{})
			imported, skipped, err := l.Import(ctx, strings.NewReader(tt.csv), "")
			if err == nil {
				t.Fatalf("Import() = %d, %d, nil, want error %q", imported, skipped, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Import() error = %q, want it to contain %q", err, tt.want)
			}
			if imported != 0 || skipped != 0 {
				t.Errorf("Import() = %d, %d with an error, want 0, 0", imported, skipped)
			}
			// One transaction: the good rows before the bad one are not kept.
			wantLookup(t, l, "alice", client.OTP, "OTP-1", false, time.Time{})
		})
	}
}

func TestImportCancelled(t *testing.T) {
	l := open(t, filepath.Join(t.TempDir(), "ledger.db"), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	csv := "username,tokenSn,tokenType,status\nalice,OTP-1,OTP,ok\n"
	if _, _, err := l.Import(ctx, strings.NewReader(csv), ""); err == nil {
		t.Fatal("Import with a cancelled context = nil error")
	}
	wantLookup(t, l, "alice", client.OTP, "OTP-1", false, time.Time{})
}

func TestLostFlag(t *testing.T) {
	ctx := context.Background()
	l := open(t, filepath.Join(t.TempDir(), "ledger.db"), Options{RunID: "r"})
	if err := l.Record(ctx, "alice", client.OTP, "OTP-1", t1, true); err != nil {
		t.Fatal(err)
	}
	if err := l.Record(ctx, "bob", client.OTP, "OTP-2", t1, false); err != nil {
		t.Fatal(err)
	}
	// A lost-answer success is skipped by later runs like any other.
	wantLookup(t, l, "alice", client.OTP, "OTP-1", true, t1)
	// A later answered success replaces the inference.
	if err := l.Record(ctx, "bob", client.OTP, "OTP-2", t1, true); err != nil {
		t.Fatal(err)
	}
	if err := l.Record(ctx, "carol", client.OTP, "OTP-3", t1, true); err != nil {
		t.Fatal(err)
	}
	if err := l.Record(ctx, "carol", client.OTP, "OTP-3", t2, false); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if _, err := l.Export(ctx, &out); err != nil {
		t.Fatal(err)
	}
	want := "username,tokenSn,tokenType,registered_at,run_id,lost\n" +
		"alice,OTP-1,OTP,2026-11-28T02:15:00.123Z,r,true\n" +
		"bob,OTP-2,OTP,2026-11-28T02:15:00.123Z,r,false\n" +
		"carol,OTP-3,OTP,2026-11-29T02:15:00.123Z,r,false\n"
	if out.String() != want {
		t.Fatalf("Export() =\n%s\nwant\n%s", out.String(), want)
	}

	dst := open(t, filepath.Join(t.TempDir(), "dst.db"), Options{})
	if n, _, err := dst.Import(ctx, strings.NewReader(out.String()), ""); err != nil || n != 3 {
		t.Fatalf("Import(export) = %d, %v, want 3, nil", n, err)
	}
	var again strings.Builder
	if _, err := dst.Export(ctx, &again); err != nil {
		t.Fatal(err)
	}
	if again.String() != want {
		t.Errorf("Export(Import(Export())) =\n%s\nwant\n%s", again.String(), want)
	}

	// An export of an older tokenreg has no lost column: every row answered.
	old := "username,tokenSn,tokenType,registered_at,run_id\ndave,OTP-4,OTP,2026-11-28T02:15:00.123Z,old\n"
	if n, _, err := dst.Import(ctx, strings.NewReader(old), ""); err != nil || n != 1 {
		t.Fatalf("Import(old export) = %d, %v, want 1, nil", n, err)
	}
	bad := "username,tokenSn,tokenType,registered_at,run_id,lost\nerin,OTP-5,OTP,2026-11-28T02:15:00.123Z,r,maybe\n"
	if _, _, err := dst.Import(ctx, strings.NewReader(bad), ""); err == nil || !strings.Contains(err.Error(), `line 2: lost is "maybe", want true or false`) {
		t.Errorf("Import(lost=maybe) error = %v, want the line and the value", err)
	}
}

// A ledger of schema version 2 (before the lost flag) opens, keeps its
// rows, and shows them as answered.
func TestMigrateAddsLost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range append(migrations[:2:2],
		`INSERT INTO registrations VALUES ('alice', 2, 'OTP-1', '2026-11-28T02:15:00.123Z', 'v2')`,
		"PRAGMA application_id = 1953198695", "PRAGMA user_version = 2") {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	db.Close()
	l := open(t, path, Options{})
	var out strings.Builder
	if _, err := l.Export(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	want := "username,tokenSn,tokenType,registered_at,run_id,lost\nalice,OTP-1,OTP,2026-11-28T02:15:00.123Z,v2,false\n"
	if out.String() != want {
		t.Errorf("Export() after migration =\n%s\nwant\n%s", out.String(), want)
	}
}

// TestImportOperatorFiles: import reads through the CSV layer every reader
// shares, so it refuses what is not CSV text by name and reads a lone-CR
// file as the input reader does.
func TestImportOperatorFiles(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, csv, wantErr string
		imported           int
	}{
		{"workbook", "PK\x03\x04\x14\x00\x06\x00", "this is an Excel workbook (.xlsx)", 0},
		{"utf-16", "\xff\xfeu\x00s\x00", "this is UTF-16 text", 0},
		{"not utf-8", "username,tokenSn,tokenType,registered_at\nJos\xe9,OTP-1,OTP,\n", "line 2: the file is not UTF-8 text", 0},
		{"classic mac", "username,tokenSn,tokenType,registered_at\rjose,OTP-1,OTP,\rjane,OTP-2,OTP,\r", "", 2},
		{"record too long", "username,tokenSn,tokenType,registered_at\n" + strings.Repeat("x", 70000) + "\n", "line 2: the record is 70001 bytes long", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := open(t, filepath.Join(t.TempDir(), "ledger.db"), Options{})
			imported, _, err := l.Import(ctx, strings.NewReader(tt.csv), "")
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Import() error = %v, want %q", err, tt.wantErr)
			}
			if imported != tt.imported {
				t.Errorf("Import() imported %d, want %d", imported, tt.imported)
			}
		})
	}
}

// TestImportResultLostSuccess: a failed row of a result file whose message
// carries the lost-success note (a 29004/29008/29017 after an attempt with
// unknown outcome) is a registration tokenreg made, and the ledger holds
// exactly what tokenreg bound (SPEC §5a): import records it flagged lost,
// as the run records it. The other notes say nothing was bound for sure.
func TestImportResultLostSuccess(t *testing.T) {
	ctx := context.Background()
	msg := func(st report.Status, base string, unknown, lost bool) string {
		return report.WithNotes(st, base, unknown, lost) // the one writer of the notes
	}
	row := func(line int, user, sn, st, code, message, at string) string {
		var b strings.Builder
		w := csv.NewWriter(&b)
		w.Write([]string{fmt.Sprint(line), user, sn, "OTP", st, code, message, "2", "40", at})
		w.Flush()
		return b.String()
	}
	file := "line,username,tokenSn,tokenType,status,code,message,attempts,duration_ms,finished_at\n" +
		row(2, "alice", "OTP-1", "failed", "29008", msg(report.StatusFailed, "An OTP token already registered to this user", true, true), "2026-11-28T02:15:00.123Z") +
		row(3, "bob", "OTP-2", "failed", "10004", msg(report.StatusFailed, "Server busy", true, false), "2026-11-28T02:15:01.000Z") +
		row(4, "carol", "OTP-3", "error", "", msg(report.StatusError, "timeout", true, false), "2026-11-28T02:15:02.000Z") +
		row(5, "dave", "OTP-4", "failed", "29008", "An OTP token already registered to this user", "2026-11-28T02:15:03.000Z") +
		row(6, "erin", "OTP-5", "ok", "0", "Success", "2026-11-28T02:15:04.000Z")
	l := open(t, filepath.Join(t.TempDir(), "ledger.db"), Options{})
	imported, skipped, err := l.Import(ctx, strings.NewReader(file), "seed")
	if err != nil || imported != 2 || skipped != 3 {
		t.Fatalf("Import() = %d, %d, %v, want 2, 3, nil", imported, skipped, err)
	}
	var out strings.Builder
	if _, err := l.Export(ctx, &out); err != nil {
		t.Fatal(err)
	}
	want := "username,tokenSn,tokenType,registered_at,run_id,lost\n" +
		"alice,OTP-1,OTP,2026-11-28T02:15:00.123Z,seed,true\n" +
		"erin,OTP-5,OTP,2026-11-28T02:15:04.000Z,seed,false\n"
	if out.String() != want {
		t.Errorf("Export() after importing a result with a lost success =\n%s\nwant\n%s", out.String(), want)
	}
}

// TestImportResultThroughReader: a file with a full result header is read
// as report.Reader reads it: formula guards removed from every cell, the
// header's names folded, the columns in any order.
func TestImportResultThroughReader(t *testing.T) {
	ctx := context.Background()
	file := "\ufeffFinished_At,Message,Code,Status,Token Type,TokenSn,UserName,Line,Attempts,Duration_ms\r\n" +
		"2026-11-28T02:15:00.123Z,Success,0,OK,OTP,'=OTP-3,'@grace,2,1,12\r\n" +
		",Success,0,ok,SMS,'+60 123,heidi,3,1,12\r\n"
	l := open(t, filepath.Join(t.TempDir(), "ledger.db"), Options{})
	before := time.Now().Truncate(time.Millisecond)
	imported, skipped, err := l.Import(ctx, strings.NewReader(file), "seed")
	if err != nil || imported != 2 || skipped != 0 {
		t.Fatalf("Import() = %d, %d, %v, want 2, 0, nil", imported, skipped, err)
	}
	wantLookup(t, l, "@grace", client.OTP, "=OTP-3", true, t1)
	// An empty finished_at is the time of the import.
	at, found, err := l.Lookup(ctx, "heidi", client.SMS, "+60 123")
	if err != nil || !found || at.Before(before) || at.After(time.Now()) {
		t.Errorf("Lookup(heidi) = %v, %t, %v, want found at the import's time", at, found, err)
	}
}

func TestExportEmptyLedger(t *testing.T) {
	l := open(t, filepath.Join(t.TempDir(), "ledger.db"), Options{})
	var out strings.Builder
	n, err := l.Export(context.Background(), &out)
	if err != nil || n != 0 || out.String() != "username,tokenSn,tokenType,registered_at,run_id,lost\n" {
		t.Errorf("Export(empty) = %d, %v, %q, want 0, nil and the header alone", n, err, out.String())
	}
}

// TestExportManyRows crosses Export's batches: every row once, in order.
func TestExportManyRows(t *testing.T) {
	ctx := context.Background()
	l := open(t, filepath.Join(t.TempDir(), "ledger.db"), Options{RunID: "r"})
	const rows = 2*exportBatch + 3
	var regs []reg
	for i := range rows {
		regs = append(regs, reg{fmt.Sprintf("user%04d", i), client.OTP, fmt.Sprintf("OTP-%d", i), t1.Add(time.Duration(i) * time.Second)})
	}
	record(t, l, regs...)
	var out strings.Builder
	n, err := l.Export(ctx, &out)
	if err != nil || n != rows {
		t.Fatalf("Export() = %d, %v, want %d, nil", n, err, rows)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != rows+1 {
		t.Fatalf("Export() wrote %d lines, want %d", len(lines), rows+1)
	}
	for i, line := range lines[1:] {
		if want := fmt.Sprintf("user%04d,OTP-%d,OTP,", i, i); !strings.HasPrefix(line, want) {
			t.Fatalf("Export() line %d = %q, want it to start %q", i+2, line, want)
		}
	}
}

// TestImportAcrossBatches: an export longer than the batches gocsv maps is
// imported whole, and a bad row after the first batch is named by its own
// line, whether its cell or its field count is wrong.
func TestImportAcrossBatches(t *testing.T) {
	ctx := context.Background()
	var b strings.Builder
	b.WriteString("username,tokenSn,tokenType,registered_at,run_id,lost\n")
	const rows = 2*handBatchSize + 10
	for i := range rows {
		fmt.Fprintf(&b, "user%04d,OTP-%d,OTP,2026-11-28T02:15:00.123Z,r,false\n", i, i)
	}
	l := open(t, filepath.Join(t.TempDir(), "ledger.db"), Options{})
	if n, skipped, err := l.Import(ctx, strings.NewReader(b.String()), ""); err != nil || n != rows || skipped != 0 {
		t.Fatalf("Import(%d rows) = %d, %d, %v", rows, n, skipped, err)
	}
	wantLookup(t, l, fmt.Sprintf("user%04d", rows-1), client.OTP, fmt.Sprintf("OTP-%d", rows-1), true, t1)

	for _, tt := range []struct{ bad, want string }{
		{"userX,OTP-X,TOTP,2026-11-28T02:15:00.123Z,r,false\n", fmt.Sprintf("line %d: unknown token type \"TOTP\"", handBatchSize+12)},
		{"userX,OTP-X,OTP\n", fmt.Sprintf("line %d: 3 fields, but the header has 6", handBatchSize+12)},
	} {
		lines := strings.SplitAfter(b.String(), "\n")
		// Line handBatchSize+12 of the file: the header, then rows.
		lines[handBatchSize+11] = tt.bad
		l := open(t, filepath.Join(t.TempDir(), "ledger.db"), Options{})
		if _, _, err := l.Import(ctx, strings.NewReader(strings.Join(lines, "")), ""); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Import() error = %v, want %q", err, tt.want)
		}
		wantLookup(t, l, "user0000", client.OTP, "OTP-0", false, time.Time{})
	}
}
