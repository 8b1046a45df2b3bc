package doctor

import (
	"fmt"
	"sort"
	"sync"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"
)

// lintSources are the zlint sources the doctor runs. The RFC lints check
// the encoding and profile every X.509 verifier relies on, so they apply
// to a private PKI as much as to the public web. The CA/Browser Forum
// Baseline Requirements add sound rules on keys, signatures, serials and
// validity, minus the public-web policies in skippedLints. Other sources
// (S/MIME, code signing, EV, ETSI and the browser root programs) apply
// only to publicly trusted CAs of those kinds.
var lintSources = lint.SourceList{
	lint.RFC3279, lint.RFC5280, lint.RFC5480, lint.RFC5891, lint.RFC8813,
	lint.CABFBaselineRequirements, lint.Community,
}

// skippedLints are Baseline Requirements lints that encode how publicly
// trusted CAs must run, not how certificates must look to work: a
// healthy private PKI fails them by design.
var skippedLints = map[string]string{
	// Names: private PKIs name services "server" or "localhost" and
	// listen on loopback and private addresses.
	"e_dnsname_not_valid_tld":            "private DNS names have no public suffix",
	"n_san_iana_pub_suffix_empty":        "private DNS names have no public suffix",
	"e_ext_san_contains_reserved_ip":     "loopback and private IP SANs are normal inside a private network",
	"w_subject_common_name_included":     "a Common Name is harmless next to SANs",
	"e_subject_common_name_not_from_san": "the Common Name is a label here, not a host name",
	// Revocation and policy infrastructure of public CAs.
	"e_missing_crl_distrib_point":                             "short-lived private certificates may go without CRLs",
	"e_sub_cert_aia_missing":                                  "no AIA service in a private PKI",
	"w_sub_cert_aia_does_not_contain_issuing_ca_url":          "no AIA service in a private PKI",
	"e_sub_cert_aia_does_not_contain_ocsp_url":                "no OCSP responder in a private PKI",
	"e_sub_cert_certificate_policies_missing":                 "policy OIDs name public validation levels",
	"e_sub_cert_cert_policy_empty":                            "policy OIDs name public validation levels",
	"w_ext_subject_key_identifier_not_recommended_subscriber": "a subject key identifier helps chain building and does no harm",
	// Subject fields public CAs must vet.
	"e_ca_country_name_missing":      "a private CA's subject identifies it to its operators only",
	"e_ca_organization_name_missing": "a private CA's subject identifies it to its operators only",
	// A path length of 0 on the root keeps it from signing intermediates,
	// which is what a single-tier private PKI wants.
	"w_root_ca_basic_constraints_path_len_constraint_field_present": "path length 0 on the root is deliberate",
	"n_ca_digital_signature_not_set":                                "the CA does not sign OCSP responses",
}

// skippedForEd25519 are Baseline Requirements lints that reject Ed25519
// keys. The public web does not allow Ed25519, but a private PKI between
// modern stacks may use it, and checkKey notes where it is unsupported.
var skippedForEd25519 = map[string]bool{
	"e_algorithm_identifier_improper_encoding": true,
	"e_signature_algorithm_not_supported":      true,
}

var (
	registryOnce sync.Once
	registry     lint.Registry
	registryErr  error
)

func lintRegistry() (lint.Registry, error) {
	registryOnce.Do(func() {
		registry, registryErr = lint.GlobalRegistry().Filter(lint.FilterOptions{IncludeSources: lintSources})
	})
	return registry, registryErr
}

// lint runs zlint on every certificate found and reports its warnings
// and errors. Errors of RFC lints are errors; everything else is a
// warning, since Baseline Requirements are policy rather than protocol.
func (r *Report) lint(m *material) {
	reg, err := lintRegistry()
	if err != nil {
		r.add(Finding{Severity: SeverityWarning, Check: "lint", Problem: "zlint could not be set up: " + err.Error()})
		return
	}
	seen := map[string]bool{}
	for _, in := range m.lintDER {
		if seen[string(in.der)] {
			continue
		}
		seen[string(in.der)] = true
		c, err := zx509.ParseCertificate(in.der)
		if err != nil {
			r.add(Finding{Severity: SeverityError, Check: "lint", Problem: fmt.Sprintf("a %s certificate cannot be parsed even by zlint's lenient parser: %v", in.source, err),
				Fix: "replace it with a certificate from a standard tool"})
			continue
		}
		r.lintOne(reg, c)
	}
}

func (r *Report) lintOne(reg lint.Registry, c *zx509.Certificate) {
	results := zlint.LintCertificateEx(c, reg).Results
	names := make([]string, 0, len(results))
	for name := range results {
		names = append(names, name)
	}
	sort.Strings(names)
	ref := fmt.Sprintf("%s (serial %x)", c.Subject.String(), c.SerialNumber)
	for _, name := range names {
		res := results[name]
		if _, skip := skippedLints[name]; skip {
			continue
		}
		if skippedForEd25519[name] && c.PublicKeyAlgorithm == zx509.Ed25519 {
			continue
		}
		if res.Status != lint.Warn && res.Status != lint.Error && res.Status != lint.Fatal {
			continue
		}
		l := reg.ByName(name)
		sev := SeverityWarning
		if res.Status != lint.Warn && l.Source != lint.CABFBaselineRequirements && l.Source != lint.Community {
			sev = SeverityError
		}
		problem := fmt.Sprintf("%s [%s %s]", l.Description, l.Source, l.Citation)
		if res.Details != "" {
			problem += ": " + res.Details
		}
		r.add(Finding{Severity: sev, Check: "lint:" + name, Certificate: ref, Problem: problem,
			Fix: "issue the certificate again with a profile that satisfies this rule"})
	}
}

// SkippedLints returns the Baseline Requirements lints the doctor skips
// for every certificate, each with the reason.
func SkippedLints() map[string]string {
	out := make(map[string]string, len(skippedLints))
	for k, v := range skippedLints {
		out[k] = v
	}
	return out
}
