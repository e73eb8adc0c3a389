package main

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tokenreg/tokenreg/batch"
	"github.com/tokenreg/tokenreg/report"
)

// TestReplaceResultFailureLeavesOldFile: when writing the replacement of a
// result fails (--force, or a resume's rewrite), or a resume's check of the
// earlier result refuses it, the old result is as it was and no temporary
// file is left beside it.
func TestReplaceResultFailureLeavesOldFile(t *testing.T) {
	const old = "line,username,tokenSn,tokenType,status,code,message,attempts,duration_ms,finished_at\n" +
		"2,alice,OTP-1,OTP,ok,0,Success,1,12,2026-11-28T02:15:00.123Z\n" +
		"3,bob,OTP-2,OTP,error,,timeout,5,15000,2026-11-28T02:15:01.000Z\n"
	check := func(t *testing.T, dir, path string) {
		t.Helper()
		if got, err := os.ReadFile(path); err != nil || string(got) != old {
			t.Errorf("the result holds %q, %v; want it unchanged", got, err)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*")); len(left) != 0 {
			t.Errorf("temporary files left beside the result: %q", left)
		}
	}
	diskFull := errors.New("no space left on device")

	t.Run("write fails", func(t *testing.T) {
		dir := t.TempDir()
		path := writeFile(t, dir, "r.csv", old)
		_, err := replaceResult(path, func(w *report.Writer) (int, error) {
			if err := w.Write(report.Result{Line: 2, Username: "alice", TokenSn: "OTP-1", TokenType: "OTP", Status: report.StatusOK}); err != nil {
				return 0, err
			}
			return 1, diskFull
		})
		if !errors.Is(err, diskFull) {
			t.Errorf("replaceResult() = %v, want the write's error", err)
		}
		check(t, dir, path)
	})

	t.Run("resume refused", func(t *testing.T) {
		dir := t.TempDir()
		path := writeFile(t, dir, "r.csv", old)
		refused := errors.New("the input changed")
		_, err := resumeResult(path, func(*batch.Resume) error { return refused })
		if err == nil || !strings.Contains(err.Error(), refused.Error()) {
			t.Errorf("resumeResult() = %v, want the check's error", err)
		}
		check(t, dir, path)
	})

	t.Run("resume", func(t *testing.T) {
		dir := t.TempDir()
		path := writeFile(t, dir, "r.csv", old)
		res, err := resumeResult(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer res.close()
		// The error row is dropped to be sent again; the file is a new one
		// of this user's, mode 0600.
		got, _ := os.ReadFile(path)
		if want := old[:len(old)-len("3,bob,OTP-2,OTP,error,,timeout,5,15000,2026-11-28T02:15:01.000Z\n")]; string(got) != want {
			t.Errorf("the resumed result holds %q, want %q", got, want)
		}
		if fi, err := os.Stat(path); runtime.GOOS != "windows" && (err != nil || fi.Mode().Perm() != 0o600) {
			t.Errorf("the resumed result: mode %v, %v; want 0600", fi.Mode().Perm(), err)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*")); len(left) != 0 {
			t.Errorf("temporary files left beside the result: %q", left)
		}
	})
}
