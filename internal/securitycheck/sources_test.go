package securitycheck

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// moduleRoot returns the directory of go.mod above the working directory.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, parent, dir, "go.mod not found")
		dir = parent
	}
}

// productionSources returns every non-test Go file of the module, skipping
// tool and test data directories.
func productionSources(t *testing.T) []string {
	t.Helper()
	root := moduleRoot(t)
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", ".tools", "testdata", "vendor", "bin":
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			files = append(files, path)
		}
		return nil
	})
	require.NoError(t, err)
	return files
}

func TestNoInsecureSkipVerifyInSources(t *testing.T) {
	files := productionSources(t)
	require.NotEmpty(t, files)
	for _, path := range files {
		f, err := os.Open(path)
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			assert.NotContains(t, sc.Text(), "InsecureSkipVerify", "%s:%d turns off certificate verification", path, n)
		}
		require.NoError(t, sc.Err())
		f.Close()
	}
}

func TestSourceScanCoversPackages(t *testing.T) {
	files := productionSources(t)
	root := moduleRoot(t)
	for _, want := range []string{"pki/tlsconfig.go", "server/server.go", "client/client.go", "cmd/mtls/main.go"} {
		assert.Contains(t, files, filepath.Join(root, want))
	}
}
