//go:build unix

package pki_test

import (
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

func TestWriteFilesModeIgnoresUmask(t *testing.T) {
	// A private key must not become readable because of a permissive
	// umask, and a certificate must stay readable under a strict one.
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })
	dir := t.TempDir()
	path := filepath.Join(dir, "ca.crt")

	require.NoError(t, pki.WriteFiles([]pki.File{{Path: path, Data: []byte("x"), Mode: pki.ModePublic}}, false))

	assert.Equal(t, fs.FileMode(0o644), fileMode(t, path))
}
