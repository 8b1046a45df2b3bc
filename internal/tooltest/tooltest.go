// Package tooltest finds the external programs that tests drive (openssl,
// keytool, grpcurl) and decides what a test does when one is missing: in
// CI (CI=true) the test fails, because a silently skipped check proves
// nothing; elsewhere it is skipped with a message naming the tool.
package tooltest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Require returns the path of the program name, looked up in the
// repository's .tools/bin first and then on PATH. A missing program
// fails the test when the environment variable CI is "true" and skips it
// otherwise.
func Require(tb testing.TB, name string) string {
	tb.Helper()
	path, err := Find(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s is required in CI but was not found: %v (install it, or run 'make tools' for the Go tools)", name, err)
	}
	tb.Skipf("%s not found (%v): install it to run this test; in CI (CI=true) a missing tool fails the test", name, err)
	return ""
}

// Find returns the path of the program name in the repository's
// .tools/bin or on PATH.
func Find(name string) (string, error) {
	if root, err := RepoRoot(); err == nil {
		local := filepath.Join(root, ".tools", "bin", name)
		if info, err := os.Stat(local); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
			return local, nil
		}
	}
	return exec.LookPath(name)
}

// RepoRoot returns the directory holding go.mod, searched upwards from
// the working directory, which go test sets to the package's directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}
