package batch

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// TestReadAheadMatchesReader checks that reading ahead changes nothing: the
// same rows, then the same error, for inputs shorter and longer than a
// read-ahead, ending cleanly or with a fatal error mid-file.
func TestReadAheadMatchesReader(t *testing.T) {
	body := func(n int) string {
		var b strings.Builder
		b.WriteString("username,tokenSn,tokenType\n")
		for i := range n {
			switch i % 7 {
			case 3:
				fmt.Fprintf(&b, "user%d,,SMS\n", i) // invalid
			case 5:
				fmt.Fprintf(&b, "user%d,SN%d,OTP\n", i, i)
			default:
				fmt.Fprintf(&b, "user%d,+6012%08d,SMS\n", i, i)
			}
		}
		return b.String()
	}
	for _, text := range []string{
		body(0), body(5), body(readAheadRows), body(3*readAheadRows + 1),
		body(2*readAheadRows+3) + "bad,\"never closed,SMS\n" + body(4)[28:], // fatal after 2 read-aheads and a bit
		body(readAheadRows-1) + "username,tokenSn,tokenType\n",              // a second header ends the last read-ahead
	} {
		want, wantErr := readAll(t, text)
		rd, err := NewReader("in.csv", strings.NewReader(text), ReaderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		in := newReadAhead(rd, newDedup(0))
		var got []Row
		for {
			row, err := in.Read()
			if err != nil {
				if !reflect.DeepEqual(err, wantErr) && !(errors.Is(err, io.EOF) && wantErr == nil) {
					t.Errorf("after %d rows: error %v, want %v", len(got), err, wantErr)
				}
				if _, again := in.Read(); again != err {
					t.Errorf("Read after the end = %v, want %v again", again, err)
				}
				break
			}
			got = append(got, row)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%d rows read ahead differ from the Reader's %d", len(got), len(want))
		}
		if wantErr == nil && rd.SHA256() == "" {
			t.Errorf("the Reader was not read to its end")
		}
	}
}
