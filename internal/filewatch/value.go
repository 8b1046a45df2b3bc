package filewatch

import (
	"sync"
	"sync/atomic"
)

// Value is a value loaded from files and loaded again when they change.
// A load that fails leaves the previous value in force. It is safe for
// concurrent use.
type Value[T any] struct {
	load     func() (*T, error)
	onReload func(current *T, err error)
	current  atomic.Pointer[T]
	watcher  *Watcher
	// reloading serialises loads, which the watcher and Reload callers
	// may both start.
	reloading sync.Mutex
}

// NewValue loads the value with load and watches paths, the files load
// reads. After each load that a change triggered, onReload (which may be
// nil) receives the value in force and the load error. NewValue fails if
// the first load fails.
func NewValue[T any](paths []string, opts Options, load func() (*T, error), onReload func(current *T, err error)) (*Value[T], error) {
	v := &Value[T]{load: load, onReload: onReload}
	// The watcher starts before the first load, so that no change slips
	// between the two, and the lock makes its first reload wait for the
	// load.
	v.reloading.Lock()
	var err error
	v.watcher, err = New(paths, opts, func() { _ = v.Reload() })
	if err != nil {
		v.reloading.Unlock()
		return nil, err
	}
	first, err := load()
	if err == nil {
		v.current.Store(first)
	}
	v.reloading.Unlock()
	if err != nil {
		_ = v.watcher.Close()
		return nil, err
	}
	return v, nil
}

// Reload loads the value again and swaps it in if the load succeeds. It
// returns the load error and reports the attempt through onReload.
func (v *Value[T]) Reload() error {
	v.reloading.Lock()
	defer v.reloading.Unlock()
	next, err := v.load()
	if err == nil {
		v.current.Store(next)
	}
	if v.onReload != nil {
		v.onReload(v.current.Load(), err)
	}
	return err
}

// Load returns the value in force.
func (v *Value[T]) Load() *T { return v.current.Load() }

// Close stops watching. The value in force stays usable.
func (v *Value[T]) Close() error { return v.watcher.Close() }
