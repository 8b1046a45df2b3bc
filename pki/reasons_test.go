package pki_test

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

// TestReasonsListsEveryConstant keeps pki.Reasons in step with the
// constants declared in diagnose.go.
func TestReasonsListsEveryConstant(t *testing.T) {
	src, err := os.ReadFile("diagnose.go")
	require.NoError(t, err)
	declared := regexp.MustCompile(`(?m)^\s+Reason\w+\s+Reason = "([a-z0-9_]+)"`).FindAllSubmatch(src, -1)
	require.NotEmpty(t, declared)

	listed := map[pki.Reason]bool{}
	for _, r := range pki.Reasons {
		listed[r] = true
	}
	for _, m := range declared {
		assert.True(t, listed[pki.Reason(m[1])], "pki.Reasons lacks %s", m[1])
	}
	assert.Equal(t, len(declared), len(pki.Reasons))
}
