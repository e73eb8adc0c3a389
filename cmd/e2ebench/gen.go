//go:build !windows

package main

import (
	"bufio"
	"os"
	"strconv"
)

// The generated data: user i is "user0000042"; row i of an input file gives
// user i%users the SMS number "+601" + series + i in eight digits, so each
// series of rows has numbers of its own and every row succeeds on a
// simulator that knows the users.

func username(i int) string { return string(appendUsername(nil, i)) }

func appendUsername(b []byte, i int) []byte {
	return appendPadded(append(b, "user"...), i, 7)
}

func appendPhone(b []byte, series, i int) []byte {
	b = append(b, "+601"...)
	b = strconv.AppendInt(b, int64(series%10), 10)
	return appendPadded(b, i, 8)
}

func appendPadded(b []byte, n, width int) []byte {
	var d [20]byte
	s := strconv.AppendInt(d[:0], int64(n), 10)
	for range width - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

func usernames(n int) []string {
	us := make([]string, n)
	for i := range us {
		us[i] = username(i)
	}
	return us
}

// writeState writes a simulator state (the format of samples/sim-state.json)
// that knows users users and nothing else.
func writeState(path string, users int) error {
	return writeFile(path, func(w *bufio.Writer) {
		w.WriteString(`{"users":[`)
		var b []byte
		for i := range users {
			b = b[:0]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(appendUsername(append(b, '"'), i), '"')
			w.Write(b)
		}
		w.WriteString(`],"tokens":[],"phonesInUse":[],"usersWithOtp":[],"noCrOtp":[],"failures":[]}` + "\n")
	})
}

// writeInput writes an input CSV of rows SMS rows of the given series.
func writeInput(path string, rows, users, series int) error {
	return writeFile(path, func(w *bufio.Writer) {
		w.WriteString("username,tokenSn,tokenType\n")
		var b []byte
		for i := range rows {
			b = appendUsername(b[:0], i%users)
			b = appendPhone(append(b, ','), series, i)
			b = append(b, ",SMS\n"...)
			w.Write(b)
		}
	})
}

func writeFile(path string, fill func(*bufio.Writer)) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fill(w)
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeFiles writes a figure's files: NAME-state.json, a simulator state
// that knows n users, and NAME.csv, n rows of input series for them. It
// returns their paths.
func (b *bench) writeFiles(name string, n, series int) (state, input string, err error) {
	state, input = b.path("%s-state.json", name), b.path("%s.csv", name)
	if err := writeState(state, n); err != nil {
		return "", "", err
	}
	if err := writeInput(input, n, n, series); err != nil {
		return "", "", err
	}
	return state, input, nil
}
