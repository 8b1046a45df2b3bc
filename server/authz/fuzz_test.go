package authz_test

import (
	"os"
	"testing"

	"github.com/grpc-mtls/grpc-mtls/server/authz"
)

// FuzzParse checks that arbitrary policy files give an error and never a
// panic.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("../../examples/policy.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte(`{"allow": [{"name": "team", "principals": ["spiffe://example.org/team/**"], "methods": ["/mtls.v1.DemoService/*"]}]}`))
	f.Add([]byte("deny:\n  - name: no-anonymous\n    principals: [anonymous]\n    methods: ['*']\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = authz.Parse(data)
	})
}
