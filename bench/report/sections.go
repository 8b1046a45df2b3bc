package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

// Benchmark names as the bench package prints them, without the
// GOMAXPROCS suffix.
const (
	opensslInit        = "BenchmarkPKIInit/tool=openssl-script"
	unaryMTLS          = "BenchmarkUnary/transport=mtls"
	unaryPlain         = "BenchmarkUnary/transport=plaintext"
	peerConnectServe   = "BenchmarkPeerConnect/server=mtls-serve"
	peerConnectExample = "BenchmarkPeerConnect/server=grpc-example"
	peerUnaryServe     = "BenchmarkPeerUnary/server=mtls-serve"
	peerUnaryExample   = "BenchmarkPeerUnary/server=grpc-example"
)

func mtlsInit(kt pki.KeyType) string { return "BenchmarkPKIInit/tool=mtls/key=" + string(kt) }

func handshake(kt pki.KeyType) string { return "BenchmarkHandshake/key=" + string(kt) }

const keyExchange = "BenchmarkKeyExchange"

// sections returns the body of each marked section of the document.
func sections(r *results) map[string]string {
	return map[string]string{
		"machine":   machineSection(r),
		"targets":   targetsSection(r),
		"pki":       pkiSection(r),
		"handshake": handshakeSection(r),
		"kex":       keyExchangeSection(r),
		"unary":     unarySection(r),
		"stream":    streamSection(r),
		"peer":      peerSection(r),
		"scale":     scaleSection(r),
		"allocs":    allocsSection(r),
	}
}

func machineSection(r *results) string {
	c := r.config
	wall := "n/a"
	if s, err := strconv.Atoi(c["wall-seconds"]); err == nil {
		wall = fmt.Sprintf("%d min %02d s", s/60, s%60)
	}
	t := newTable("What", "Value")
	t.row("CPU", c["cpu-model"])
	t.row("Cores", c["cores"])
	t.row("Go", c["go"])
	t.row("Kernel", c["kernel"])
	t.row("OpenSSL", c["openssl"])
	t.row("grpc-go examples module", "`"+c["grpc-examples"]+"`")
	t.row("Rounds", c["rounds"]+" (scale: "+c["scale-rounds"]+"; ghz groups twice per round)")
	t.row("Load average at start (1, 5, 15 min)", c["loadavg-start"])
	t.row("Load average at end", c["loadavg-end"])
	t.row("Date (UTC)", c["date"])
	t.row("Wall time of scripts/bench.sh", wall)
	return t.String()
}

// target is one goal of the performance work, checked against a ratio.
type target struct {
	name    string
	goal    string
	value   float64 // the ratio the goal is about, from wall-clock figures
	cpu     float64 // the same ratio from CPU time, which load moves less
	atLeast bool    // true: value must be >= limit; false: <= limit
	limit   float64
}

func (t target) met(v float64) bool {
	return t.atLeast && v >= t.limit || !t.atLeast && v <= t.limit
}

func (t target) result() string {
	switch {
	case math.IsNaN(t.value):
		return "not measured"
	case t.met(t.value):
		return "met"
	}
	missed := fmt.Sprintf("**missed**, %.0f%% over", (t.value/t.limit-1)*100)
	if t.atLeast {
		missed = fmt.Sprintf("**missed**, %.0f%% short", (t.limit/t.value-1)*100)
	}
	if t.cpu > 0 && t.met(t.cpu) { // NaN and zero: not measured
		missed += "; met in CPU time"
	}
	return missed
}

func targetsSection(r *results) string {
	def, hs := pki.DefaultKeyType, handshake(pki.DefaultKeyType)
	perConn := []string{"server-cpu-ns/conn", "client-cpu-ns/conn"}
	perRequest := []string{"server-cpu-ns/req", "client-cpu-ns/req"}
	targets := []target{
		{"`mtls pki init` (" + string(def) + ") vs the openssl RSA-4096 script, median time", ">= 100x faster",
			r.medianRatio(opensslInit, mtlsInit(def), "ns/op"), r.medianRatio(opensslInit, mtlsInit(def), "cpu-ns/op"), true, 100},
		{"Full handshake through server.New vs plain crypto/tls (" + string(def) + "), median time", "<= 1.15x",
			r.unitRatio(hs, "grpc-full-p50-ns", hs, "tls-full-p50-ns"), r.unitRatio(hs, "grpc-full-cpu-ns", hs, "tls-full-cpu-ns"), false, 1.15},
		{"Resumed vs full handshake through server.New (" + string(def) + "), median time", ">= 1.6x faster",
			r.unitRatio(hs, "grpc-full-p50-ns", hs, "grpc-resumed-p50-ns"), r.unitRatio(hs, "grpc-full-cpu-ns", hs, "grpc-resumed-cpu-ns"), true, 1.6},
		{"Unary requests/s, mTLS vs the same server without TLS", ">= 0.95x",
			r.ratio(unaryMTLS, unaryPlain, "req/s"), r.sumRatio(unaryPlain, perRequest, unaryMTLS, perRequest), true, 0.95},
		{"New connections/s, `mtls serve` vs grpc-go's mTLS example", ">= 10x",
			r.ratio(peerConnectServe, peerConnectExample, "conn/s"), r.sumRatio(peerConnectExample, perConn, peerConnectServe, perConn), true, 10},
		{"Unary requests/s, `mtls serve` vs grpc-go's mTLS example", ">= 1.0x",
			r.ratio(peerUnaryServe, peerUnaryExample, "req/s"), r.sumRatio(peerUnaryExample, perRequest, peerUnaryServe, perRequest), true, 1},
	}
	t := newTable("Target", "Goal", "Measured", "Same ratio in CPU time", "Result")
	for _, tg := range targets {
		t.row(tg.name, tg.goal, times(tg.value), times(tg.cpu), tg.result())
	}
	return t.String()
}

