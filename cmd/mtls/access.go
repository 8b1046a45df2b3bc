package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/server"
	"github.com/grpc-mtls/grpc-mtls/server/authz"
)

// repeatedLogInterval is how often the same warning about one peer or
// one CRL is logged; the lines in between are counted.
const repeatedLogInterval = time.Minute

// ruleFlag collects a repeated flag whose values may contain commas. From
// the environment, one value per line.
type ruleFlag struct{ values []string }

func (r *ruleFlag) String() string { return strings.Join(r.values, " ") }

func (r *ruleFlag) Set(s string) error {
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			r.values = append(r.values, line)
		}
	}
	return nil
}

// accessFlags are the serve flags that decide which clients get in:
// authorization policy, revocation and migration mode.
type accessFlags struct {
	allow, deny            ruleFlag
	policyFile             string
	crls                   listFlag
	crlStale               string
	allowMissingClientCert bool
}

func (a *accessFlags) register(fs *flag.FlagSet) {
	fs.Var(&a.allow, "allow", "authorization rule PRINCIPAL[,...]=METHOD[,...], repeatable, such as 'spiffe://grpc-mtls.local/client=/mtls.v1.DemoService/*'; once any rule is given, calls no rule allows are denied")
	fs.Var(&a.deny, "deny", "rule that denies matching calls even if an --allow rule matches, repeatable, same syntax as --allow")
	fs.StringVar(&a.policyFile, "policy", "", "YAML authorization policy file, reloaded when it changes (instead of --allow/--deny)")
	fs.Var(&a.crls, "crl", "CRL file to check client certificates against, comma-separated or repeated, reloaded when it changes")
	fs.StringVar(&a.crlStale, "crl-stale", string(pki.StaleWarn), "what to do with a CRL past its next-update: warn (keep using it and log) or reject (refuse its CA's clients)")
	fs.BoolVar(&a.allowMissingClientCert, "allow-missing-client-cert", false, "migration mode: admit clients without a certificate as anonymous callers, logged and counted (weakens mTLS; off by default)")
}

func (a *accessFlags) validate() error {
	if a.policyFile != "" && (len(a.allow.values) > 0 || len(a.deny.values) > 0) {
		return errors.New("--policy and --allow/--deny both given: put every rule in the policy file, or use only flags")
	}
	if len(a.deny.values) > 0 && len(a.allow.values) == 0 {
		return errors.New("--deny without --allow: a policy needs at least one --allow rule, since it denies whatever no rule allows")
	}
	if _, err := pki.ParseStalePolicy(a.crlStale); err != nil {
		return fmt.Errorf("--crl-stale: %w", err)
	}
	return nil
}

// tlsOptions returns opts with the client certificate requirement that
// migration mode needs.
func (a *accessFlags) tlsOptions(opts pki.TLSOptions) pki.TLSOptions {
	opts.AllowMissingClientCert = a.allowMissingClientCert
	return opts
}

// apply installs the revocation check into cfg and the authorizer and
// migration mode into opts. The returned function stops the file watchers.
func (a *accessFlags) apply(cfg *tls.Config, ts *pki.Truststore, opts *server.Options, log *slog.Logger) (func(), error) {
	var closers []func() error
	stop := func() {
		for _, c := range closers {
			_ = c()
		}
	}
	authorizer, closeAuthz, err := a.authorizer(log)
	if err != nil {
		return nil, err
	}
	if closeAuthz != nil {
		closers = append(closers, closeAuthz)
	}
	if authorizer != nil {
		opts.Authorizer = authorizer
		opts.OnPermissionDenied = logPermissionDenied(log)
	}
	if len(a.crls.values) > 0 {
		crls, err := a.watchCRLs(ts, log)
		if err != nil {
			stop()
			return nil, err
		}
		closers = append(closers, crls.Close)
		stale, _ := pki.ParseStalePolicy(a.crlStale)
		cfg.VerifyConnection = chainVerifyConnection(cfg.VerifyConnection,
			pki.RevocationCheck(crls.Current, pki.RevocationOptions{Stale: stale, OnStale: logStaleCRL(log, stale)}))
	}
	if a.allowMissingClientCert {
		opts.Migration = newMigration(log)
	}
	return stop, nil
}

// chainVerifyConnection returns a check that runs first and then next,
// so that the revocation check keeps a check already on the config.
func chainVerifyConnection(first, next func(tls.ConnectionState) error) func(tls.ConnectionState) error {
	if first == nil {
		return next
	}
	return func(cs tls.ConnectionState) error {
		if err := first(cs); err != nil {
			return err
		}
		return next(cs)
	}
}

