package pki

// SetPBKDF2Iterations changes the round count of keys that
// MarshalEncryptedPrivateKeyPEM encrypts and returns a function that
// restores the previous count.
func SetPBKDF2Iterations(n int) (restore func()) {
	old := pbkdf2Iterations
	pbkdf2Iterations = n
	return func() { pbkdf2Iterations = old }
}
