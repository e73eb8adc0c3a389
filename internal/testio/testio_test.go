package testio

import (
	"strings"
	"sync"
	"testing"
)

// TestSyncBufferConcurrentWrites: writes from many goroutines all land,
// whole, while the buffer is read (run with -race).
func TestSyncBufferConcurrentWrites(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("ab\n"))
				_ = b.Len()
			}
		})
	}
	wg.Wait()
	if got := b.String(); got != strings.Repeat("ab\n", 800) || b.Len() != 2400 {
		t.Errorf("buffer holds %d bytes, want 800 whole writes", len(got))
	}
}
