package pki

import (
	"time"

	"github.com/grpc-mtls/grpc-mtls/internal/filewatch"
)

// CRLReload describes one attempt to reload CRL files after a change.
type CRLReload struct {
	// Set is the set now in force: the new one, or the previous one when
	// Err is set.
	Set *CRLSet
	// Err is the reason the new files were rejected.
	Err error
}

// CRLWatchOptions configures WatchCRLs. Every field is optional.
type CRLWatchOptions struct {
	// OnReload is called after each reload attempt that a change of a
	// file triggered.
	OnReload func(CRLReload)
	// PollInterval is the period of the fallback check for changes;
	// default filewatch.DefaultPollInterval.
	PollInterval time.Duration
}

// CRLWatcher holds CRLs loaded from files and loads them again when a
// file changes. New files that do not load, or whose signature does not
// verify, leave the previous set in force.
type CRLWatcher struct {
	value *filewatch.Value[CRLSet]
}

// WatchCRLs loads the CRLs in paths, checking each against trust (see
// LoadCRL), and watches the files. It fails if the first load fails.
func WatchCRLs(paths []string, trust *Truststore, opts CRLWatchOptions) (*CRLWatcher, error) {
	var onReload func(*CRLSet, error)
	if opts.OnReload != nil {
		onReload = func(set *CRLSet, err error) { opts.OnReload(CRLReload{Set: set, Err: err}) }
	}
	load := func() (*CRLSet, error) { return LoadCRLs(paths, trust) }
	value, err := filewatch.NewValue(paths, filewatch.Options{PollInterval: opts.PollInterval}, load, onReload)
	if err != nil {
		return nil, err
	}
	return &CRLWatcher{value: value}, nil
}

// Current returns the CRL set in force. Pass it to RevocationCheck.
func (w *CRLWatcher) Current() *CRLSet { return w.value.Load() }

// Reload loads the files again; see CRLWatcher.
func (w *CRLWatcher) Reload() error { return w.value.Reload() }

// Close stops watching. The set in force stays usable.
func (w *CRLWatcher) Close() error { return w.value.Close() }
