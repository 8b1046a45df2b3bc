package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/client"
	"github.com/grpc-mtls/grpc-mtls/pki"
	mtlsv1 "github.com/grpc-mtls/grpc-mtls/proto/mtls/v1"
)

// buildMTLSBinary builds the mtls binary into a temporary directory.
func buildMTLSBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mtls")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

// outputTranscript collects the output of every command a test runs, to scan it
// for secrets at the end.
type outputTranscript struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (tr *outputTranscript) Write(p []byte) (int, error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.buf.Write(p)
}

func (tr *outputTranscript) String() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.buf.String()
}

// runMTLSBinary runs the binary to completion and returns its exit code and
// combined output, which also goes to tr.
func runMTLSBinary(t *testing.T, tr *outputTranscript, bin string, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	// One writer for both streams makes exec call it from one goroutine.
	w := io.MultiWriter(&out, tr)
	cmd.Stdout, cmd.Stderr = w, w
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !assert.ErrorAs(t, err, &exit) {
		return -1, out.String()
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// serveProcess is 'mtls serve' running as a child process.
type serveProcess struct {
	cmd         *exec.Cmd
	log         *serveLog
	addr        string
	metricsAddr string
	exited      chan error
}

// serveLog is the server's stderr, readable while it runs.
type serveLog struct {
	mu    sync.Mutex
	lines []string
	added chan struct{}
}

func (l *serveLog) add(line string) {
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
	select {
	case l.added <- struct{}{}:
	default:
	}
}

func (l *serveLog) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// waitFor waits until a log line matches re and returns the match.
func (l *serveLog) waitFor(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	guard := time.After(30 * time.Second)
	for {
		l.mu.Lock()
		for _, line := range l.lines {
			if m := re.FindStringSubmatch(line); m != nil {
				l.mu.Unlock()
				return m
			}
		}
		l.mu.Unlock()
		select {
		case <-l.added:
		case <-guard:
			t.Fatalf("no log line matches %s:\n%s", re, l.text())
		}
	}
}

// waitCount waits until n log lines contain substr.
func (l *serveLog) waitCount(t *testing.T, substr string, n int) {
	t.Helper()
	guard := time.After(30 * time.Second)
	for strings.Count(l.text(), substr) < n {
		select {
		case <-l.added:
		case <-guard:
			t.Fatalf("fewer than %d log lines contain %q:\n%s", n, substr, l.text())
		}
	}
}

func startServeProcess(t *testing.T, tr *outputTranscript, bin string, args ...string) *serveProcess {
	t.Helper()
	all := append([]string{"serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"}, args...)
	cmd := exec.Command(bin, all...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	cmd.Stdout = tr
	require.NoError(t, cmd.Start())
	p := &serveProcess{cmd: cmd, log: &serveLog{added: make(chan struct{}, 1)}, exited: make(chan error, 1)}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(io.TeeReader(stderr, tr))
		for sc.Scan() {
			p.log.add(sc.Text())
		}
	}()
	go func() {
		<-scanned
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	p.addr = p.log.waitFor(t, regexp.MustCompile(`msg="server listening" addr=(\S+)`))[1]
	p.metricsAddr = p.log.waitFor(t, regexp.MustCompile(`msg="metrics listening" addr=(\S+)`))[1]
	return p
}

// TestServeProcessUnderBadPeers runs the real binary: rejected peers are
// logged with a reason and throttled, metrics count them, SIGTERM lets a
// running call finish, and no command ever prints key material or a
// password.
func TestServeProcessUnderBadPeers(t *testing.T) {
	bin := buildMTLSBinary(t)
	tr := &outputTranscript{}
	dir := filepath.Join(t.TempDir(), "pki")
	passphrase := filepath.Join(filepath.Dir(dir), "ca.passphrase")
	require.NoError(t, os.WriteFile(passphrase, []byte("ca-passphrase-never-printed\n"), 0o600))
	code, out := runMTLSBinary(t, tr, bin, "pki", "init", "--dir", dir, "--ca-passphrase-file", passphrase)
	require.Equal(t, 0, code, out)
	p := func(name string) string { return filepath.Join(dir, name) }

	srv := startServeProcess(t, tr, bin, "--keystore", p(pki.FileServerP12), "--truststore", p(pki.FileTruststore),
		"--password-file", p(pki.FileP12Password), "--rejection-log-burst", "2", "--rejection-log-interval", "1h")

	code, out = runMTLSBinary(t, tr, bin, "call", "--addr", srv.addr, "--server-name", "localhost", "--keystore", p(pki.FileClientP12),
		"--truststore", p(pki.FileTruststore), "--password-file", p(pki.FileP12Password), "--echo", "2", "--stream")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "Stream reply #3")

	const rejected = 6
	for i := 0; i < rejected; i++ {
		code, out = runMTLSBinary(t, tr, bin, "call", "--addr", srv.addr, "--server-name", "localhost", "--ca", p(pki.FileCACert),
			"--expect-failure", string(pki.ReasonNoClientCertificate))
		require.Equal(t, 0, code, out)
	}
	for _, payload := range []string{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"} {
		conn, err := net.Dial("tcp", srv.addr)
		require.NoError(t, err)
		_, err = io.WriteString(conn, payload)
		require.NoError(t, err)
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, _ = io.Copy(io.Discard, conn)
		conn.Close()
	}
	srv.log.waitCount(t, "reason=not_tls", 2)

	metricsText := getBody(t, "http://"+srv.metricsAddr+"/metrics")
	assert.Contains(t, metricsText, `mtls_handshakes_total{reason="no_client_certificate",result="failure"} 6`)
	assert.Contains(t, metricsText, `mtls_handshakes_total{reason="not_tls",result="failure"} 2`)
	code, out = runMTLSBinary(t, tr, bin, "status", "--metrics-addr", srv.metricsAddr)
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "CN=server")

	// An EchoStream call is in flight when SIGTERM arrives.
	stream := openEchoStream(t, srv.addr, p)
	require.NoError(t, srv.cmd.Process.Signal(syscall.SIGTERM))
	srv.log.waitFor(t, regexp.MustCompile(`msg="shutting down"`))
	require.NoError(t, stream.Send(&mtlsv1.EchoStreamRequest{Message: "after SIGTERM"}))
	reply, err := stream.Recv()
	require.NoError(t, err)
	assert.Equal(t, "after SIGTERM", reply.GetMessage())
	require.NoError(t, stream.CloseSend())
	_, err = stream.Recv()
	require.ErrorIs(t, err, io.EOF)
	select {
	case err := <-srv.exited:
		require.NoError(t, err, "serve must exit 0 after a graceful stop")
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not exit after SIGTERM")
	}

	logText := srv.log.text()
	assert.Equal(t, 2, countRejections(logText, "no_client_certificate"), "rejections logged before throttling")
	assert.Contains(t, logText, `msg="rejected handshakes not logged" reason=no_client_certificate suppressed=4`)
	assert.Equal(t, 2, countRejections(logText, "not_tls"), "one line per plaintext peer")
	assert.Contains(t, logText, `msg="server stopped"`)

	assertNoSecrets(t, tr.String(), dir, passphrase)
}

// countRejections counts the server's "rejected handshake" log lines with
// the given reason.
func countRejections(logText, reason string) int {
	n := 0
	for _, line := range strings.Split(logText, "\n") {
		if strings.Contains(line, `msg="rejected handshake"`) && strings.Contains(line, " reason="+reason+" ") {
			n++
		}
	}
	return n
}

func openEchoStream(t *testing.T, addr string, p func(string) string) mtlsv1.DemoService_EchoStreamClient {
	t.Helper()
	ks, err := pki.LoadKeystore(pki.KeystoreSource{CertFile: p(pki.FileClientCert), KeyFile: p(pki.FileClientKey)})
	require.NoError(t, err)
	ts, err := pki.LoadTruststore(pki.TruststoreSource{File: p(pki.FileCACert)})
	require.NoError(t, err)
	cfg, err := pki.ClientTLSConfig(ks, ts, "localhost", pki.TLSOptions{})
	require.NoError(t, err)
	c, err := client.Dial(addr, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	stream, err := mtlsv1.NewDemoServiceClient(c.Conn()).EchoStream(context.Background())
	require.NoError(t, err)
	require.NoError(t, stream.Send(&mtlsv1.EchoStreamRequest{Message: "before"}))
	_, err = stream.Recv()
	require.NoError(t, err)
	return stream
}

func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}

// assertNoSecrets checks that output holds no PEM private key, no line of
// any key file's base64 body, no password and, when passphraseFile is set,
// no passphrase.
func assertNoSecrets(t *testing.T, output, dir, passphraseFile string) {
	t.Helper()
	require.NotEmpty(t, output)
	assert.NotContains(t, output, "PRIVATE KEY-----")

	password, err := pki.ReadPassword(filepath.Join(dir, pki.FileP12Password))
	require.NoError(t, err)
	assert.NotContains(t, output, string(password), "the PKCS#12 password")
	if passphraseFile != "" {
		passphrase, err := pki.ReadPassword(passphraseFile)
		require.NoError(t, err)
		assert.NotContains(t, output, string(passphrase), "the CA key passphrase")
	}

	for _, name := range []string{pki.FileCAKey, pki.FileServerKey, pki.FileClientKey} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		block, _ := pem.Decode(data)
		require.NotNil(t, block, name)
		for _, line := range strings.Split(string(data), "\n") {
			if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
				assert.NotContains(t, output, line, "a line of %s", name)
			}
		}
	}
}

