package authz

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/grpc-mtls/grpc-mtls/internal/filewatch"
	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/server"
)

// Parse decodes and compiles a policy in YAML (JSON, being YAML, works
// too). Unknown keys are errors, so that a misspelt "principal" does not
// silently drop a rule.
func Parse(data []byte) (*Policy, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var spec Spec
	if err := dec.Decode(&spec); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("no policy found: the file has no YAML document")
		}
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	return Compile(spec)
}

// LoadFile reads and compiles the policy in path.
func LoadFile(path string) (*Policy, error) {
	data, err := pki.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("load policy %s: %w", path, err)
	}
	return p, nil
}

// Reload describes one attempt to reload a policy file.
type Reload struct {
	Path string
	// Policy is the policy now in force: the new one, or the previous one
	// when Err is set.
	Policy *Policy
	// Err is the reason the new file was rejected.
	Err error
}

// WatchOptions configures WatchFile. Every field is optional.
type WatchOptions struct {
	// OnReload is called after each reload attempt that a change of the
	// file triggered.
	OnReload func(Reload)
	// PollInterval is the period of the fallback check for changes;
	// default filewatch.DefaultPollInterval.
	PollInterval time.Duration
}

// FilePolicy is a policy loaded from a file and reloaded when the file
// changes. A new file that does not load leaves the previous policy in
// force. It implements server.Authorizer.
type FilePolicy struct {
	path     string
	onReload func(Reload)
	current  atomic.Pointer[Policy]
	watcher  *filewatch.Watcher
	// reloading serialises Reload, which the watcher and callers may
	// both run.
	reloading sync.Mutex
}

// WatchFile loads the policy in path and watches the file for changes. It
// fails if the first load fails. Close stops the watching.
func WatchFile(path string, opts WatchOptions) (*FilePolicy, error) {
	f := &FilePolicy{path: path, onReload: opts.OnReload}
	// The watcher starts before the first load, so that no change slips
	// between the two, and the lock makes its first Reload wait for the
	// load.
	f.reloading.Lock()
	var err error
	f.watcher, err = filewatch.New([]string{path}, filewatch.Options{PollInterval: opts.PollInterval}, func() { _ = f.Reload() })
	if err != nil {
		f.reloading.Unlock()
		return nil, fmt.Errorf("watch policy %s: %w", path, err)
	}
	p, err := LoadFile(path)
	if err == nil {
		f.current.Store(p)
	}
	f.reloading.Unlock()
	if err != nil {
		_ = f.watcher.Close()
		return nil, err
	}
	return f, nil
}

// Reload loads the file again and swaps the new policy in if it compiles.
// It returns the load error, reports the attempt through OnReload and,
// on error, keeps the previous policy.
func (f *FilePolicy) Reload() error {
	f.reloading.Lock()
	defer f.reloading.Unlock()
	p, err := LoadFile(f.path)
	if err == nil {
		f.current.Store(p)
	}
	if f.onReload != nil {
		f.onReload(Reload{Path: f.path, Policy: f.current.Load(), Err: err})
	}
	return err
}

// Policy returns the policy in force.
func (f *FilePolicy) Policy() *Policy { return f.current.Load() }

// Authorize applies the policy in force.
func (f *FilePolicy) Authorize(peer server.Peer, method string) server.Decision {
	return f.current.Load().Authorize(peer, method)
}

// Close stops watching the file. The policy in force stays usable.
func (f *FilePolicy) Close() error { return f.watcher.Close() }