func pkiSection(r *results) string {
	openssl := r.median(opensslInit, "ns/op")
	t := newTable("Command", "Key type", "Time (median)", "Faster than the openssl script", "CPU time", "Less CPU than the openssl script")
	for _, kt := range pki.KeyTypes {
		name := mtlsInit(kt)
		t.row("`mtls pki init`", string(kt), duration(r.median(name, "ns/op")), times(r.medianRatio(opensslInit, name, "ns/op")),
			duration(r.median(name, "cpu-ns/op")), times(r.medianRatio(opensslInit, name, "cpu-ns/op")))
	}
	t.row("`scripts/openssl-pki.sh`", "RSA, as the script writes them", duration(openssl), "1x", duration(r.median(opensslInit, "cpu-ns/op")), "1x")
	return t.String()
}

func handshakeSection(r *results) string {
	t := newTable("Key type", "Full p50, server.New", "Full p50, crypto/tls", "server.New / crypto/tls",
		"Resumed p50, server.New", "Resumed p50, crypto/tls", "Full / resumed (server.New)",
		"Full p99, server.New", "CPU per full handshake, both ends", "Full handshakes/s at p50, one at a time")
	for _, kt := range pki.KeyTypes {
		name := handshake(kt)
		t.row(string(kt),
			duration(r.median(name, "grpc-full-p50-ns")), duration(r.median(name, "tls-full-p50-ns")),
			times(r.unitRatio(name, "grpc-full-p50-ns", name, "tls-full-p50-ns")),
			duration(r.median(name, "grpc-resumed-p50-ns")), duration(r.median(name, "tls-resumed-p50-ns")),
			times(r.unitRatio(name, "grpc-full-p50-ns", name, "grpc-resumed-p50-ns")),
			duration(r.median(name, "grpc-full-p99-ns")), duration(r.median(name, "grpc-full-cpu-ns")),
			count(1e9/r.median(name, "grpc-full-p50-ns")))
	}
	return t.String()
}

func keyExchangeSection(r *results) string {
	t := newTable("Key exchange", "Full p50", "Resumed p50", "Full / resumed", "CPU per full handshake", "CPU per resumed handshake")
	for _, kex := range []string{"X25519MLKEM768", "X25519"} {
		full, resumed := kex+"-full-", kex+"-resumed-"
		t.row(kex, duration(r.median(keyExchange, full+"p50-ns")), duration(r.median(keyExchange, resumed+"p50-ns")),
			times(r.unitRatio(keyExchange, full+"p50-ns", keyExchange, resumed+"p50-ns")),
			duration(r.median(keyExchange, full+"cpu-ns")), duration(r.median(keyExchange, resumed+"cpu-ns")))
	}
	return t.String()
}

func unarySection(r *results) string {
	t := newTable("Transport", "Requests/s", "p50", "p99", "vs plaintext", "Server CPU per request", "ghz CPU per request")
	for _, row := range []struct{ label, name string }{{"mTLS", unaryMTLS}, {"plaintext (harness only)", unaryPlain}} {
		t.row(row.label, count(r.median(row.name, "req/s")), duration(r.median(row.name, "p50-ns")),
			duration(r.median(row.name, "p99-ns")), times(r.ratio(row.name, unaryPlain, "req/s")),
			duration(r.median(row.name, "server-cpu-ns/req")), duration(r.median(row.name, "client-cpu-ns/req")))
	}
	return t.String()
}

