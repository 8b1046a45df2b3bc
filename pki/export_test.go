package pki

// SetPBKDF2Iterations changes the round count of keys that
// MarshalEncryptedPrivateKeyPEM encrypts and returns a function that
// restores the previous count.
func SetPBKDF2Iterations(n int) (restore func()) {
	old := pbkdf2Iterations
	pbkdf2Iterations = n
	return func() { pbkdf2Iterations = old }
}

// KDFCostAbove reports whether der requires more than maxIterations rounds
// of key derivation. Fuzz targets skip such inputs: they are correct to
// accept up to MaxKDFIterations, but one such input takes seconds.
func KDFCostAbove(der []byte, maxIterations int64) bool {
	return walkDER(der, maxIterations, 0) != nil
}
