// Package filewatch calls a function when the content of any file in a
// set changes.
//
// It watches the directories that contain the files rather than the files
// themselves, so it detects the common ways of replacing a file: an editor or
// pki.WriteFileAtomic renaming a new file over the old one, and a
// Kubernetes secret volume swapping its "..data" symlink to a new
// directory. Every event, and a periodic poll as a fallback for file
// systems without notifications, leads to a comparison of each file's
// SHA-256 with the last one seen; only a real change of content calls the
// function.
//
//	w, err := filewatch.New([]string{"policy.yaml"}, filewatch.Options{}, func() { reload() })
//	if err != nil { ... }
//	defer w.Close()
package filewatch

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Defaults for Options.
const (
	DefaultPollInterval = 30 * time.Second
	// DefaultSettle is how long the watcher waits after an event before it
	// compares the files, so that a file written in several steps is read
	// once it is complete.
	DefaultSettle = 100 * time.Millisecond
)

// maxFileSize bounds how much of a file goes into its fingerprint. The
// watched files are certificates, CRLs and policies of a few kilobytes.
const maxFileSize = 4 << 20

// Options configures New. The zero value selects the defaults.
type Options struct {
	// PollInterval is the period of the fallback comparison; default
	// DefaultPollInterval.
	PollInterval time.Duration
	// Settle is the delay between an event and the comparison; default
	// DefaultSettle.
	Settle time.Duration
	// OnError receives errors of the underlying notifier. The watcher
	// keeps polling after them. Nil drops them.
	OnError func(error)
}

// Watcher watches a set of files. Close stops it.
type Watcher struct {
	paths    []string
	onChange func()
	onError  func(error)
	notifier *fsnotify.Watcher
	poll     time.Duration
	settle   time.Duration

	// sums is touched only by the run goroutine.
	sums  map[string][sha256.Size]byte
	stop  chan struct{}
	done  chan struct{}
	close sync.Once
}

// New starts watching paths and calls onChange, from the watcher's own
// goroutine, each time the content of one or more of them changes. A file
// that disappears counts as a change, so that the caller can report it.
// onChange is never called twice at once.
func New(paths []string, opts Options, onChange func()) (*Watcher, error) {
	if len(paths) == 0 {
		return nil, errors.New("watch files: no file given")
	}
	notifier, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch files: %w", err)
	}
	w := &Watcher{
		onChange: onChange,
		onError:  opts.OnError,
		notifier: notifier,
		poll:     valueOr(opts.PollInterval, DefaultPollInterval),
		settle:   valueOr(opts.Settle, DefaultSettle),
		sums:     map[string][sha256.Size]byte{},
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	dirs := map[string]bool{}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			notifier.Close()
			return nil, fmt.Errorf("watch %s: %w", p, err)
		}
		w.paths = append(w.paths, abs)
		w.sums[abs] = fingerprint(abs)
		dirs[filepath.Dir(abs)] = true
	}
	for dir := range dirs {
		if err := notifier.Add(dir); err != nil {
			notifier.Close()
			return nil, fmt.Errorf("watch directory %s: %w", dir, err)
		}
	}
	go w.run()
	return w, nil
}

// Close stops the watcher and waits until onChange is no longer running.
func (w *Watcher) Close() error {
	var err error
	w.close.Do(func() {
		close(w.stop)
		err = w.notifier.Close()
		<-w.done
	})
	return err
}

func (w *Watcher) run() {
	defer close(w.done)
	ticker := time.NewTicker(w.poll)
	defer ticker.Stop()
	// settled fires once after the last event of a burst.
	settled := time.NewTimer(time.Hour)
	settled.Stop()
	for {
		select {
		case <-w.stop:
			return
		case _, ok := <-w.notifier.Events:
			if !ok {
				return
			}
			settled.Reset(w.settle)
		case err, ok := <-w.notifier.Errors:
			if !ok {
				return
			}
			if w.onError != nil {
				w.onError(err)
			}
		case <-settled.C:
			w.compare()
		case <-ticker.C:
			w.compare()
		}
	}
}

// compare calls onChange if any file's content differs from the last
// comparison.
func (w *Watcher) compare() {
	changed := false
	for _, p := range w.paths {
		sum := fingerprint(p)
		if sum != w.sums[p] {
			w.sums[p] = sum
			changed = true
		}
	}
	if changed {
		w.onChange()
	}
}

// fingerprint returns the SHA-256 of the file's content, following
// symlinks. A missing or unreadable file gets the zero value.
func fingerprint(path string) [sha256.Size]byte {
	f, err := os.Open(path)
	if err != nil {
		return [sha256.Size]byte{}
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, maxFileSize)); err != nil {
		return [sha256.Size]byte{}
	}
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

func valueOr(d, fallback time.Duration) time.Duration {
	if d <= 0 {
		return fallback
	}
	return d
}
