package ledger

import (
	"os"
	"syscall"
)

// mapChunk is how much of the journal is mapped, and allocated on disk, at
// a time.
const mapChunk = 1 << 20

// newJournalWriter writes the journal through a shared mapping of the file
// if it can, else with write(2). An entry is then a copy into memory, not
// a system call (which costs an intent a few µs on ext4): a store to a
// shared mapping is in the page cache at once, so it survives a killed
// process like a write(2), and fdatasync flushes it like one. The blocks
// of each chunk are allocated before it is mapped (fallocate), so a full
// disk is an error of the write that needs the next chunk, never a SIGBUS.
func newJournalWriter(f *os.File) jwriter {
	if mapJournal {
		m := &mapWriter{f: f}
		if err := m.next(); err == nil {
			return m
		}
		// A file system without fallocate, say.
	}
	return &fileWriter{f: f}
}

// mapWriter writes into a mapping of one chunk of the file, the next one
// once it is full. The file is mapChunk bytes longer than what was written
// until close cuts it; the reader stops at the zeros.
type mapWriter struct {
	f    *os.File
	data []byte // the mapped chunk
	base int64  // its offset in the file
	off  int    // the next byte to write in data
}

func (m *mapWriter) fd() int {
	var fd int
	rc, err := m.f.SyscallConn()
	if err == nil {
		rc.Control(func(p uintptr) { fd = int(p) })
	}
	return fd
}

// next maps the chunk after the current one, allocating its blocks.
func (m *mapWriter) next() error {
	base := m.base
	if m.data != nil {
		base += int64(len(m.data))
	}
	fd := m.fd()
	if err := syscall.Fallocate(fd, 0, base, mapChunk); err != nil {
		return &os.PathError{Op: "fallocate", Path: m.f.Name(), Err: err}
	}
	data, err := syscall.Mmap(fd, base, mapChunk, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return &os.PathError{Op: "mmap", Path: m.f.Name(), Err: err}
	}
	if m.data != nil {
		syscall.Munmap(m.data)
	}
	m.data, m.base, m.off = data, base, 0
	return nil
}

func (m *mapWriter) write(b []byte) error {
	for len(b) > 0 {
		if m.off == len(m.data) {
			if err := m.next(); err != nil {
				return err
			}
		}
		n := copy(m.data[m.off:], b)
		m.off += n
		b = b[n:]
	}
	return nil
}

// sync flushes the file's dirty pages, those written through the mapping
// included (Linux tracks them in the page cache like written ones).
func (m *mapWriter) sync() error { return datasync(m.f) }

func (m *mapWriter) close() error {
	var err error
	if m.data != nil {
		err = syscall.Munmap(m.data)
		m.data = nil
	}
	if terr := m.f.Truncate(m.base + int64(m.off)); err == nil {
		err = terr
	}
	if cerr := m.f.Close(); err == nil {
		err = cerr
	}
	return err
}
