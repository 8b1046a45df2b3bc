package reload

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

// Defaults of Options.
const (
	// DefaultInterval is how often the files are re-read when no
	// file-system notification arrives: often enough that a missed
	// notification delays a rotation by at most half a minute, rarely
	// enough that reading a few kilobytes costs nothing.
	DefaultInterval = 30 * time.Second
	// DefaultDebounce is how long to wait after the first notification
	// before reading, so that a certificate and key written one after the
	// other are read together.
	DefaultDebounce = 100 * time.Millisecond
)

// consistentReadAttempts bounds how often a check re-reads files that
// change while they are being loaded.
const consistentReadAttempts = 3

// Options configures Load and New. Role is required; every other field is
// optional.
type Options struct {
	// Role is the side the files are for: pki.RoleServer or pki.RoleClient.
	// It selects the extended key usage the certificate must carry and the
	// kind of tls.Config built.
	Role pki.Role
	// ServerName is, on a client, the name the server's certificate must
	// contain. Empty lets gRPC use the host part of the dialed address.
	ServerName string
	// TLS holds the settings shared with pki.ServerTLSConfig and
	// pki.ClientTLSConfig.
	TLS pki.TLSOptions
	// VerifyConnection, when set, runs after crypto/tls has verified the
	// peer's chain against the current truststore, for every handshake,
	// resumed ones included. Returning an error aborts the handshake. Use
	// it for checks such as revocation or identity rules.
	VerifyConnection func(tls.ConnectionState) error
	// SkipChainCheck drops the rule that the certificate chains to the
	// truststore of its own set. Set it where a side's certificate comes
	// from a CA other than the one it trusts for peers, for example a
	// server certificate from a public CA and a private client CA.
	SkipChainCheck bool

	// Interval is how often Run re-reads the files as a fallback to
	// file-system notifications. Zero means DefaultInterval, and a negative
	// value turns the periodic check off.
	Interval time.Duration
	// Debounce is how long Run waits after a notification before reading;
	// zero means DefaultDebounce.
	Debounce time.Duration
	// OnReload is called after every check that found the files changed.
	// Event.Err is nil when the new set is in use. Otherwise it holds the
	// reason for the rejection, and the previous set stays in use. It
	// is also called when the file-system watcher fails. Calls come from
	// one goroutine at a time.
	OnReload func(Event)
	// Now is the clock the validity checks use; nil means time.Now.
	Now func() time.Time

	// disableNotify makes Run rely on the periodic check alone, for tests
	// of that fallback.
	disableNotify bool
	// watching, when set, is called once Run watches the directories, so
	// tests know that a change from then on is noticed.
	watching func()
}

