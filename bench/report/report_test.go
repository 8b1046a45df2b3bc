package main

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sampleResults = `cores: 2
cpu-model: AMD EPYC
BenchmarkUnary/transport=mtls-2         	       1	    200000 ns/op	      5000 req/s
BenchmarkUnary/transport=plaintext-2    	       1	    190000 ns/op	      5200 req/s
not a result line
BenchmarkUnary/transport=mtls-2         	       1	    210000 ns/op	      4000 req/s
BenchmarkUnary/transport=plaintext-2    	       1	    180000 ns/op	      4100 req/s
BenchmarkUnary/transport=mtls-2         	       1	    190000 ns/op	      6000 req/s
BenchmarkUnary/transport=plaintext-2    	       1	    170000 ns/op	      6000 req/s
`

func TestParseResults(t *testing.T) {
	r := parseResults(sampleResults)

	assert.Equal(t, "2", r.config["cores"])
	assert.Equal(t, "AMD EPYC", r.config["cpu-model"])
	assert.Equal(t, []string{unaryMTLS, unaryPlain}, r.order)
	assert.Equal(t, []float64{5000, 4000, 6000}, r.values(unaryMTLS, "req/s"))
	assert.Equal(t, 5000.0, r.median(unaryMTLS, "req/s"))
	assert.True(t, math.IsNaN(r.median(unaryMTLS, "p99-ns")), "a unit never reported has no median")
}

func TestRatioPairsRounds(t *testing.T) {
	r := parseResults(sampleResults)

	// Per round: 5000/5200, 4000/4100, 6000/6000. The median of those is
	// 4000/4100, while the ratio of the medians would be 5000/5200.
	assert.InDelta(t, 4000.0/4100, r.ratio(unaryMTLS, unaryPlain, "req/s"), 1e-9)
}

func TestSumRatioAddsUnitsPerRound(t *testing.T) {
	r := parseResults(`BenchmarkA-2 1 10 server-ns 30 client-ns
BenchmarkB-2 1 5 server-ns 15 client-ns
BenchmarkA-2 1 12 server-ns 28 client-ns
BenchmarkB-2 1 10 server-ns 10 client-ns
BenchmarkA-2 1 20 server-ns
`)

	// Rounds: 40/20 and 40/20; the third sample of A lacks client-ns.
	assert.InDelta(t, 2.0, r.sumRatio("BenchmarkA", []string{"server-ns", "client-ns"}, "BenchmarkB", []string{"server-ns", "client-ns"}), 1e-9)
}

func TestTargetResult(t *testing.T) {
	tests := []struct {
		name   string
		target target
		want   string
	}{
		{"at least, met", target{value: 120, atLeast: true, limit: 100}, "met"},
		{"at least, missed", target{value: 80, atLeast: true, limit: 100}, "**missed**, 25% short"},
		{"at most, met", target{value: 1.1, limit: 1.15}, "met"},
		{"at most, missed", target{value: 1.38, limit: 1.15}, "**missed**, 20% over"},
		{"not measured", target{value: math.NaN(), atLeast: true, limit: 10}, "not measured"},
		{"missed, met in CPU time", target{value: 9.5, cpu: 12, atLeast: true, limit: 10}, "**missed**, 5% short; met in CPU time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.target.result())
		})
	}
}

func TestReplaceSection(t *testing.T) {
	doc := "intro\n<!-- begin pki -->\nold table\n<!-- end pki -->\noutro\n"

	out, err := replaceSection(doc, "pki", "| new |\n")
	require.NoError(t, err)
	assert.Equal(t, "intro\n<!-- begin pki -->\n| new |\n<!-- end pki -->\noutro\n", out)

	_, err = replaceSection(doc, "scale", "x")
	assert.ErrorContains(t, err, "<!-- begin scale -->")
}
