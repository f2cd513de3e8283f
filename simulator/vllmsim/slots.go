package vllmsim

import (
	"context"
	"sync"
)

// slots hands out at most limit running slots (0 = unlimited) in strict
// arrival order; a released slot passes straight to the oldest waiter.
type slots struct {
	limit int

	mu      sync.Mutex
	running int
	waiting []chan struct{}
}

// acquire blocks until the caller holds a slot or ctx ends.
func (s *slots) acquire(ctx context.Context) error {
	s.mu.Lock()
	if s.limit == 0 || (s.running < s.limit && len(s.waiting) == 0) {
		s.running++
		s.mu.Unlock()
		return nil
	}
	grant := make(chan struct{})
	s.waiting = append(s.waiting, grant)
	s.mu.Unlock()

	select {
	case <-grant:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, w := range s.waiting {
			if w == grant {
				s.waiting = append(s.waiting[:i], s.waiting[i+1:]...)
				return ctx.Err()
			}
		}
		// Granted while giving up: the slot is ours, pass it on.
		s.releaseLocked()
		return ctx.Err()
	}
}

func (s *slots) release() {
	s.mu.Lock()
	s.releaseLocked()
	s.mu.Unlock()
}

func (s *slots) releaseLocked() {
	if len(s.waiting) > 0 {
		close(s.waiting[0])
		s.waiting[0] = nil
		s.waiting = s.waiting[1:]
		return // the running count stays: the slot changed hands
	}
	s.running--
}

// counts returns how many requests run and wait now.
func (s *slots) counts() (running, waiting int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running, len(s.waiting)
}
