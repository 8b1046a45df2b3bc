package pki

import (
	"errors"
	"fmt"
)

// access explains rejections by the server's access control: an
// authorization policy that denies a verified client, and a CRL that
// lists the client's certificate or is stale.
func (c *cause) access() (Diagnosis, bool) {
	local, peer := string(c.local), c.peer
	switch {
	case c.has("code = PermissionDenied"):
		return Diagnosis{Reason: ReasonPermissionDenied, Side: string(RoleServer),
			Summary: "The server verified our certificate, but its authorization policy does not allow this identity to call this method.",
			Fix:     "use a client identity the policy allows, or add a rule for this identity to the server's policy (--allow or --policy)."}, true
	case errors.Is(c.err, ErrRevoked) || c.has(ErrRevoked.Error(), "remote error: tls: revoked certificate"):
		var revoked *RevokedError
		var cert *CertificateRef
		if errors.As(c.err, &revoked) {
			cert = refOf(c.peer, revoked.Certificate)
		}
		return Diagnosis{Reason: ReasonRevoked, Side: local, Certificate: cert,
			Summary: fmt.Sprintf("The %s's certificate has been revoked: a CRL from its CA lists its serial number.", peer),
			Fix:     fmt.Sprintf("issue the %s a new certificate ('mtls pki issue'); a CRL entry is permanent, so even a mistaken revocation needs a new certificate.", peer)}, true
	case errors.Is(c.err, ErrCRLStale) || c.has(ErrCRLStale.Error()):
		return Diagnosis{Reason: ReasonCRLStale, Side: local,
			Summary: "A CRL needed to check the certificate is past its next-update time, and this side rejects stale CRLs.",
			Fix:     "publish a fresh CRL with 'mtls pki crl' and install it, or run with --crl-stale=warn to accept while warning."}, true
	}
	return Diagnosis{}, false
}