// TestBadInputProcess runs a few bad inputs through the real binary: each
// exits 1 with a message naming the file, and none panics.
func TestBadInputProcess(t *testing.T) {
	bin := buildMTLSBinary(t)
	tr := &outputTranscript{}
	dir := filepath.Join(t.TempDir(), "pki")
	code, out := runMTLSBinary(t, tr, bin, "pki", "init", "--dir", dir)
	require.Equal(t, 0, code, out)
	p := func(name string) string { return filepath.Join(dir, name) }
	caKey, err := os.ReadFile(p(pki.FileCAKey))
	require.NoError(t, err)
	clientKey, err := os.ReadFile(p(pki.FileClientKey))
	require.NoError(t, err)
	twoKeys := filepath.Join(t.TempDir(), "two.key")
	require.NoError(t, os.WriteFile(twoKeys, append(caKey, clientKey...), 0o600))
	wrong := filepath.Join(t.TempDir(), "wrong.password")
	require.NoError(t, os.WriteFile(wrong, []byte("wrong\n"), 0o600))

	for name, tc := range map[string]struct {
		args []string
		want []string
	}{
		"missing certificate": {[]string{"serve", "--cert", p("gone.crt"), "--key", p(pki.FileServerKey), "--ca", p(pki.FileCACert)},
			[]string{"gone.crt", "file not found"}},
		"two keys": {[]string{"call", "--cert", p(pki.FileClientCert), "--key", twoKeys, "--ca", p(pki.FileCACert)},
			[]string{"two.key", "more than one private key"}},
		"wrong PKCS#12 password": {[]string{"pki", "inspect", "--password-file", wrong, p(pki.FileClientP12)},
			[]string{pki.FileClientP12, "password is wrong"}},
		"truststore is a directory": {[]string{"health", "--ca", dir}, []string{dir, "is a directory"}},
	} {
		t.Run(name, func(t *testing.T) {
			code, out := runMTLSBinary(t, tr, bin, tc.args...)
			assert.Equal(t, 1, code, out)
			for _, want := range tc.want {
				assert.Contains(t, out, want)
			}
			assert.NotContains(t, out, "panic")
			assert.NotContains(t, out, "goroutine ")
		})
	}
	assertNoSecrets(t, tr.String(), dir, "")
}
