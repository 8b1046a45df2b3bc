package authz

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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
	value *filewatch.Value[Policy]
}

// WatchFile loads the policy in path and watches the file for changes. It
// fails if the first load fails. Close stops the watching.
func WatchFile(path string, opts WatchOptions) (*FilePolicy, error) {
	var onReload func(*Policy, error)
	if opts.OnReload != nil {
		onReload = func(p *Policy, err error) { opts.OnReload(Reload{Path: path, Policy: p, Err: err}) }
	}
	value, err := filewatch.NewValue([]string{path}, filewatch.Options{PollInterval: opts.PollInterval},
		func() (*Policy, error) { return LoadFile(path) }, onReload)
	if err != nil {
		return nil, err
	}
	return &FilePolicy{value: value}, nil
}

// Reload loads the file again and swaps the new policy in if it compiles.
// It returns the load error, reports the attempt through OnReload and,
// on error, keeps the previous policy.
func (f *FilePolicy) Reload() error { return f.value.Reload() }

// Policy returns the policy in force.
func (f *FilePolicy) Policy() *Policy { return f.value.Load() }

// Authorize applies the policy in force.
func (f *FilePolicy) Authorize(peer server.Peer, method string) server.Decision {
	return f.value.Load().Authorize(peer, method)
}

// Close stops watching the file. The policy in force stays usable.
func (f *FilePolicy) Close() error { return f.value.Close() }
