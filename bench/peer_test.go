package bench

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

var (
	connectDuration = flag.Duration("connect-duration", 3*time.Second, "how long each run of new connections lasts")
	connectWorkers  = flag.Int("connect-workers", 4, "goroutines opening new connections at once")
)

// exampleServerName is a name in the example server's certificate, which
// is issued for *.test.example.com.
const exampleServerName = "x.test.example.com"

// peerServer is a server process in the comparison with grpc-go's example.
type peerServer struct {
	name  string
	start func(b *testing.B) (*serverProcess, *tls.Config, ghzTarget)
}

// peerServers are 'mtls serve' with a fresh default PKI, and grpc-go's
// examples/features/encryption/mTLS server with its own RSA-4096
// certificates from examples/data/x509.
var peerServers = []peerServer{
	{"mtls-serve", startPeerMTLSServe},
	{"grpc-example", startPeerExample},
}

func startPeerMTLSServe(b *testing.B) (*serverProcess, *tls.Config, ghzTarget) {
	f := loadFixture(b, pki.DefaultKeyType)
	p := startMTLSServe(b, f)
	return p, f.clientConfig(b, false), demoTarget(b, f, p.addr, "mtls")
}

func startPeerExample(b *testing.B) (*serverProcess, *tls.Config, ghzTarget) {
	skipWithout(b, *exampleRoot, "example-dir")
	x509Dir := filepath.Join(*exampleRoot, "data", "x509")
	p := startExampleServer(b)
	cert, err := tls.LoadX509KeyPair(filepath.Join(x509Dir, "client_cert.pem"), filepath.Join(x509Dir, "client_key.pem"))
	if err != nil {
		b.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(x509Dir, "ca_cert.pem"))
	if err != nil {
		b.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		b.Fatalf("no certificate in %s", filepath.Join(x509Dir, "ca_cert.pem"))
	}
	// The example's client sets no minimum version and no session cache;
	// TLS 1.3 is negotiated all the same.
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, ServerName: exampleServerName}
	t := ghzTarget{
		addr: p.addr, proto: filepath.Join(*exampleRoot, "features", "proto", "echo", "echo.proto"),
		importPath: filepath.Join(*exampleRoot, "features", "proto", "echo"),
		call:       "grpc.examples.echo.Echo.UnaryEcho", data: echoData,
		cacert: filepath.Join(x509Dir, "ca_cert.pem"), cert: filepath.Join(x509Dir, "client_cert.pem"),
		key: filepath.Join(x509Dir, "client_key.pem"), serverName: exampleServerName,
	}
	return p, cfg, t
}

// BenchmarkPeerConnect opens new connections from several goroutines for
// -connect-duration against each server process and reports the rate and
// the CPU time per connection of the server and of this client. Every
// connection makes a full handshake.
func BenchmarkPeerConnect(b *testing.B) {
	for _, s := range peerServers {
		b.Run("server="+s.name, func(b *testing.B) {
			p, cfg, _ := s.start(b)
			c := newConnector(p.addr, cfg)
			var (
				rates, p50, p99        []float64
				conns                  int64
				serverTime, clientTime time.Duration
			)
			for b.Loop() {
				server0, client0 := p.cpu(b), selfCPU()
				n, took, lat, err := connectLoad(c, *connectWorkers, *connectDuration)
				if err != nil {
					b.Fatal(err)
				}
				serverTime += p.cpu(b) - server0
				clientTime += selfCPU() - client0
				conns += n
				rates = append(rates, float64(n)/took.Seconds())
				p50 = append(p50, float64(lat.quantile(0.50)))
				p99 = append(p99, float64(lat.quantile(0.99)))
			}
			b.ReportMetric(1e9/mean(rates), "ns/op")
			b.ReportMetric(mean(rates), "conn/s")
			b.ReportMetric(mean(p50), "p50-ns")
			b.ReportMetric(mean(p99), "p99-ns")
			b.ReportMetric(perOp(serverTime, conns), "server-cpu-ns/conn")
			b.ReportMetric(perOp(clientTime, conns), "client-cpu-ns/conn")
		})
	}
}

// BenchmarkPeerUnary loads each server process's echo method with ghz.
func BenchmarkPeerUnary(b *testing.B) {
	for _, s := range peerServers {
		b.Run("server="+s.name, func(b *testing.B) {
			p, _, t := s.start(b)
			benchmarkGhz(b, t, func() time.Duration { return p.cpu(b) })
		})
	}
}
