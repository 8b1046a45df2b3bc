package main

import (
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// results holds Go benchmark output: the configuration lines ("key:
// value") and, for each benchmark, one sample per line it printed.
type results struct {
	config  map[string]string
	samples map[string][]sample
	order   []string // benchmark names in first-seen order
}

// sample maps a unit, such as "ns/op" or "req/s", to its value.
type sample map[string]float64

var (
	configLine = regexp.MustCompile(`^([a-z][^\s:]*): (.*)$`)
	procSuffix = regexp.MustCompile(`-\d+$`)
)

func parseResults(text string) *results {
	r := &results{config: map[string]string{}, samples: map[string][]sample{}}
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if m := configLine.FindStringSubmatch(line); m != nil {
			r.config[m[1]] = m[2]
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		name := procSuffix.ReplaceAllString(fields[0], "")
		s := sample{}
		for i := 2; i+1 < len(fields); i += 2 {
			if v, err := strconv.ParseFloat(fields[i], 64); err == nil {
				s[fields[i+1]] = v
			}
		}
		if _, seen := r.samples[name]; !seen {
			r.order = append(r.order, name)
		}
		r.samples[name] = append(r.samples[name], s)
	}
	return r
}

// values returns every sample of unit for benchmark name.
func (r *results) values(name, unit string) []float64 {
	var out []float64
	for _, s := range r.samples[name] {
		if v, ok := s[unit]; ok {
			out = append(out, v)
		}
	}
	return out
}

// sums returns, for each sample of name that reports every unit in units,
// the sum of those units.
func (r *results) sums(name string, units []string) []float64 {
	var out []float64
	for _, s := range r.samples[name] {
		sum, ok := 0.0, true
		for _, u := range units {
			v, found := s[u]
			sum, ok = sum+v, ok && found
		}
		if ok {
			out = append(out, sum)
		}
	}
	return out
}

// median returns the median of unit over the samples of name, or NaN if
// there is none.
func (r *results) median(name, unit string) float64 {
	return median(r.values(name, unit))
}

// ratio returns the median over rounds of num's unit divided by den's
// unit. Round i of one benchmark pairs with round i of the other, because
// scripts/bench.sh runs both in each round. Pairing cancels most of the
// drift in a shared machine's load between rounds.
func (r *results) ratio(num, den, unit string) float64 {
	return r.unitRatio(num, unit, den, unit)
}

// unitRatio is ratio for two metrics that may have different units, such
// as two kinds of connection that one benchmark reports side by side.
func (r *results) unitRatio(num, numUnit, den, denUnit string) float64 {
	return r.sumRatio(num, []string{numUnit}, den, []string{denUnit})
}

// sumRatio is ratio for sums of metrics, such as the CPU time of a
// server and of its client: each round's sum of num's units is divided by
// that round's sum of den's units.
func (r *results) sumRatio(num string, numUnits []string, den string, denUnits []string) float64 {
	a, b := r.sums(num, numUnits), r.sums(den, denUnits)
	n := min(len(a), len(b))
	ratios := make([]float64, 0, n)
	for i := range n {
		if b[i] != 0 {
			ratios = append(ratios, a[i]/b[i])
		}
	}
	return median(ratios)
}

// medianRatio returns the median of num's unit divided by the median of
// den's. It suits figures whose spread comes from the work itself rather
// than from the machine's load, such as the time to generate an RSA key,
// which pairing rounds does not cancel.
func (r *results) medianRatio(num, den, unit string) float64 {
	return r.median(num, unit) / r.median(den, unit)
}

func median(values []float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	mid := len(sorted) / 2
	if len(sorted)%2 == 1 {
		return sorted[mid]
	}
	return (sorted[mid-1] + sorted[mid]) / 2
}