func streamSection(r *results) string {
	t := newTable("Transport", "Message size", "Messages/s", "Payload MB/s", "vs plaintext", "CPU per message, both ends")
	for _, size := range []string{"64", "16384"} {
		plain := "BenchmarkStream/transport=plaintext/size=" + size
		for _, tr := range []struct{ label, name string }{
			{"mTLS", "BenchmarkStream/transport=mtls/size=" + size},
			{"plaintext (harness only)", plain},
		} {
			t.row(tr.label, size+" B", count(r.median(tr.name, "msg/s")), decimal(r.median(tr.name, "MB/s")),
				times(r.ratio(tr.name, plain, "msg/s")), duration(r.median(tr.name, "cpu-ns/op")))
		}
	}
	return t.String()
}

func peerSection(r *results) string {
	t := newTable("Server", "Key type", "New connections/s", "Connect p50", "Connect p99", "Server CPU per connection",
		"Unary requests/s", "Unary p50", "Unary p99", "Server CPU per request")
	for _, row := range []struct{ label, key, connect, unary string }{
		{"`mtls serve`", string(pki.DefaultKeyType), peerConnectServe, peerUnaryServe},
		{"grpc-go examples/features/encryption/mTLS", "rsa-4096", peerConnectExample, peerUnaryExample},
	} {
		t.row(row.label, row.key, count(r.median(row.connect, "conn/s")), duration(r.median(row.connect, "p50-ns")),
			duration(r.median(row.connect, "p99-ns")), duration(r.median(row.connect, "server-cpu-ns/conn")),
			count(r.median(row.unary, "req/s")), duration(r.median(row.unary, "p50-ns")), duration(r.median(row.unary, "p99-ns")),
			duration(r.median(row.unary, "server-cpu-ns/req")))
	}
	t.row("`mtls serve` / example", "", times(r.ratio(peerConnectServe, peerConnectExample, "conn/s")), "", "",
		times(r.ratio(peerConnectServe, peerConnectExample, "server-cpu-ns/conn")),
		times(r.ratio(peerUnaryServe, peerUnaryExample, "req/s")), "", "", times(r.ratio(peerUnaryServe, peerUnaryExample, "server-cpu-ns/req")))
	return t.String()
}

func scaleSection(r *results) string {
	t := newTable("Open connections", "Handshakes/s while opening", "Server CPU per handshake", "Server memory per connection",
		"Client memory per connection", "Unary requests/s", "p50", "p99", "Server CPU per request")
	for _, name := range r.order {
		n, ok := strings.CutPrefix(name, "BenchmarkScale/conns=")
		if !ok {
			continue
		}
		t.row(n, count(r.median(name, "conn/s")), duration(r.median(name, "server-cpu-ns/conn")), kib(r.median(name, "server-B/conn")),
			kib(r.median(name, "client-B/conn")), count(r.median(name, "req/s")), duration(r.median(name, "p50-ns")),
			duration(r.median(name, "p99-ns")), duration(r.median(name, "server-cpu-ns/req")))
	}
	return t.String()
}

func allocsSection(r *results) string {
	t := newTable("Benchmark", "Time/op", "Bytes/op", "Allocations/op")
	for _, name := range r.order {
		if !strings.Contains(name, "Interceptor") && !strings.Contains(name, "LogCall") {
			continue
		}
		t.row("`"+strings.TrimPrefix(name, "Benchmark")+"`", duration(r.median(name, "ns/op")),
			count(r.median(name, "B/op")), count(r.median(name, "allocs/op")))
	}
	return t.String()
}

// table builds a Markdown table.
type table struct{ rows [][]string }

func newTable(header ...string) *table { return &table{rows: [][]string{header}} }

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) String() string {
	var b strings.Builder
	for i, row := range t.rows {
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
		if i == 0 {
			b.WriteString(strings.Repeat("| --- ", len(row)) + "|\n")
		}
	}
	return b.String()
}

const notMeasured = "n/a"

func duration(ns float64) string {
	switch {
	case math.IsNaN(ns):
		return notMeasured
	case ns < 1e3:
		return fmt.Sprintf("%.0f ns", ns)
	case ns < 1e6:
		return fmt.Sprintf("%.0f µs", ns/1e3)
	case ns < 1e9:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	}
	return fmt.Sprintf("%.2f s", ns/1e9)
}

func times(ratio float64) string {
	switch {
	case math.IsNaN(ratio):
		return notMeasured
	case ratio >= 20:
		return fmt.Sprintf("%.0fx", ratio)
	}
	return fmt.Sprintf("%.2fx", ratio)
}

func count(v float64) string {
	if math.IsNaN(v) {
		return notMeasured
	}
	return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
}

func decimal(v float64) string {
	if math.IsNaN(v) {
		return notMeasured
	}
	return fmt.Sprintf("%.1f", v)
}

func kib(bytes float64) string {
	if math.IsNaN(bytes) {
		return notMeasured
	}
	return fmt.Sprintf("%.1f KiB", bytes/1024)
}
