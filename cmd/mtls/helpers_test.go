package main_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
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
)

// mtlsBin is the mtls binary that TestMain builds once for every test.
var mtlsBin string

// commandTimeout bounds every subprocess, so that a hung server or client
// fails the test instead of the whole run. It is a deadlock guard, not a
// speed goal.
const commandTimeout = 30 * time.Second

// scriptTimeout bounds the scripts under scripts/, which run dozens of
// commands; openssl-pki.sh generates an RSA-4096 key.
const scriptTimeout = 3 * time.Minute

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mtls-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "create directory for the test binary:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	// Built without the race detector: the CLI runs as a user would run it,
	// and the packages it uses are race-tested on their own.
	mtlsBin = filepath.Join(dir, "mtls")
	build := exec.Command("go", "build", "-o", mtlsBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build mtls:", err)
		return 1
	}
	return m.Run()
}

// result is what a finished mtls process printed and its exit code.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit code %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// cleanEnv returns the environment without MTLS_ variables, so that a
// developer's shell settings cannot change what a test runs.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MTLS_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// run runs a program to completion with the extra environment variables
// and an empty standard input.
func run(t *testing.T, env []string, name string, args ...string) result {
	t.Helper()
	return runWithInput(t, "", env, name, args...)
}

// runWithInput is run with input as the program's standard input.
func runWithInput(t *testing.T, input string, env []string, name string, args ...string) result {
	t.Helper()
	return runWithTimeout(t, commandTimeout, input, env, name, args...)
}

// runWithTimeout is runWithInput with its own time limit, for scripts that
// run many commands.
func runWithTimeout(t *testing.T, timeout time.Duration, input string, env []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = cleanEnv(env...)
	cmd.Stdin = strings.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.code = exitErr.ExitCode()
	default:
		require.NoError(t, err, "run %s %s", name, strings.Join(args, " "))
	}
	require.NoError(t, ctx.Err(), "%s %s did not finish within %s", name, strings.Join(args, " "), timeout)
	return res
}

// mtls runs the mtls binary with args.
func mtls(t *testing.T, args ...string) result {
	t.Helper()
	return run(t, nil, mtlsBin, args...)
}

// mustMTLS runs the mtls binary and fails the test unless it exits 0.
func mustMTLS(t *testing.T, args ...string) result {
	t.Helper()
	res := mtls(t, args...)
	require.Equal(t, 0, res.code, "mtls %s\n%s", strings.Join(args, " "), res)
	return res
}

// pkiDir is a directory made by 'mtls pki init' with its file names.
type pkiDir string

func (d pkiDir) path(name string) string { return filepath.Join(string(d), name) }

// clientArgs are the flags that give a client this PKI's PEM files.
func (d pkiDir) clientArgs() []string {
	return []string{"--cert", d.path("client.crt"), "--key", d.path("client.key"), "--ca", d.path("ca.crt")}
}

// serverArgs are the flags that give a server this PKI's PEM files.
func (d pkiDir) serverArgs() []string {
	return []string{"--cert", d.path("server.crt"), "--key", d.path("server.key"), "--ca", d.path("ca.crt")}
}

// initPKI runs 'mtls pki init' with extra flags into a new directory.
func initPKI(t *testing.T, extra ...string) pkiDir {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	mustMTLS(t, append([]string{"pki", "init", "--dir", dir}, extra...)...)
	return pkiDir(dir)
}

// serverProcess is a running 'mtls serve' and the log it writes to stderr.
type serverProcess struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // the process's exit error, set when done is closed

	mu  sync.Mutex
	log []string
	// changed is closed and replaced whenever a log line arrives.
	changed chan struct{}
}

// listeningAddr finds the address in the startup line of the text or the
// JSON log format.
var listeningAddr = regexp.MustCompile(`server listening.*\baddr(?:=|":")([^\s"]+)`)

// startServer runs 'mtls serve' on a free loopback port with args and the
// extra environment, and waits until it listens. Unless args or env set
// the listen address, it is 127.0.0.1:0 so that the kernel picks the
// port. The server is stopped with SIGTERM when the test ends.
func startServer(t *testing.T, env []string, args ...string) *serverProcess {
	t.Helper()
	if !containsListen(args, env) {
		args = append([]string{"--listen", "127.0.0.1:0"}, args...)
	}
	cmd := exec.Command(mtlsBin, append([]string{"serve"}, args...)...)
	cmd.Env = cleanEnv(env...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	s := &serverProcess{cmd: cmd, done: make(chan struct{}), changed: make(chan struct{})}
	go s.readLog(bufio.NewScanner(stderr))
	t.Cleanup(func() { s.stop(t) })

	line := s.waitLog(t, "server listening")
	m := listeningAddr.FindStringSubmatch(line)
	require.NotNil(t, m, "no address in %q", line)
	s.addr = m[1]
	return s
}

func containsListen(args, env []string) bool {
	for _, a := range args {
		if a == "--listen" || strings.HasPrefix(a, "--listen=") {
			return true
		}
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "MTLS_LISTEN=") {
			return true
		}
	}
	return false
}

func (s *serverProcess) readLog(sc *bufio.Scanner) {
	for sc.Scan() {
		s.mu.Lock()
		s.log = append(s.log, sc.Text())
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
	}
	s.err = s.cmd.Wait()
	close(s.done)
}

// logLines returns the lines logged so far.
func (s *serverProcess) logLines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

// waitLog waits until the server logs a line that contains every one of
// parts, and returns it.
func (s *serverProcess) waitLog(t *testing.T, parts ...string) string {
	t.Helper()
	return s.waitLogAfter(t, 0, parts...)
}

// waitLogAfter is waitLog for the lines after the first skip ones, which
// came before the step under test.
func (s *serverProcess) waitLogAfter(t *testing.T, skip int, parts ...string) string {
	t.Helper()
	deadline := time.After(commandTimeout)
	for {
		s.mu.Lock()
		changed := s.changed
		for _, line := range s.log[min(skip, len(s.log)):] {
			if containsAll(line, parts) {
				s.mu.Unlock()
				return line
			}
		}
		s.mu.Unlock()
		select {
		case <-changed:
		case <-s.done:
			t.Fatalf("mtls serve exited (%v) before logging a line with %q; log:\n%s", s.err, parts, strings.Join(s.logLines(), "\n"))
		case <-deadline:
			t.Fatalf("mtls serve logged no line with %q within %s; log:\n%s", parts, commandTimeout, strings.Join(s.logLines(), "\n"))
		}
	}
}

func containsAll(line string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(line, p) {
			return false
		}
	}
	return true
}

// stop sends SIGTERM and checks that the server stops gracefully with
// exit code 0.
func (s *serverProcess) stop(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
		return
	default:
	}
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-s.done:
	case <-time.After(commandTimeout):
		_ = s.cmd.Process.Kill()
		<-s.done
		t.Errorf("mtls serve did not stop within %s of SIGTERM", commandTimeout)
		return
	}
	assert.NoError(t, s.err, "mtls serve exits 0 on SIGTERM; log:\n%s", strings.Join(s.logLines(), "\n"))
	assert.NotEmpty(t, s.waitLog(t, "server stopped"))
}

// args joins flag lists.
func args(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
