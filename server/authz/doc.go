// Package authz decides which verified clients may call which gRPC
// methods.
//
// A certificate signed by a trusted CA proves who a client is, not what it
// may do. A Policy closes that gap: it is a list of allow rules and deny
// rules, each naming principals (who) and methods (what). A call is denied
// if a deny rule matches it, allowed if an allow rule matches it, and
// denied otherwise: once a policy is given, anything it does not allow is
// denied.
//
// Principals are written as:
//
//	spiffe://grpc-mtls.local/client    the client's SPIFFE ID (its spiffe:// URI SAN)
//	spiffe://grpc-mtls.local/team/**   every SPIFFE ID under /team/ (path prefix)
//	uri:https://example.org/billing    any URI SAN
//	dns:*.billing.internal             any DNS SAN, case-insensitive
//	cn:billing-*                       the subject common name
//	*                                  any client with a verified certificate
//	anonymous                          a client without a certificate, which
//	                                   only a server in migration mode admits
//
// Methods are written as "/package.Service/Method", "/package.Service/*"
// or "*" for every method. In both, "*" matches any run of characters
// within one segment (a DNS label, or a path segment of a URI or method),
// and "**" matches across segments. In a common name "*" matches anything.
//
// A policy comes from flags (ParseFlagRule: "PRINCIPAL,...=METHOD,...")
// or from a YAML file (LoadFile, WatchFile), and is compiled once, so a
// call costs a few string comparisons and precompiled regular expressions:
//
//	allow:
//	  - name: demo-client
//	    principals: ["spiffe://grpc-mtls.local/client"]
//	    methods: ["/mtls.v1.DemoService/*", "/grpc.health.v1.Health/*"]
//	deny:
//	  - name: no-guests-anywhere
//	    principals: ["spiffe://grpc-mtls.local/guest"]
//	    methods: ["*"]
//
// A *Policy and a *FilePolicy are server.Authorizers:
//
//	policy, err := authz.LoadFile("policy.yaml")
//	if err != nil { ... }
//	srv := server.New(cfg, server.Options{Authorizer: policy})
package authz
