package pki_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

func TestInitForceRemovesStalePassword(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	_, err := pki.Init(pki.InitOptions{Dir: dir})
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(dir, pki.FileP12Password))

	_, err = pki.Init(pki.InitOptions{Dir: dir, P12Password: []byte("chosen password"), Force: true})
	require.NoError(t, err)

	assert.NoFileExists(t, filepath.Join(dir, pki.FileP12Password), "a generated password that no longer opens the keystores is removed")
	_, err = pki.LoadKeystore(pki.KeystoreSource{PKCS12File: filepath.Join(dir, pki.FileServerP12), PasswordFile: writePassword(t, "chosen password")})
	assert.NoError(t, err)
}

func TestInitForceKeepsCurrentPasswordFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	_, err := pki.Init(pki.InitOptions{Dir: dir})
	require.NoError(t, err)
	password, err := pki.ReadPassword(filepath.Join(dir, pki.FileP12Password))
	require.NoError(t, err)

	_, err = pki.Init(pki.InitOptions{Dir: dir, P12Password: password, Force: true})
	require.NoError(t, err)

	assert.FileExists(t, filepath.Join(dir, pki.FileP12Password), "the file holding the password in use stays")
}
