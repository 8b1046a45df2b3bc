package reload

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// maxDebounceBursts bounds how long a stream of notifications can delay a
// check, in multiples of Options.Debounce.
const maxDebounceBursts = 10

// Run follows changes to the files until ctx is done, then returns nil. It
// watches the directories that contain the files, and the directories
// their symlinks point into, because editors and Kubernetes replace files
// by renaming a new file or directory into place, which a watch on the
// file itself does not survive. Any change in those directories triggers a
// check after Options.Debounce; the check reads the files and does nothing
// when their contents are unchanged. If the watcher cannot be created,
// OnReload reports it and Run falls back to the periodic check.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errAlreadyRunning
	}
	defer w.running.Store(false)

	n := w.newNotifier()
	defer n.close()

	var tick <-chan time.Time
	if w.opts.Interval > 0 {
		ticker := time.NewTicker(w.opts.Interval)
		defer ticker.Stop()
		tick = ticker.C
	}
	if w.opts.watching != nil {
		w.opts.watching()
	}
	debounce := time.NewTimer(w.opts.Debounce)
	debounce.Stop()
	var firstEvent time.Time

	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-n.events():
			if !ok {
				n.stop()
				continue
			}
			// Wait until the burst of events has been quiet for Debounce,
			// so that a certificate and key written with an fsync each
			// are read together. The wait ends after maxDebounceBursts
			// times Debounce regardless, so that a directory that changes
			// all the time still gets checked.
			now := time.Now()
			if firstEvent.IsZero() {
				firstEvent = now
			}
			if now.Sub(firstEvent) < maxDebounceBursts*w.opts.Debounce {
				debounce.Reset(w.opts.Debounce)
			}
		case err, ok := <-n.errors():
			if !ok {
				n.stop()
				continue
			}
			w.reportWatchFailure(err)
		case <-debounce.C:
			firstEvent = time.Time{}
			_ = w.check(TriggerNotify)
			n.update(w.watchDirs())
		case <-tick:
			_ = w.check(TriggerInterval)
			n.update(w.watchDirs())
		}
	}
}

func (w *Watcher) reportWatchFailure(err error) {
	w.report(Event{Trigger: TriggerNotify, Paths: w.paths, Current: w.Current(), Previous: w.Current(),
		Err: reject(ReasonWatchFailed, fmt.Errorf("watch the directories of %v: %w; changes are still picked up by the periodic check", w.paths, err)), Reason: ReasonWatchFailed})
}

// watchDirs returns the directories to watch: each file's directory and,
// for a symlink, the directory of its current target.
func (w *Watcher) watchDirs() map[string]bool {
	dirs := map[string]bool{}
	for _, p := range w.paths {
		if abs, err := filepath.Abs(p); err == nil {
			dirs[filepath.Dir(abs)] = true
		}
		if target, err := filepath.EvalSymlinks(p); err == nil {
			if abs, err := filepath.Abs(target); err == nil {
				dirs[filepath.Dir(abs)] = true
			}
		}
	}
	return dirs
}

// notifier wraps an fsnotify watcher that may be missing, in which case
// its channels are nil and never deliver.
type notifier struct {
	fw *fsnotify.Watcher
}

func (w *Watcher) newNotifier() *notifier {
	n := &notifier{}
	if w.opts.disableNotify {
		return n
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		w.reportWatchFailure(err)
		return n
	}
	n.fw = fw
	for dir := range w.watchDirs() {
		if err := fw.Add(dir); err != nil {
			w.reportWatchFailure(err)
		}
	}
	return n
}

func (n *notifier) events() <-chan fsnotify.Event {
	if n.fw == nil {
		return nil
	}
	return n.fw.Events
}

func (n *notifier) errors() <-chan error {
	if n.fw == nil {
		return nil
	}
	return n.fw.Errors
}

// update watches directories that appeared or came back, such as the new
// target of a swapped symlink, and drops those no longer needed. fsnotify
// forgets a directory once it is removed, so its own list is the record of
// what is watched. A directory that cannot be watched yet is retried at
// the next update.
func (n *notifier) update(dirs map[string]bool) {
	if n.fw == nil {
		return
	}
	watched := map[string]bool{}
	for _, dir := range n.fw.WatchList() {
		watched[dir] = true
		if !dirs[dir] {
			_ = n.fw.Remove(dir)
		}
	}
	for dir := range dirs {
		if !watched[dir] {
			_ = n.fw.Add(dir)
		}
	}
}

// stop gives up on notifications after the watcher closed its channels.
func (n *notifier) stop() {
	n.close()
	n.fw = nil
}

func (n *notifier) close() {
	if n.fw != nil {
		_ = n.fw.Close()
	}
}
