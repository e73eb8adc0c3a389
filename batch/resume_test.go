package batch

import (
	"errors"
	"strings"
	"testing"
)

// TestResumeVerifyNamesNoFlag: an earlier result that does not belong to
// the input is refused with ErrResumeMismatch and a message that says what
// differs, in batch's words: the command adds which flag starts over.
func TestResumeVerifyNamesNoFlag(t *testing.T) {
	const head = "line,username,tokenSn,tokenType,status,code,message,attempts,duration_ms,finished_at\n"
	const input = "username,tokenSn,tokenType\nalice,OTP1,2\nbob,OTP2,2\n"
	tests := []struct {
		name, prev, want string
	}{
		{"another row", head + "2,carol,OTP1,OTP,ok,0,Success,1,3,2026-11-28T10:00:00.000Z\n", "line 2 names another username"},
		{"past the end", head + "9,alice,OTP1,OTP,ok,0,Success,1,3,2026-11-28T10:00:00.000Z\n", "input's last row is on line 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, _, _, err := LoadResume("prev", strings.NewReader(tt.prev), nil)
			if err != nil {
				t.Fatal(err)
			}
			rd, err := NewReader("in.csv", strings.NewReader(input), ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			err = rs.Verify(rd)
			if !errors.Is(err, ErrResumeMismatch) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Verify = %v, want ErrResumeMismatch saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "--") {
				t.Errorf("Verify = %q names a command-line flag: the command adds that", err)
			}
		})
	}
}