func (a *accessFlags) authorizer(log *slog.Logger) (server.Authorizer, func() error, error) {
	if a.policyFile != "" {
		policy, err := authz.WatchFile(a.policyFile, authz.WatchOptions{OnReload: logPolicyReload(log)})
		if err != nil {
			return nil, nil, fmt.Errorf("--policy: %w", err)
		}
		log.Info("authorization policy loaded: calls no rule allows are denied", "path", a.policyFile, "rules", len(policy.Policy().Rules()))
		return policy, policy.Close, nil
	}
	if len(a.allow.values) == 0 {
		log.Info("no authorization policy: every client with a verified certificate may call every method")
		return nil, nil, nil
	}
	policy, err := authz.FromFlags(a.allow.values, a.deny.values)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range policy.Rules() {
		log.Info("authorization rule", "rule", r.String())
	}
	return policy, nil, nil
}

// NOTE: CRL signatures are checked against ts as loaded at startup, also
// when the CRL files reload.
func (a *accessFlags) watchCRLs(ts *pki.Truststore, log *slog.Logger) (*pki.CRLWatcher, error) {
	crls, err := pki.WatchCRLs(a.crls.values, ts, pki.CRLWatchOptions{OnReload: logCRLReload(log)})
	if err != nil {
		return nil, fmt.Errorf("--crl: %w", err)
	}
	for _, c := range crls.Current().CRLs() {
		logCRL(log, "CRL loaded", c)
	}
	return crls, nil
}

func logCRL(log *slog.Logger, msg string, c *pki.CRL) {
	log.Info(msg, "path", c.Path, "issuer", c.Issuer.Subject.String(), "number", c.List.Number.String(),
		"revoked", len(c.List.RevokedCertificateEntries), "next_update", c.List.NextUpdate.Format(time.RFC3339))
}

func logPermissionDenied(log *slog.Logger) func(server.Denial) {
	return func(d server.Denial) {
		log.Warn("permission denied", "peer", addrOf(d.Peer.Addr), "caller", d.Decision.Principal, "serial", d.Peer.Identity.Serial,
			"method", d.Method, "reason", d.Decision.Reason)
	}
}

func logPolicyReload(log *slog.Logger) func(authz.Reload) {
	return func(r authz.Reload) {
		if r.Err != nil {
			log.Error("rejected the changed authorization policy, keeping the previous one: fix the file", "path", r.Path, "error", r.Err.Error())
			return
		}
		log.Info("authorization policy reloaded", "path", r.Path, "rules", len(r.Policy.Rules()))
	}
}

func logCRLReload(log *slog.Logger) func(pki.CRLReload) {
	return func(r pki.CRLReload) {
		if r.Err != nil {
			log.Error("rejected the changed CRLs, keeping the previous ones: fix or republish the file", "error", r.Err.Error())
			return
		}
		for _, c := range r.Set.CRLs() {
			logCRL(log, "CRL reloaded", c)
		}
	}
}

func logStaleCRL(log *slog.Logger, stale pki.StalePolicy) func(pki.StaleCRLUse) {
	limiter := newLogLimiter(repeatedLogInterval)
	return func(u pki.StaleCRLUse) {
		ok, suppressed := limiter.allow(u.CRL.Path)
		if !ok {
			return
		}
		msg := "CRL is past its next update; still rejecting the serials it lists: publish a fresh one with 'mtls pki crl'"
		if u.Rejected {
			msg = "CRL is past its next update; rejecting every client of its CA (--crl-stale=reject): publish a fresh one with 'mtls pki crl'"
		}
		log.Warn(msg, "path", u.CRL.Path, "issuer", u.CRL.Issuer.Subject.String(),
			"next_update", u.CRL.List.NextUpdate.Format(time.RFC3339), "crl_stale", string(stale), "repeats_not_logged", suppressed)
	}
}

// newMigration returns migration mode with its per-connection log line,
// at most one per client host per repeatedLogInterval.
func newMigration(log *slog.Logger) *server.Migration {
	limiter := newLogLimiter(repeatedLogInterval)
	m := &server.Migration{}
	m.OnAnonymousConnection = func(addr net.Addr) {
		ok, suppressed := limiter.allow(peerHost(addr))
		if !ok {
			return
		}
		log.Warn("MIGRATION MODE: admitted a client without a certificate as anonymous", "peer", addrOf(addr),
			"anonymous_connections", m.AnonymousConnections(), "repeats_not_logged", suppressed)
	}
	log.Warn("MIGRATION MODE is on (--allow-missing-client-cert): clients without a certificate are admitted as anonymous callers; " +
		"certificates that are presented are still verified. Turn it off once every client sends a certificate.")
	return m
}
