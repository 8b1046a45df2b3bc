package filewatch_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/internal/filewatch"
	"github.com/grpc-mtls/grpc-mtls/pki"
)

// changeTimeout bounds the wait for a change notification; a correct
// watcher delivers it within the settle delay.
const changeTimeout = 10 * time.Second

// watchContent starts a watcher on path and returns a channel that
// receives the file's content each time the watcher reports a change.
func watchContent(t *testing.T, path string, opts filewatch.Options) <-chan string {
	t.Helper()
	seen := make(chan string, 16)
	w, err := filewatch.New([]string{path}, opts, func() {
		data, _ := os.ReadFile(path)
		seen <- string(data)
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	return seen
}

func next(t *testing.T, seen <-chan string) string {
	t.Helper()
	select {
	case s := <-seen:
		return s
	case <-time.After(changeTimeout):
		t.Fatal("no change reported")
		return ""
	}
}

func TestWatchAtomicReplace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(path, []byte("v1"), 0o644))
	seen := watchContent(t, path, filewatch.Options{})

	// Rewriting the same content is not a change, so the first report
	// must show v2.
	require.NoError(t, pki.WriteFileAtomic(path, []byte("v1"), 0o644))
	require.NoError(t, pki.WriteFileAtomic(path, []byte("v2"), 0o644))

	assert.Equal(t, "v2", next(t, seen))
}

func TestWatchInPlaceWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ca.crl")
	require.NoError(t, os.WriteFile(path, []byte("v1"), 0o644))
	seen := watchContent(t, path, filewatch.Options{})

	require.NoError(t, os.WriteFile(path, []byte("v2"), 0o644))

	assert.Equal(t, "v2", next(t, seen))
}

// Kubernetes mounts a secret as NAME -> ..data/NAME with ..data a symlink
// to a timestamped directory, and swaps ..data by renaming a new symlink
// over it.
func TestWatchSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"..v1": "v1", "..v2": "v2"} {
		require.NoError(t, os.Mkdir(filepath.Join(dir, name), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name, "policy.yaml"), []byte(content), 0o644))
	}
	require.NoError(t, os.Symlink("..v1", filepath.Join(dir, "..data")))
	path := filepath.Join(dir, "policy.yaml")
	require.NoError(t, os.Symlink(filepath.Join("..data", "policy.yaml"), path))
	seen := watchContent(t, path, filewatch.Options{})

	require.NoError(t, os.Symlink("..v2", filepath.Join(dir, "..data_tmp")))
	require.NoError(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))

	assert.Equal(t, "v2", next(t, seen))
}

func TestWatchRemovedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ca.crl")
	require.NoError(t, os.WriteFile(path, []byte("v1"), 0o644))
	seen := watchContent(t, path, filewatch.Options{})

	require.NoError(t, os.Remove(path))

	assert.Equal(t, "", next(t, seen), "a removed file is reported as a change")
}

// The poll finds a change even when no event arrives, as on file systems
// without notifications: here the file lives in a directory that is
// replaced, which the directory watch cannot follow.
func TestWatchPollFallback(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "current")
	require.NoError(t, os.Mkdir(dir, 0o755))
	path := filepath.Join(dir, "ca.crl")
	require.NoError(t, os.WriteFile(path, []byte("v1"), 0o644))
	seen := watchContent(t, path, filewatch.Options{PollInterval: 50 * time.Millisecond})

	staged := filepath.Join(parent, "staged")
	require.NoError(t, os.Mkdir(staged, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(staged, "ca.crl"), []byte("v2"), 0o644))
	require.NoError(t, os.Rename(dir, filepath.Join(parent, "old")))
	require.NoError(t, os.Rename(staged, dir))

	assert.Equal(t, "v2", next(t, seen))
}

func TestWatchNoFiles(t *testing.T) {
	_, err := filewatch.New(nil, filewatch.Options{}, func() {})

	assert.ErrorContains(t, err, "no file given")
}
