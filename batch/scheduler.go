package batch

import (
	"context"
	"strings"
	"sync"
)

// scheduler keeps rows that share a username out of flight together and in
// file order (SPEC §4), without a goroutine of its own: the reader hands a
// row to the workers only if no row of its user is out; otherwise it parks
// the row, and the worker that finishes the user's current row takes the
// next parked one itself. Safe for concurrent use.
type scheduler struct {
	mu sync.Mutex
	// waiting[u] exists while a row of user u is queued or in flight; it
	// holds u's later rows in file order.
	waiting map[string][]job
	// parked bounds the rows waiting, so that one user's long run of rows
	// cannot make the reader buffer the file.
	parked chan struct{}
}

func newScheduler(limit int) *scheduler {
	return &scheduler{waiting: make(map[string][]job), parked: make(chan struct{}, limit)}
}

// submit passes j to the workers or parks it behind its user's row in
// flight. It returns false if ctx ended first.
func (s *scheduler) submit(ctx context.Context, jobs chan<- job, j job) bool {
	u := userKey(j.row.Username)
	// Take a parking slot first, outside the lock (the workers need the
	// lock to free one); give it back if the row need not wait.
	select {
	case s.parked <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	s.mu.Lock()
	if w, busy := s.waiting[u]; busy {
		s.waiting[u] = append(w, j)
		s.mu.Unlock()
		return true
	}
	s.waiting[u] = nil
	s.mu.Unlock()
	<-s.parked
	select {
	case jobs <- j:
		return true
	case <-ctx.Done():
		return false
	}
}

// next is called when a row of user u is done: it returns u's next parked
// row for the same worker to take, or false when u has none.
func (s *scheduler) next(u string) (job, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.waiting[u]
	if len(w) == 0 {
		delete(s.waiting, u)
		return job{}, false
	}
	j := w[0]
	w[0] = job{}
	s.waiting[u] = w[1:]
	<-s.parked
	return j, true
}

func userKey(u string) string { return strings.ToLower(u) }