func (o Options) withDefaults() (Options, error) {
	if o.Role != pki.RoleServer && o.Role != pki.RoleClient {
		return o, fmt.Errorf("reload: role %q is neither %q nor %q", o.Role, pki.RoleServer, pki.RoleClient)
	}
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.Debounce <= 0 {
		o.Debounce = DefaultDebounce
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// Trigger is the event that started a check.
type Trigger string

// Triggers of a check.
const (
	TriggerNotify   Trigger = "notify"
	TriggerInterval Trigger = "interval"
	TriggerManual   Trigger = "manual"
)

// Event reports one check that found changed files, or a watcher failure.
type Event struct {
	Trigger Trigger
	// Paths are the files of the set.
	Paths []string
	// Current is the set in use after the check: the new one on success,
	// the previous one when the new set was rejected.
	Current *Material
	// Previous is the set that was in use before the check.
	Previous *Material
	// Err is nil when the new set is in use. Otherwise it is the reason
	// the new set was rejected, naming the file, and Reason holds its code.
	Err    error
	Reason Reason
}

// Watcher holds the last good set of one side's files and replaces it when
// the files change. Its methods are safe for concurrent use.
type Watcher struct {
	files Files
	opts  Options
	paths []string

	current atomic.Pointer[Material]
	// outer is the server config handed to listeners; it picks the
	// current set per handshake and holds the session ticket keys.
	outer *tls.Config

	// mu serializes checks and guards lastKey.
	mu sync.Mutex
	// lastKey identifies the content of the last check, so that an
	// unchanged file set, good or bad, is neither reloaded nor reported
	// again.
	lastKey string
	// lastReason is the rejection reason of the last check, if any.
	lastReason Reason

	running atomic.Bool
}

// New loads files, checks them as Load does and returns a Watcher serving
// them. It fails when the initial set is rejected. Call Run to follow
// changes.
func New(files Files, opts Options) (*Watcher, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	w := &Watcher{files: files, opts: opts, paths: files.Paths()}
	m, key, err := w.loadConsistent()
	if err != nil {
		return nil, fmt.Errorf("load %s certificate set: %w", opts.Role, err)
	}
	if opts.Role == pki.RoleServer {
		w.outer = &tls.Config{
			MinVersion:             m.server.MinVersion,
			SessionTicketsDisabled: opts.TLS.DisableSessionResumption,
			GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
				return w.current.Load().server, nil
			},
		}
	}
	w.lastKey = key
	if err := w.publish(m); err != nil {
		return nil, err
	}
	return w, nil
}

// Current returns the set in use.
func (w *Watcher) Current() *Material { return w.current.Load() }

// ServerTLSConfig returns the config for a server Watcher's listener. It
// presents the current certificate and accepts clients by the current
// truststore, both taken from the same set for each handshake. Do not
// modify it. It returns nil for a client Watcher.
func (w *Watcher) ServerTLSConfig() *tls.Config { return w.outer }

// ClientTLSConfig returns the config of the current set for a client
// Watcher, or nil for a server Watcher. Call it for every new connection
// and do not modify the result. It returns the same pointer until the set
// changes.
func (w *Watcher) ClientTLSConfig() *tls.Config { return w.current.Load().client }

// Reload checks the files now, as a notification would. It returns nil
// when the set was swapped in or has not changed since the last check, and
// the rejection otherwise; OnReload is called as for any check. Files
// rejected as not yet valid are checked again at every check until their
// validity starts.
func (w *Watcher) Reload() error {
	return w.check(TriggerManual)
}

func (w *Watcher) check(trigger Trigger) error {
	w.mu.Lock()
	defer w.mu.Unlock()

	m, key, err := w.loadConsistent()
	// Unchanged files are checked again only while they were rejected as
	// not yet valid, the one rejection that time alone can lift.
	if key == w.lastKey && (w.lastReason != ReasonNotYetValid || ReasonOf(err) == ReasonNotYetValid) {
		return nil
	}
	w.lastKey, w.lastReason = key, ReasonOf(err)
	prev := w.current.Load()
	if err == nil && m.digest == prev.digest {
		// The files went back to the set in use, after a rejected change.
		return nil
	}
	if err == nil {
		err = w.publish(m)
	}
	if err != nil {
		w.report(Event{Trigger: trigger, Paths: w.paths, Current: prev, Previous: prev, Err: err, Reason: ReasonOf(err)})
		return err
	}
	w.report(Event{Trigger: trigger, Paths: w.paths, Current: m, Previous: prev})
	return nil
}

func (w *Watcher) report(e Event) {
	if w.opts.OnReload != nil {
		w.opts.OnReload(e)
	}
}

// publish makes m the set new handshakes use.
func (w *Watcher) publish(m *Material) error {
	if m.server != nil && !w.opts.TLS.DisableSessionResumption {
		if err := bindTickets(m.server, w.outer); err != nil {
			return reject(ReasonLoadFailed, err)
		}
	}
	w.current.Store(m)
	return nil
}

// loadConsistent loads the set and makes sure the files did not change
// while it did, by hashing them before and after. The key it returns
// identifies what was read: the hash of the contents, or the read error.
func (w *Watcher) loadConsistent() (*Material, string, error) {
	for range consistentReadAttempts {
		before, err := digestFiles(w.paths)
		if err != nil {
			return nil, "error: " + err.Error(), reject(ReasonLoadFailed, err)
		}
		m, loadErr := load(w.files, w.opts)
		after, err := digestFiles(w.paths)
		if err != nil || after != before {
			continue
		}
		key := hex.EncodeToString(before[:])
		if loadErr != nil {
			return nil, key, loadErr
		}
		m.digest = before
		return m, key, nil
	}
	err := fmt.Errorf("the files %s changed every time they were read (%d attempts): write them atomically, for example by renaming a finished file over the old one", strings.Join(w.paths, ", "), consistentReadAttempts)
	return nil, "changing", reject(ReasonFilesChanging, err)
}

// digestFiles hashes the paths and contents of files, each prefixed with
// its length so that moving bytes between files changes the hash.
func digestFiles(paths []string) ([32]byte, error) {
	h := sha256.New()
	for _, p := range paths {
		data, err := pki.ReadFile(p)
		if err != nil {
			return [32]byte{}, err
		}
		for _, part := range [][]byte{[]byte(p), data} {
			_ = binary.Write(h, binary.BigEndian, uint64(len(part)))
			h.Write(part)
		}
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum, nil
}

// ticketTagPrefix marks the session-ticket field that names the set a
// ticket was issued under.
const ticketTagPrefix = "grpc-mtls reload set "

// bindTickets makes session tickets from cfg valid only while cfg's set is
// in use. A resumed session skips the certificates, so without this a
// client resuming after a reload would keep the server certificate of the
// old set, and the server would keep the client's old certificate.
// Tickets are encrypted with keeper's automatically rotated keys.
func bindTickets(cfg, keeper *tls.Config) error {
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return fmt.Errorf("generate session ticket tag: %w", err)
	}
	tag := append([]byte(ticketTagPrefix), id...)

	cfg.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		ss.Extra = append(ss.Extra, tag)
		return keeper.EncryptTicket(cs, ss)
	}
	cfg.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		ss, err := keeper.DecryptTicket(identity, cs)
		if err != nil || ss == nil {
			return nil, err
		}
		for _, extra := range ss.Extra {
			if string(extra) == string(tag) {
				return ss, nil
			}
		}
		// Issued under another set: make a full handshake instead.
		return nil, nil
	}
	return nil
}

// errAlreadyRunning is returned by a second concurrent Run.
var errAlreadyRunning = errors.New("reload: Run is already running on this Watcher")
