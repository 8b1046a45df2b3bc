//go:build stress || soak

package loadtest

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"
)

// latencies collects call durations.
type latencies []time.Duration

func (l latencies) percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	sorted := slices.Clone(l)
	slices.Sort(sorted)
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

func (l latencies) summary() string {
	return fmt.Sprintf("n=%d p50=%s p99=%s max=%s", len(l), l.percentile(.50).Round(time.Microsecond),
		l.percentile(.99).Round(time.Microsecond), l.percentile(1).Round(time.Microsecond))
}

// memSample is the process's memory and goroutines at one moment.
type memSample struct {
	at         time.Duration
	heapInuse  uint64
	sys        uint64
	goroutines int
}

// sampleMemory collects garbage first, so that samples compare live memory.
func sampleMemory(since time.Time) memSample {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{at: time.Since(since).Round(time.Second), heapInuse: ms.HeapInuse, sys: ms.Sys, goroutines: runtime.NumGoroutine()}
}

func (s memSample) String() string {
	return fmt.Sprintf("heap in use %.1f MiB, sys %.1f MiB, %d goroutines", mib(s.heapInuse), mib(s.sys), s.goroutines)
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// settle waits until the goroutine count stops falling, so that connections
// being torn down are not counted, and returns a memory sample.
func settle(since time.Time) memSample {
	prev := runtime.NumGoroutine()
	for i := 0; i < 100; i++ {
		time.Sleep(100 * time.Millisecond)
		n := runtime.NumGoroutine()
		if n >= prev && i >= 5 {
			break
		}
		prev = n
	}
	return sampleMemory(since)
}

// table formats rows as an aligned Markdown table.
func table(header []string, rows [][]string) string {
	widths := make([]int, len(header))
	for _, r := range append([][]string{header}, rows...) {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for i, c := range cells {
			fmt.Fprintf(&b, " %-*s |", widths[i], c)
		}
		b.WriteString("\n")
	}
	line(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = strings.Repeat("-", widths[i])
	}
	line(sep)
	for _, r := range rows {
		line(r)
	}
	return b.String()
}
