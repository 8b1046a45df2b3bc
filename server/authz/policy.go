package authz

import (
	"errors"
	"fmt"
	"strings"

	"github.com/grpc-mtls/grpc-mtls/server"
)

// Effect is the action a matching rule takes on a call.
type Effect string

// Rule effects.
const (
	Allow Effect = "allow"
	Deny  Effect = "deny"
)

// Spec is a policy as written, before Compile checks and compiles it. Its
// field tags give the YAML file format that LoadFile reads.
type Spec struct {
	Allow []RuleSpec `yaml:"allow"`
	Deny  []RuleSpec `yaml:"deny"`
}

// RuleSpec is one rule as written.
type RuleSpec struct {
	// Name is shown in denials and logs; empty means "allow #N" or
	// "deny #N", counted from 1 within its list.
	Name string `yaml:"name"`
	// Principals select callers; see the package documentation.
	Principals []string `yaml:"principals"`
	// Methods select full method names; see the package documentation.
	Methods []string `yaml:"methods"`
}

// Rule is a compiled rule.
type Rule struct {
	Name   string
	Effect Effect
	// Principals and Methods are the patterns as written.
	Principals []string
	Methods    []string

	principals []principalSelector
	methods    []pattern
	// description is String's result, made once so that decisions do not
	// format it per call.
	description string
}

// String describes the rule for messages, such as
// `allow "demo-client" (spiffe://grpc-mtls.local/client on /mtls.v1.DemoService/*)`.
func (r *Rule) String() string { return r.description }

// matchPrincipal returns the name of peer that one of the rule's
// principals matched.
func (r *Rule) matchPrincipal(peer server.Peer) (string, bool) {
	for _, sel := range r.principals {
		if name, ok := sel.match(peer); ok {
			return name, true
		}
	}
	return "", false
}

func (r *Rule) matchMethod(method string) bool {
	for _, m := range r.methods {
		if m.match(method) {
			return true
		}
	}
	return false
}

// Policy is a compiled, immutable set of rules. It is safe for concurrent
// use and implements server.Authorizer.
type Policy struct {
	allow []*Rule
	deny  []*Rule
}

// Compile checks every rule of spec and compiles its patterns. A policy
// without any allow rule is rejected, because it would deny every call.
func Compile(spec Spec) (*Policy, error) {
	if len(spec.Allow) == 0 {
		return nil, errors.New("the policy has no allow rule, so it would deny every call: add at least one allow rule")
	}
	p := &Policy{}
	var err error
	if p.allow, err = compileRules(Allow, spec.Allow); err != nil {
		return nil, err
	}
	if p.deny, err = compileRules(Deny, spec.Deny); err != nil {
		return nil, err
	}
	return p, nil
}

func compileRules(effect Effect, specs []RuleSpec) ([]*Rule, error) {
	rules := make([]*Rule, 0, len(specs))
	for i, spec := range specs {
		name := spec.Name
		if name == "" {
			name = fmt.Sprintf("%s #%d", effect, i+1)
		}
		r, err := compileRule(effect, name, spec)
		if err != nil {
			return nil, fmt.Errorf("%s rule %q: %w", effect, name, err)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func compileRule(effect Effect, name string, spec RuleSpec) (*Rule, error) {
	if len(spec.Principals) == 0 {
		return nil, fmt.Errorf("no principals: %s", principalSyntax)
	}
	if len(spec.Methods) == 0 {
		return nil, fmt.Errorf("no methods: %s", methodSyntax)
	}
	r := &Rule{Name: name, Effect: effect, Principals: spec.Principals, Methods: spec.Methods}
	r.description = fmt.Sprintf("%s %q (%s on %s)", effect, name, strings.Join(spec.Principals, ", "), strings.Join(spec.Methods, ", "))
	for _, text := range spec.Principals {
		sel, err := parsePrincipal(text)
		if err != nil {
			return nil, err
		}
		r.principals = append(r.principals, sel)
	}
	for _, text := range spec.Methods {
		m, err := parseMethod(text)
		if err != nil {
			return nil, err
		}
		r.methods = append(r.methods, m)
	}
	return r, nil
}

// Rules returns the compiled rules, deny rules first as they are
// evaluated.
func (p *Policy) Rules() []*Rule {
	return append(append([]*Rule(nil), p.deny...), p.allow...)
}

// Authorize denies the call if a deny rule matches it, allows it if an
// allow rule matches it, and denies it otherwise. A denial without a
// matching rule names an allow rule that covers the caller but not the
// method, when there is one, since that is the usual mistake.
func (p *Policy) Authorize(peer server.Peer, method string) server.Decision {
	for _, r := range p.deny {
		if name, ok := r.matchPrincipal(peer); ok && r.matchMethod(method) {
			return server.Decision{Principal: name, Rule: r.String(), Reason: "denied by rule " + r.String()}
		}
	}
	var closest *Rule
	for _, r := range p.allow {
		name, ok := r.matchPrincipal(peer)
		if !ok {
			continue
		}
		if r.matchMethod(method) {
			return server.Decision{Allowed: true, Principal: name, Rule: r.String()}
		}
		if closest == nil {
			closest = r
		}
	}
	reason := "no rule matched"
	if closest != nil {
		reason += ": rule " + closest.String() + " covers this caller but not this method"
	}
	return server.Decision{Principal: peer.Name(), Reason: reason}
}

// ParseFlagRule parses a rule written as one flag value,
// "PRINCIPAL[,PRINCIPAL...]=METHOD[,METHOD...]", such as
// "spiffe://grpc-mtls.local/client=/mtls.v1.DemoService/*". The split is
// at the last "=", since method names contain none. A name that contains a
// comma needs a policy file.
func ParseFlagRule(text string) (RuleSpec, error) {
	i := strings.LastIndex(text, "=")
	if i < 0 {
		return RuleSpec{}, fmt.Errorf("rule %q: use PRINCIPAL=METHOD, such as spiffe://grpc-mtls.local/client=/mtls.v1.DemoService/*", text)
	}
	return RuleSpec{Principals: splitList(text[:i]), Methods: splitList(text[i+1:])}, nil
}

// FromFlags compiles the rules of repeated --allow and --deny flags.
func FromFlags(allow, deny []string) (*Policy, error) {
	var spec Spec
	for _, text := range allow {
		r, err := ParseFlagRule(text)
		if err != nil {
			return nil, fmt.Errorf("--allow: %w", err)
		}
		spec.Allow = append(spec.Allow, r)
	}
	for _, text := range deny {
		r, err := ParseFlagRule(text)
		if err != nil {
			return nil, fmt.Errorf("--deny: %w", err)
		}
		spec.Deny = append(spec.Deny, r)
	}
	p, err := Compile(spec)
	if err != nil {
		return nil, fmt.Errorf("--allow/--deny: %w", err)
	}
	return p, nil
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
