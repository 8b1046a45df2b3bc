package bench

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"

	"github.com/grpc-mtls/grpc-mtls/client"
	"github.com/grpc-mtls/grpc-mtls/pki"
	mtlsv1 "github.com/grpc-mtls/grpc-mtls/proto/mtls/v1"
)

// scaleSteps are the numbers of open connections BenchmarkScale measures
// at, in order; each step adds connections to the previous one.
var scaleSteps = []int{1000, 2000, 5000, maxScaleConnections}

// maxScaleConnections is the last scale step.
const maxScaleConnections = 10000

// latencySteps are the steps at which BenchmarkScale also measures
// unary latency across all open connections.
var latencySteps = map[int]bool{1000: true, maxScaleConnections: true}

var (
	scaleDialers = flag.Int("scale-dialers", 16, "goroutines opening connections at once in BenchmarkScale")
	scaleCallers = flag.Int("scale-callers", 64, "goroutines making calls at once in BenchmarkScale")
	scaleCalls   = flag.Int("scale-calls", 20000, "unary calls per latency measurement in BenchmarkScale, at least two per connection")
	sourceIPs    = flag.Int("source-ips", 16, "loopback source addresses 127.0.0.2 and up that BenchmarkScale spreads its connections over")
)

// BenchmarkScale opens up to maxScaleConnections gRPC connections to one
// 'mtls serve' process. Each makes a full mTLS handshake, as distinct
// clients would. At each step it reports the rate of the step's
// handshakes, the server's resident memory and the client's heap per
// connection, and at the latencySteps the unary latency with calls spread
// over every connection. Each step runs once, so it needs -benchtime=1x.
func BenchmarkScale(b *testing.B) {
	if f := flag.Lookup("test.benchtime"); f == nil || f.Value.String() != "1x" {
		b.Skip("needs -test.benchtime=1x: each step opens its connections once")
	}
	f := loadFixture(b, pki.DefaultKeyType)
	p := startMTLSServe(b, f)
	cfg := f.clientConfig(b, false)
	pool := &connPool{addr: p.addr, cfg: cfg}
	b.Cleanup(pool.close)

	time.Sleep(200 * time.Millisecond) // let the server settle before its baseline
	serverBase := p.rss(b)
	clientBase := heapInUse()
	for _, n := range scaleSteps {
		b.Run("conns="+strconv.Itoa(n), func(b *testing.B) {
			added := n - pool.len()
			start, cpu0 := time.Now(), p.cpu(b)
			if err := pool.grow(n, *scaleDialers); err != nil {
				b.Fatal(err)
			}
			took := time.Since(start)
			b.ReportMetric(float64(added)/took.Seconds(), "conn/s")
			b.ReportMetric(float64(took.Nanoseconds())/float64(added), "ns/op")
			b.ReportMetric(perOp(p.cpu(b)-cpu0, int64(added)), "server-cpu-ns/conn")

			time.Sleep(200 * time.Millisecond) // let the connections go idle
			b.ReportMetric(float64(p.rss(b)-serverBase)/float64(n), "server-B/conn")
			b.ReportMetric(float64(heapInUse()-clientBase)/float64(n), "client-B/conn")

			if latencySteps[n] {
				calls := max(*scaleCalls, 2*n)
				cpu0 := p.cpu(b)
				lat, rate, err := pool.callLoad(calls, *scaleCallers)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(rate, "req/s")
				b.ReportMetric(perOp(p.cpu(b)-cpu0, int64(calls)), "server-cpu-ns/req")
				lat.report(b)
			}
		})
	}
}

// heapInUse returns the bytes of live heap and goroutine stacks after a
// collection.
func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

// connPool is a growing set of ready gRPC connections to one server.
type connPool struct {
	addr  string
	cfg   *tls.Config
	mu    sync.Mutex
	conns []*client.Client
}

func (p *connPool) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// grow opens connections from workers goroutines until the pool holds n.
func (p *connPool) grow(n, workers int) error {
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	next.Store(int64(p.len()))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				c, err := p.dial(int(i))
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				p.mu.Lock()
				p.conns = append(p.conns, c)
				p.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// dial opens connection i from one of the loopback source addresses and
// waits until it is ready. Spreading connections over several source
// addresses keeps each address far from the ephemeral port limit.
func (p *connPool) dial(i int) (*client.Client, error) {
	source := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%*sourceIPs))}
	dialer := &net.Dialer{LocalAddr: source}
	c, err := client.Dial(p.addr, p.cfg, grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		return dialer.DialContext(ctx, "tcp", addr)
	}))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	conn := c.Conn()
	conn.Connect()
	for state := conn.GetState(); state != connectivity.Ready; state = conn.GetState() {
		if state == connectivity.TransientFailure || !conn.WaitForStateChange(ctx, state) {
			c.Close()
			return nil, fmt.Errorf("connection %d from %s to %s: state %s", i, source.IP, p.addr, state)
		}
	}
	return c, nil
}

// callLoad makes calls unary Echo calls from workers goroutines, going
// round the pool so every connection carries some, and returns their
// latencies and the rate.
func (p *connPool) callLoad(calls, workers int) (*latencies, float64, error) {
	p.mu.Lock()
	conns := p.conns
	p.mu.Unlock()
	var (
		next     atomic.Int64
		lat      latencies
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(calls); i = next.Add(1) - 1 {
				demo := mtlsv1.NewDemoServiceClient(conns[int(i)%len(conns)].Conn())
				ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
				t0 := time.Now()
				_, err := demo.Echo(ctx, &mtlsv1.EchoRequest{Message: "hello"})
				lat.add(time.Since(t0))
				cancel()
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return &lat, float64(calls) / time.Since(start).Seconds(), firstErr
}

func (p *connPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
