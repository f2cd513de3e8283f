package results

import "context"

// FetchOrdered runs get for every item, up to n at once, and hands each
// result to use in the items' order, so a slow store costs one round trip
// per n objects and memory stays at n results. It stops at the first error.
func FetchOrdered[I, O any](ctx context.Context, n int, items []I, get func(context.Context, I) (O, error), use func(int, O) error) error {
	return FetchOrderedWithin(ctx, n, 0, nil, items, get, use)
}

// FetchOrderedWithin is FetchOrdered that also bounds what it holds: the
// result being used, those fetched ahead and those in flight, each counted
// as the largest size seen so far, stay within maxBytes (0: no bound). One
// result is always fetched ahead; until a size is known, only one.
func FetchOrderedWithin[I, O any](ctx context.Context, n int, maxBytes int64, size func(O) int64,
	items []I, get func(context.Context, I) (O, error), use func(int, O) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		v   O
		err error
	}
	n = max(n, 1)
	slots := make([]chan result, len(items))
	next := 0
	var largest int64
	// room says whether item next may be fetched while item using is used.
	room := func(using int) bool {
		ahead := next - using - 1 // launched, not yet used
		switch {
		case next >= len(items) || ahead >= n:
			return false
		case maxBytes <= 0 || ahead < 1:
			return true
		case largest == 0:
			return false
		}
		return int64(ahead+2)*largest <= maxBytes
	}
	launch := func() {
		ch := make(chan result, 1)
		slots[next] = ch
		item := items[next]
		go func() {
			v, err := get(ctx, item)
			ch <- result{v, err}
		}()
		next++
	}
	for room(-1) {
		launch()
	}
	for i := range items {
		r := <-slots[i]
		slots[i] = nil
		if r.err != nil {
			return r.err
		}
		if maxBytes > 0 {
			largest = max(largest, size(r.v))
		}
		for room(i) {
			launch()
		}
		if err := use(i, r.v); err != nil {
			return err
		}
	}
	return nil
}
