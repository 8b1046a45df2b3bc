package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startupTimeout bounds how long a server process may take to listen.
const startupTimeout = 20 * time.Second

var (
	processesMu sync.Mutex
	processes   []*exec.Cmd
)

// stopProcesses kills every server process the benchmarks started and
// did not stop, such as after a failed benchmark.
func stopProcesses() {
	processesMu.Lock()
	defer processesMu.Unlock()
	for _, cmd := range processes {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	processes = nil
}

// serverProcess is a server started by a benchmark.
type serverProcess struct {
	cmd  *exec.Cmd
	addr string
	log  string
}

// startProcess runs bin with args, its output going to a log file, and
// stops it when b ends.
func startProcess(b *testing.B, bin string, args ...string) *serverProcess {
	b.Helper()
	logPath := filepath.Join(b.TempDir(), filepath.Base(bin)+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		b.Fatalf("start %s: %v", bin, err)
	}
	processesMu.Lock()
	processes = append(processes, cmd)
	processesMu.Unlock()
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return &serverProcess{cmd: cmd, log: logPath}
}

// listenAddr matches the address in mtls serve's "server listening" log line.
var listenAddr = regexp.MustCompile(`msg="server listening" addr=(\S+)`)

// startMTLSServe runs 'mtls serve' with f's server identity on a free
// loopback port and waits until it listens.
func startMTLSServe(b *testing.B, f *fixture) *serverProcess {
	b.Helper()
	skipWithout(b, *mtlsBin, "mtls")
	p := startProcess(b, *mtlsBin, "serve", "--listen", "127.0.0.1:0",
		"--cert", f.path("server.crt"), "--key", f.path("server.key"), "--ca", f.path("ca.crt"))
	deadline := time.Now().Add(startupTimeout)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(p.log)
		if m := listenAddr.FindSubmatch(data); m != nil {
			p.addr = string(m[1])
			return p
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("mtls serve did not log its address within %s; log %s", startupTimeout, p.log)
	return nil
}

// startExampleServer runs grpc-go's mTLS example server on a free port
// and waits until it accepts connections. The example listens on
// "localhost:PORT" and picks no port itself, so this takes a free one.
func startExampleServer(b *testing.B) *serverProcess {
	b.Helper()
	skipWithout(b, *exampleBin, "example-server")
	port := freePort(b)
	p := startProcess(b, *exampleBin, "-port", strconv.Itoa(port))
	p.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	waitListening(b, p.addr)
	return p
}

func freePort(b *testing.B) int {
	b.Helper()
	lis := listenLoopback(b)
	defer lis.Close()
	return lis.Addr().(*net.TCPAddr).Port
}

func waitListening(b *testing.B, addr string) {
	b.Helper()
	deadline := time.Now().Add(startupTimeout)
	for time.Now().Before(deadline) {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("no server listening on %s after %s", addr, startupTimeout)
}

// rss returns the resident set size of the process in bytes.
func (p *serverProcess) rss(b *testing.B) int64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if value, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(value), "kB")), 10, 64)
			if err != nil {
				b.Fatalf("parse VmRSS %q: %v", value, err)
			}
			return kb << 10
		}
	}
	b.Fatalf("no VmRSS in /proc/%d/status", p.cmd.Process.Pid)
	return 0
}
