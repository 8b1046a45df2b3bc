package faults

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // deliberately weak signatures for the lab
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

// Object identifiers of the SHA-1 signature algorithms (RFC 3279).
var (
	oidSHA1WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	oidECDSAWithSHA1 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}
)

// certificate and tbsCertificate mirror RFC 5280 section 4.1, keeping
// every part that is not rewritten as raw DER.
type certificate struct {
	TBSCertificate     asn1.RawValue
	SignatureAlgorithm pkix.AlgorithmIdentifier
	SignatureValue     asn1.BitString
}

type tbsCertificate struct {
	Version            int `asn1:"optional,explicit,default:0,tag:0"`
	SerialNumber       *big.Int
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Issuer             asn1.RawValue
	Validity           asn1.RawValue
	Subject            asn1.RawValue
	PublicKey          asn1.RawValue
	Extensions         asn1.RawValue `asn1:"optional,explicit,tag:3"`
}

// rewrite changes the serial number or signature algorithm of a DER
// certificate and signs it again with signer.
func rewrite(der []byte, signer crypto.Signer, sha1Signature, negativeSerial bool) ([]byte, error) {
	var cert certificate
	if rest, err := asn1.Unmarshal(der, &cert); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("decode certificate for rewriting: %v", err)
	}
	var tbs tbsCertificate
	if rest, err := asn1.Unmarshal(cert.TBSCertificate.FullBytes, &tbs); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("decode TBSCertificate for rewriting: %v", err)
	}
	if negativeSerial {
		tbs.SerialNumber = new(big.Int).Neg(tbs.SerialNumber)
	}
	hash := crypto.SHA256
	if sha1Signature {
		alg, err := sha1Algorithm(signer)
		if err != nil {
			return nil, err
		}
		tbs.SignatureAlgorithm, cert.SignatureAlgorithm, hash = alg, alg, crypto.SHA1
	} else if _, ok := signer.Public().(*ecdsa.PublicKey); !ok {
		if _, ok := signer.Public().(*rsa.PublicKey); !ok {
			// Ed25519 signs the message itself, not a digest.
			hash = crypto.Hash(0)
		}
	}
	tbsDER, err := asn1.Marshal(tbs)
	if err != nil {
		return nil, fmt.Errorf("encode rewritten TBSCertificate: %w", err)
	}
	sig, err := signTBS(signer, tbsDER, hash)
	if err != nil {
		return nil, err
	}
	cert.TBSCertificate = asn1.RawValue{FullBytes: tbsDER}
	cert.SignatureValue = asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}
	return asn1.Marshal(cert)
}

func sha1Algorithm(signer crypto.Signer) (pkix.AlgorithmIdentifier, error) {
	switch signer.Public().(type) {
	case *rsa.PublicKey:
		return pkix.AlgorithmIdentifier{Algorithm: oidSHA1WithRSA, Parameters: asn1.NullRawValue}, nil
	case *ecdsa.PublicKey:
		return pkix.AlgorithmIdentifier{Algorithm: oidECDSAWithSHA1}, nil
	}
	return pkix.AlgorithmIdentifier{}, fmt.Errorf("SHA-1 signature: the issuer's %s key cannot sign with SHA-1: use an RSA or ECDSA CA", pki.DescribeKey(signer))
}

func signTBS(signer crypto.Signer, tbs []byte, hash crypto.Hash) ([]byte, error) {
	digest := tbs
	switch hash {
	case crypto.SHA1:
		sum := sha1.Sum(tbs) //nolint:gosec // the point of this defect
		digest = sum[:]
	case crypto.SHA256:
		h := hash.New()
		h.Write(tbs)
		digest = h.Sum(nil)
	}
	sig, err := signer.Sign(rand.Reader, digest, hash)
	if err != nil {
		return nil, fmt.Errorf("sign rewritten certificate: %w", err)
	}
	return sig, nil
}

// parseLenient parses der. Go rejects a certificate with a negative
// serial number, so for one, parseLenient parses the same certificate with
// the serial made positive and then puts the faulty DER in Raw and the
// negative serial in SerialNumber. The result can still be written to
// files and sent in handshakes.
func parseLenient(der []byte) (*x509.Certificate, error) {
	cert, err := x509.ParseCertificate(der)
	if err == nil {
		return cert, nil
	}
	var c certificate
	var tbs tbsCertificate
	if _, uerr := asn1.Unmarshal(der, &c); uerr != nil {
		return nil, err
	}
	if _, uerr := asn1.Unmarshal(c.TBSCertificate.FullBytes, &tbs); uerr != nil || tbs.SerialNumber.Sign() >= 0 {
		return nil, err
	}
	negative := new(big.Int).Set(tbs.SerialNumber)
	tbs.SerialNumber.Neg(tbs.SerialNumber)
	tbsDER, merr := asn1.Marshal(tbs)
	if merr != nil {
		return nil, err
	}
	c.TBSCertificate = asn1.RawValue{FullBytes: tbsDER}
	positiveDER, merr := asn1.Marshal(c)
	if merr != nil {
		return nil, err
	}
	cert, perr := x509.ParseCertificate(positiveDER)
	if perr != nil {
		return nil, errors.Join(err, perr)
	}
	cert.Raw = der
	cert.SerialNumber = negative
	return cert, nil
}
