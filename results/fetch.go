package results

import "context"

// FetchOrdered runs get for every item, up to n at once, and hands each
// result to use in the items' order, so a slow store costs one round trip
// per n objects and memory stays at n results. It stops at the first error.
func FetchOrdered[I, O any](ctx context.Context, n int, items []I, get func(context.Context, I) (O, error), use func(int, O) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		v   O
		err error
	}
	n = max(n, 1)
	slots := make([]chan result, len(items))
	next := 0
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
	for next < len(items) && next < n {
		launch()
	}
	for i := range items {
		r := <-slots[i]
		slots[i] = nil
		if r.err != nil {
			return r.err
		}
		if next < len(items) {
			launch()
		}
		if err := use(i, r.v); err != nil {
			return err
		}
	}
	return nil
}
