package lab_test

import (
	"fmt"
	"os"
	"testing"
)

// labRoot holds every kind's files for the whole test binary.
var labRoot string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mtls-lab-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	labRoot = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}
