package pki_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

// dirEntries returns the names in dir, sorted.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func fileMode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	require.NoError(t, err)
	return info.Mode().Perm()
}

func TestWriteFilesModesAndContent(t *testing.T) {
	dir := t.TempDir()
	files := []pki.File{
		{Path: filepath.Join(dir, "a.key"), Data: []byte("secret"), Mode: pki.ModePrivate},
		{Path: filepath.Join(dir, "a.crt"), Data: []byte("public"), Mode: pki.ModePublic},
	}

	require.NoError(t, pki.WriteFiles(files, false))

	assert.Equal(t, []string{"a.crt", "a.key"}, dirEntries(t, dir), "no temporary files are left")
	assert.Equal(t, fs.FileMode(0o600), fileMode(t, files[0].Path))
	assert.Equal(t, fs.FileMode(0o644), fileMode(t, files[1].Path))
	assert.Equal(t, "secret", string(readFile(t, files[0].Path)))
	assert.Equal(t, "public", string(readFile(t, files[1].Path)))
}

func TestWriteFilesRejectsExisting(t *testing.T) {
	dir := t.TempDir()
	existing := writeFile(t, dir, "b.key", []byte("old key"))
	files := []pki.File{
		{Path: filepath.Join(dir, "a.crt"), Data: []byte("new"), Mode: pki.ModePublic},
		{Path: existing, Data: []byte("new key"), Mode: pki.ModePrivate},
		{Path: filepath.Join(dir, "c.crt"), Data: []byte("new"), Mode: pki.ModePublic},
	}

	err := pki.WriteFiles(files, false)

	require.ErrorIs(t, err, pki.ErrFileExists)
	assert.ErrorContains(t, err, existing, "the error names the file")
	assert.ErrorContains(t, err, "use --force to overwrite")
	assert.Equal(t, []string{"b.key"}, dirEntries(t, dir), "nothing else was written")
	assert.Equal(t, "old key", string(readFile(t, existing)))
}

func TestWriteFilesForceOverwrites(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "a.crt", []byte("old"))
	require.NoError(t, os.Chmod(path, 0o600))

	require.NoError(t, pki.WriteFiles([]pki.File{{Path: path, Data: []byte("new"), Mode: pki.ModePublic}}, true))

	assert.Equal(t, "new", string(readFile(t, path)))
	assert.Equal(t, fs.FileMode(0o644), fileMode(t, path), "the mode of the new file applies")
	assert.Equal(t, []string{"a.crt"}, dirEntries(t, dir))
}

func TestWriteFilesFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	files := []pki.File{
		{Path: filepath.Join(dir, "a.crt"), Data: []byte("a"), Mode: pki.ModePublic},
		{Path: filepath.Join(dir, "b.key"), Data: []byte("b"), Mode: pki.ModePrivate},
		// The third file cannot be written: its directory does not exist.
		{Path: filepath.Join(dir, "missing", "c.crt"), Data: []byte("c"), Mode: pki.ModePublic},
	}

	err := pki.WriteFiles(files, false)

	assert.ErrorContains(t, err, filepath.Join(dir, "missing", "c.crt"))
	assert.Empty(t, dirEntries(t, dir), "neither the first files nor temporary files remain")
}

func TestWriteFilesForcedFailureKeepsOldFiles(t *testing.T) {
	dir := t.TempDir()
	oldCert := writeFile(t, dir, "a.crt", []byte("old cert"))
	oldKey := writeFile(t, dir, "b.key", []byte("old key"))
	files := []pki.File{
		{Path: oldCert, Data: []byte("new cert"), Mode: pki.ModePublic},
		{Path: oldKey, Data: []byte("new key"), Mode: pki.ModePrivate},
		{Path: filepath.Join(dir, "missing", "c.crt"), Data: []byte("c"), Mode: pki.ModePublic},
	}

	err := pki.WriteFiles(files, true)

	require.Error(t, err)
	assert.Equal(t, "old cert", string(readFile(t, oldCert)), "a failed forced write keeps the old certificate")
	assert.Equal(t, "old key", string(readFile(t, oldKey)), "a failed forced write keeps the old key")
	assert.Equal(t, []string{"a.crt", "b.key"}, dirEntries(t, dir), "no temporary files remain")
}

func TestWriteFileAtomicReplaces(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "p12.password", []byte("old"))

	require.NoError(t, pki.WriteFileAtomic(path, []byte("new"), pki.ModePrivate))

	assert.Equal(t, "new", string(readFile(t, path)))
	assert.Equal(t, fs.FileMode(0o600), fileMode(t, path))
	assert.Equal(t, []string{"p12.password"}, dirEntries(t, dir))
}

func TestWriteFileAtomicMissingDirectory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "missing", "a.crt")

	err := pki.WriteFileAtomic(path, []byte("x"), pki.ModePublic)

	assert.ErrorContains(t, err, "write "+path)
	assert.Empty(t, dirEntries(t, dir))
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	empty := writeFile(t, dir, "empty.crt", nil)
	large := writeFile(t, dir, "large.bin", make([]byte, pki.MaxFileSize+1))
	tests := []struct {
		name    string
		path    string
		wantErr string
	}{
		{"no name", "", "no file name given"},
		{"missing", filepath.Join(dir, "nope.crt"), "nope.crt: file not found: check the path"},
		{"directory", dir, "it is a directory, not a file"},
		{"empty", empty, "empty.crt: the file is empty"},
		{"too large", large, "more than the 1048576-byte limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := pki.ReadFile(tt.path)

			assert.ErrorContains(t, err, tt.wantErr)
			assert.Nil(t, data)
		})
	}
}

func TestReadPassword(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content string
		want    string
		wantErr string
	}{
		{"plain", "s3cret", "s3cret", ""},
		{"trailing newline", "s3cret\n", "s3cret", ""},
		{"trailing CRLF", "s3cret\r\n", "s3cret", ""},
		{"only one newline removed", "s3cret\n\n", "s3cret\n", ""},
		{"inner and leading spaces kept", " two words ", " two words ", ""},
		{"only a newline", "\n", "", "contains only a line break"},
		{"empty", "", "", "the file is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, dir, strings.ReplaceAll(tt.name, " ", "-"), []byte(tt.content))

			got, err := pki.ReadPassword(path)

			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				assert.ErrorContains(t, err, path, "the error names the file")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(got))
		})
	}
}
