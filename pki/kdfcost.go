package pki

import (
	"encoding/asn1"
	"fmt"
	"math/big"
)

// MaxKDFIterations bounds the iteration count that an encrypted private key
// or a PKCS#12 file may ask for. The file chooses the count, so without a
// bound a damaged or hostile file can keep a loader busy for hours.
// Standard tools stay far below it: this package writes 600,000, OpenSSL 3
// writes 2,048 and Java's keytool 10,000.
const MaxKDFIterations = 10_000_000

// maxScryptMemory bounds the memory, 128·N·r bytes, that scrypt parameters
// in an encrypted private key may ask for. OpenSSL's "pkcs8 -scrypt"
// defaults (N=16384, r=8) need 16 MiB.
const maxScryptMemory = 256 << 20

// maxDERDepth bounds how deep checkKDFCost follows nested DER values.
const maxDERDepth = 32

// checkKDFCost looks through DER data for password-based key derivation
// parameters and returns an error when one requires more work than the
// limits above. It recognises them by their shape, shared by PBES1, PBKDF2,
// scrypt and PKCS#12 MacData: a SEQUENCE in which an OCTET STRING (the
// salt) is followed by one or more INTEGERs. Data that is not DER is left
// to the real parser to reject.
func checkKDFCost(der []byte) error {
	return walkDER(der, MaxKDFIterations, 0)
}

func walkDER(der []byte, maxIterations int64, depth int) error {
	if depth > maxDERDepth {
		return nil
	}
	for rest := der; len(rest) > 0; {
		var v asn1.RawValue
		next, err := asn1.Unmarshal(rest, &v)
		if err != nil {
			return nil
		}
		rest = next
		switch {
		case v.Class == asn1.ClassUniversal && v.Tag == asn1.TagSequence && v.IsCompound:
			if err := checkSaltedParams(v.Bytes, maxIterations); err != nil {
				return err
			}
			if err := walkDER(v.Bytes, maxIterations, depth+1); err != nil {
				return err
			}
		case v.IsCompound:
			if err := walkDER(v.Bytes, maxIterations, depth+1); err != nil {
				return err
			}
		case v.Class == asn1.ClassUniversal && v.Tag == asn1.TagOctetString:
			// PKCS#12 wraps its contents in OCTET STRINGs that hold DER.
			if err := walkDER(v.Bytes, maxIterations, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkSaltedParams checks the elements of one SEQUENCE. One or two
// INTEGERs after the salt are an iteration count and an optional key
// length (PBES1, PBKDF2, MacData); three or more are scrypt's cost N,
// block size r and parallelization p.
func checkSaltedParams(content []byte, maxIterations int64) error {
	var elems []asn1.RawValue
	for rest := content; len(rest) > 0; {
		var v asn1.RawValue
		next, err := asn1.Unmarshal(rest, &v)
		if err != nil {
			return nil
		}
		elems = append(elems, v)
		rest = next
	}
	for i := 0; i+1 < len(elems); i++ {
		if !isUniversal(elems[i], asn1.TagOctetString) {
			continue
		}
		var ints []*big.Int
		for _, e := range elems[i+1:] {
			if !isUniversal(e, asn1.TagInteger) {
				break
			}
			ints = append(ints, new(big.Int).SetBytes(e.Bytes))
		}
		switch {
		case len(ints) >= 3:
			if err := checkScrypt(ints[0], ints[1], ints[2], maxIterations); err != nil {
				return err
			}
		case len(ints) >= 1:
			if !ints[0].IsInt64() || ints[0].Int64() > maxIterations {
				return fmt.Errorf("the key derivation asks for %s iterations, more than the limit of %d: re-encrypt the file with a standard tool such as openssl or keytool", ints[0], maxIterations)
			}
		}
	}
	return nil
}

func checkScrypt(n, r, p *big.Int, maxIterations int64) error {
	mem := new(big.Int).Mul(big.NewInt(128), new(big.Int).Mul(n, r))
	work := new(big.Int).Mul(n, p)
	if mem.Cmp(big.NewInt(maxScryptMemory)) > 0 || work.Cmp(big.NewInt(maxIterations)) > 0 {
		return fmt.Errorf("the scrypt parameters N=%s r=%s p=%s need more than %d MiB or %d rounds: re-encrypt the key with smaller parameters", n, r, p, maxScryptMemory>>20, maxIterations)
	}
	return nil
}

func isUniversal(v asn1.RawValue, tag int) bool {
	return v.Class == asn1.ClassUniversal && v.Tag == tag && !v.IsCompound
}
