// Package throttle limits how often one kind of event is reported, and
// counts the events it holds back.
//
// A server that logs every rejected handshake can be made to write
// gigabytes by a flood of bad connections. A Throttle lets the first few
// events of each kind through in every interval and reports how many it
// suppressed when the interval ends:
//
//	t := throttle.New(10*time.Second, 5, func(key string, n int) {
//		log.Warn("rejected handshakes not logged", "reason", key, "suppressed", n)
//	})
//	defer t.Flush()
//	if t.Allow(reason) {
//		log.Warn("rejected handshake", "reason", reason, ...)
//	}
//
// Keys must come from a small fixed set, such as failure reasons: each key
// seen in the current interval holds a timer.
package throttle

import (
	"slices"
	"sync"
	"time"
)

// Throttle allows a fixed number of events per key and interval. Its
// methods are safe for concurrent use.
type Throttle struct {
	interval     time.Duration
	burst        int
	onSuppressed func(key string, suppressed int)

	mu      sync.Mutex
	windows map[string]*window
}

type window struct {
	allowed    int
	suppressed int
	timer      *time.Timer
}

// New returns a Throttle that allows burst events per key in each interval
// that starts with the key's first event. onSuppressed is called, from a
// timer's goroutine, at the end of every interval in which events were
// held back, with their number.
func New(interval time.Duration, burst int, onSuppressed func(key string, suppressed int)) *Throttle {
	return &Throttle{interval: interval, burst: burst, onSuppressed: onSuppressed, windows: map[string]*window{}}
}

// Allow reports whether an event of kind key may be reported now, and
// counts it as suppressed when not.
func (t *Throttle) Allow(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.windows[key]
	if w == nil {
		w = &window{}
		w.timer = time.AfterFunc(t.interval, func() { t.endWindow(key, w) })
		t.windows[key] = w
	}
	if w.allowed < t.burst {
		w.allowed++
		return true
	}
	w.suppressed++
	return false
}

func (t *Throttle) endWindow(key string, w *window) {
	t.mu.Lock()
	if t.windows[key] != w {
		// Flush already ended this window.
		t.mu.Unlock()
		return
	}
	delete(t.windows, key)
	n := w.suppressed
	t.mu.Unlock()
	if n > 0 && t.onSuppressed != nil {
		t.onSuppressed(key, n)
	}
}

// Flush ends every interval now and reports, in key order, the events
// held back in each. Call it before exiting so that no count is lost.
func (t *Throttle) Flush() {
	t.mu.Lock()
	keys := make([]string, 0, len(t.windows))
	counts := map[string]int{}
	for key, w := range t.windows {
		w.timer.Stop()
		keys = append(keys, key)
		counts[key] = w.suppressed
	}
	clear(t.windows)
	t.mu.Unlock()
	slices.Sort(keys)
	for _, key := range keys {
		if counts[key] > 0 && t.onSuppressed != nil {
			t.onSuppressed(key, counts[key])
		}
	}
}
