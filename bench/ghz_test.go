package bench

import (
	"bytes"
	"encoding/json"
	"flag"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	ghzDuration    = flag.Duration("ghz-duration", 4*time.Second, "how long each ghz run sends requests")
	ghzConcurrency = flag.Int("ghz-concurrency", 50, "ghz request workers")
	ghzConnections = flag.Int("ghz-connections", 5, "connections the ghz workers share")
)

// ghzTarget is a unary method to load with ghz, and how to reach it.
type ghzTarget struct {
	addr       string
	proto      string // .proto file declaring the method
	importPath string
	call       string // fully qualified method, package.Service.Method
	data       string // request message as JSON
	// cacert, cert and key are PEM files for mTLS; all empty means a
	// plaintext connection.
	cacert, cert, key string
	serverName        string
}

// ghzResult is the part of ghz's JSON report the benchmarks use.
type ghzResult struct {
	Count                  int64            `json:"count"`
	RPS                    float64          `json:"rps"`
	ErrorDistribution      map[string]int64 `json:"errorDistribution"`
	StatusCodeDistribution map[string]int64 `json:"statusCodeDistribution"`
	LatencyDistribution    []struct {
		Percentage int   `json:"percentage"`
		Latency    int64 `json:"latency"` // nanoseconds
	} `json:"latencyDistribution"`
}

func (r *ghzResult) percentile(p int) float64 {
	for _, l := range r.LatencyDistribution {
		if l.Percentage == p {
			return float64(l.Latency)
		}
	}
	return 0
}

// runGhz loads t for -ghz-duration and returns ghz's report and the CPU
// time ghz used. It fails b if any request failed, because a rate of
// errors is no rate of work.
func runGhz(b *testing.B, t ghzTarget) (*ghzResult, time.Duration) {
	b.Helper()
	skipWithout(b, *ghzBin, "ghz")
	args := []string{
		"--format=json", "--duration=" + ghzDuration.String(), "--duration-stop=wait",
		"--concurrency=" + strconv.Itoa(*ghzConcurrency), "--connections=" + strconv.Itoa(*ghzConnections),
		"--proto=" + t.proto, "--import-paths=" + t.importPath, "--call=" + t.call, "--data=" + t.data,
	}
	if t.cacert == "" {
		args = append(args, "--insecure")
	} else {
		args = append(args, "--cacert="+t.cacert, "--cert="+t.cert, "--key="+t.key, "--cname="+t.serverName)
	}
	cmd := exec.Command(*ghzBin, append(args, t.addr)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("ghz %s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, stderr.String())
	}
	var res ghzResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		b.Fatalf("parse ghz report: %v\n%s", err, stdout.String())
	}
	if len(res.ErrorDistribution) > 0 || res.Count == 0 {
		b.Fatalf("ghz against %s: %d requests, errors %v, status codes %v", t.addr, res.Count, res.ErrorDistribution, res.StatusCodeDistribution)
	}
	return &res, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// benchmarkGhz runs ghz once per b.N and reports the mean requests per
// second, the latency percentiles, and the CPU time per request of the
// server, read with serverCPU, and of ghz. The ns/op figure is the time
// per request at that rate, so benchstat compares it like any other.
func benchmarkGhz(b *testing.B, t ghzTarget, serverCPU func() time.Duration) {
	var (
		rps, p50, p99       []float64
		requests            int64
		serverTime, ghzTime time.Duration
	)
	for b.Loop() {
		cpu0 := serverCPU()
		res, ghzCPU := runGhz(b, t)
		serverTime += serverCPU() - cpu0
		ghzTime += ghzCPU
		requests += res.Count
		rps = append(rps, res.RPS)
		p50 = append(p50, res.percentile(50))
		p99 = append(p99, res.percentile(99))
	}
	b.ReportMetric(1e9/mean(rps), "ns/op")
	b.ReportMetric(mean(rps), "req/s")
	b.ReportMetric(mean(p50), "p50-ns")
	b.ReportMetric(mean(p99), "p99-ns")
	b.ReportMetric(perOp(serverTime, requests), "server-cpu-ns/req")
	b.ReportMetric(perOp(ghzTime, requests), "client-cpu-ns/req")
}

func mean(values []float64) float64 {
	if len(values) == 0 {
		return 0
	}
	var sum float64
	for _, v := range values {
		sum += v
	}
	return sum / float64(len(values))
}

// echoData is the request of every unary load test: a short message, as
// a health check or a small API call would send.
const echoData = `{"message":"hello"}`
