package authz

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/grpc-mtls/grpc-mtls/server"
)

// pattern is a compiled glob. Without wildcards it compares strings.
type pattern struct {
	exact string
	re    *regexp.Regexp
}

// compileGlob compiles text, in which "**" matches any run of characters
// and "*" any run without separator. A zero separator makes "*" match
// anything too.
func compileGlob(text string, separator byte) (pattern, error) {
	if !strings.Contains(text, "*") {
		return pattern{exact: text}, nil
	}
	single := ".*"
	if separator != 0 {
		single = "[^" + regexp.QuoteMeta(string(separator)) + "]*"
	}
	var expr strings.Builder
	expr.WriteString("^")
	for rest := text; rest != ""; {
		switch {
		case strings.HasPrefix(rest, "**"):
			expr.WriteString(".*")
			rest = rest[2:]
		case rest[0] == '*':
			expr.WriteString(single)
			rest = rest[1:]
		default:
			literal, _, _ := strings.Cut(rest, "*")
			expr.WriteString(regexp.QuoteMeta(literal))
			rest = rest[len(literal):]
		}
	}
	expr.WriteString("$")
	re, err := regexp.Compile(expr.String())
	if err != nil {
		return pattern{}, fmt.Errorf("compile pattern %q: %w", text, err)
	}
	return pattern{re: re}, nil
}

func (p pattern) match(s string) bool {
	if p.re == nil {
		return s == p.exact
	}
	return p.re.MatchString(s)
}

// principalKind is the part of the client certificate a selector reads.
type principalKind int

const (
	kindAnyVerified principalKind = iota
	kindAnonymous
	kindSPIFFE
	kindURI
	kindDNS
	kindCommonName
)

// Principal selector prefixes, and the special selectors.
const (
	prefixURI         = "uri:"
	prefixDNS         = "dns:"
	prefixCommonName  = "cn:"
	prefixSPIFFE      = "spiffe://"
	selectorAny       = "*"
	selectorAnonymous = "anonymous"
)

// principalSelector matches callers by one kind of name.
type principalSelector struct {
	text    string
	kind    principalKind
	pattern pattern
}

const principalSyntax = `use spiffe://TRUST-DOMAIN/PATH, uri:URI, dns:NAME, cn:NAME, "*" (any verified client) or "anonymous"`

func parsePrincipal(text string) (principalSelector, error) {
	sel := principalSelector{text: text}
	var glob string
	var separator byte
	switch {
	case text == selectorAny:
		sel.kind = kindAnyVerified
		return sel, nil
	case text == selectorAnonymous:
		sel.kind = kindAnonymous
		return sel, nil
	case strings.HasPrefix(text, prefixSPIFFE):
		trustDomain, _, _ := strings.Cut(strings.TrimPrefix(text, prefixSPIFFE), "/")
		if trustDomain == "" || trustDomain != strings.ToLower(trustDomain) {
			return sel, fmt.Errorf("principal %q: a SPIFFE ID needs a lowercase trust domain, such as spiffe://grpc-mtls.local/client", text)
		}
		sel.kind, glob, separator = kindSPIFFE, text, '/'
	case strings.HasPrefix(text, prefixURI):
		sel.kind, glob, separator = kindURI, strings.TrimPrefix(text, prefixURI), '/'
	case strings.HasPrefix(text, prefixDNS):
		// DNS names compare case-insensitively (RFC 4343).
		sel.kind, glob, separator = kindDNS, strings.ToLower(strings.TrimPrefix(text, prefixDNS)), '.'
	case strings.HasPrefix(text, prefixCommonName):
		sel.kind, glob = kindCommonName, strings.TrimPrefix(text, prefixCommonName)
	default:
		return sel, fmt.Errorf("principal %q: %s", text, principalSyntax)
	}
	if glob == "" {
		return sel, fmt.Errorf("principal %q: the name after the prefix is empty: %s", text, principalSyntax)
	}
	p, err := compileGlob(glob, separator)
	if err != nil {
		return sel, fmt.Errorf("principal %q: %w", text, err)
	}
	sel.pattern = p
	return sel, nil
}

// match returns the name of peer that the selector matched.
func (sel principalSelector) match(peer server.Peer) (string, bool) {
	if peer.Anonymous() {
		return selectorAnonymous, sel.kind == kindAnonymous
	}
	id := peer.Identity
	switch sel.kind {
	case kindAnyVerified:
		return id.Name(), true
	case kindSPIFFE:
		if spiffeID := id.SPIFFEID(); spiffeID != "" && sel.pattern.match(spiffeID) {
			return spiffeID, true
		}
	case kindURI:
		return firstMatch(sel.pattern, id.URIs, false)
	case kindDNS:
		return firstMatch(sel.pattern, id.DNSNames, true)
	case kindCommonName:
		if id.CommonName != "" && sel.pattern.match(id.CommonName) {
			return id.CommonName, true
		}
	}
	return "", false
}

func firstMatch(p pattern, names []string, foldCase bool) (string, bool) {
	for _, name := range names {
		candidate := name
		if foldCase {
			candidate = strings.ToLower(name)
		}
		if p.match(candidate) {
			return name, true
		}
	}
	return "", false
}

const methodSyntax = "use /package.Service/Method, /package.Service/* or * for every method"

// parseMethod compiles a method pattern. "*" and "**" match every method.
func parseMethod(text string) (pattern, error) {
	if text == "*" || text == "**" {
		return compileGlob("**", '/')
	}
	if !strings.HasPrefix(text, "/") || strings.Count(text, "/") != 2 || strings.HasSuffix(text, "/") {
		return pattern{}, fmt.Errorf("method %q: %s", text, methodSyntax)
	}
	p, err := compileGlob(text, '/')
	if err != nil {
		return pattern{}, fmt.Errorf("method %q: %w", text, err)
	}
	return p, nil
}
