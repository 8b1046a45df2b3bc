package server_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/grpc-mtls/grpc-mtls/client"
	mtlsv1 "github.com/grpc-mtls/grpc-mtls/proto/mtls/v1"
	"github.com/grpc-mtls/grpc-mtls/server"
)

// dialHTTP2 opens a TLS connection with a valid client certificate and
// speaks raw HTTP/2 on it: it sends the client preface and its settings
// and returns the framer after reading the server's settings.
func dialHTTP2(t *testing.T, ts *limitsServer) (*http2.Framer, *http2.SettingsFrame) {
	t.Helper()
	cfg := ts.ca.ClientTLSConfig(t, "raw", "localhost")
	cfg.NextProtos = []string{"h2"}
	conn, err := tls.Dial("tcp", ts.addr, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))

	_, err = io.WriteString(conn, http2.ClientPreface)
	require.NoError(t, err)
	framer := http2.NewFramer(conn, conn)
	require.NoError(t, framer.WriteSettings())
	for {
		frame, err := framer.ReadFrame()
		require.NoError(t, err)
		if settings, ok := frame.(*http2.SettingsFrame); ok && !settings.IsAck() {
			require.NoError(t, framer.WriteSettingsAck())
			return framer, settings
		}
	}
}

func TestMaxConcurrentStreamsAdvertised(t *testing.T) {
	for name, tc := range map[string]struct {
		limits server.Limits
		want   uint32
	}{
		"default": {server.Limits{}, server.DefaultMaxConcurrentStreams},
		"set":     {server.Limits{MaxConcurrentStreams: 7}, 7},
	} {
		t.Run(name, func(t *testing.T) {
			ts := startTestServer(t, server.Options{Limits: tc.limits})
			_, settings := dialHTTP2(t, ts)
			got, ok := settings.Value(http2.SettingMaxConcurrentStreams)
			require.True(t, ok, "server sent no SETTINGS_MAX_CONCURRENT_STREAMS")
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestMaxConcurrentStreamsEnforced(t *testing.T) {
	ts := startTestServer(t, server.Options{Limits: server.Limits{MaxConcurrentStreams: 2}})
	demo := mtlsv1.NewDemoServiceClient(ts.dial(t, "alice").Conn())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var open []mtlsv1.DemoService_EchoStreamClient
	for i := 0; i < 2; i++ {
		stream, err := demo.EchoStream(ctx)
		require.NoError(t, err)
		require.NoError(t, stream.Send(&mtlsv1.EchoStreamRequest{Message: "hold"}))
		_, err = stream.Recv()
		require.NoError(t, err)
		open = append(open, stream)
	}

	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := demo.Echo(short, &mtlsv1.EchoRequest{Message: "third"})
	cancelShort()
	require.Error(t, err, "a third call must wait while two streams are open")
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err))

	require.NoError(t, open[0].CloseSend())
	_, err = open[0].Recv()
	require.ErrorIs(t, err, io.EOF)
	_, err = demo.Echo(ctx, &mtlsv1.EchoRequest{Message: "third"})
	require.NoError(t, err, "the call must proceed once a stream ends")
}

func TestMaxRecvMsgSize(t *testing.T) {
	ts := startTestServer(t, server.Options{Limits: server.Limits{MaxRecvMsgSize: 1024}})
	c := ts.dial(t, "alice")

	_, err := c.Echo(context.Background(), strings.Repeat("a", 512))
	require.NoError(t, err)
	_, err = c.Echo(context.Background(), strings.Repeat("a", 2048))
	require.Error(t, err)
	assert.Equal(t, codes.ResourceExhausted, status.Code(err))
}

// readGoAway reads frames until a GOAWAY arrives, acknowledging nothing.
func readGoAway(t *testing.T, framer *http2.Framer) (*http2.GoAwayFrame, int) {
	t.Helper()
	acks := 0
	for {
		frame, err := framer.ReadFrame()
		if err != nil {
			require.Truef(t, errors.Is(err, io.EOF), "read frame: %v", err)
			return nil, acks
		}
		switch f := frame.(type) {
		case *http2.GoAwayFrame:
			return f, acks
		case *http2.PingFrame:
			if f.IsAck() {
				acks++
			}
		}
	}
}

func TestKeepaliveTooManyPingsRejected(t *testing.T) {
	ts := startTestServer(t, server.Options{})
	framer, _ := dialHTTP2(t, ts)
	for i := 0; i < 5; i++ {
		require.NoError(t, framer.WritePing(false, [8]byte{byte(i)}))
	}
	goAway, _ := readGoAway(t, framer)
	require.NotNil(t, goAway, "server closed without GOAWAY")
	assert.Equal(t, http2.ErrCodeEnhanceYourCalm, goAway.ErrCode)
	assert.Equal(t, "too_many_pings", string(goAway.DebugData()))
}

func TestKeepalivePingsPermitted(t *testing.T) {
	ts := startTestServer(t, server.Options{Limits: server.Limits{
		KeepaliveMinTime:             time.Nanosecond,
		KeepalivePermitWithoutStream: true,
	}})
	framer, _ := dialHTTP2(t, ts)
	const pings = 5
	for i := 0; i < pings; i++ {
		require.NoError(t, framer.WritePing(false, [8]byte{byte(i)}))
	}
	acks := 0
	for acks < pings {
		frame, err := framer.ReadFrame()
		require.NoError(t, err)
		switch f := frame.(type) {
		case *http2.GoAwayFrame:
			t.Fatalf("server sent GOAWAY %v %q", f.ErrCode, f.DebugData())
		case *http2.PingFrame:
			if f.IsAck() {
				acks++
			}
		}
	}
	assert.Equal(t, pings, acks)
}

func TestShutdownFinishesInFlightCalls(t *testing.T) {
	ts := startTestServer(t, server.Options{})
	c := ts.dial(t, "alice")
	stream, err := mtlsv1.NewDemoServiceClient(c.Conn()).EchoStream(context.Background())
	require.NoError(t, err)
	require.NoError(t, stream.Send(&mtlsv1.EchoStreamRequest{Message: "one"}))
	_, err = stream.Recv()
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	shutdown := make(chan error, 1)
	go func() { shutdown <- server.Shutdown(ctx, ts.srv) }()
	waitListenerClosed(t, ts.addr)

	// New calls are refused, on a new connection and on the old one.
	err = ts.whoAmI(t, "late")
	require.Error(t, err)
	assert.Equal(t, codes.Unavailable, status.Code(err))
	waitNotReady(t, c)
	short, cancelShort := context.WithTimeout(context.Background(), 5*time.Second)
	_, err = c.Echo(short, "late")
	cancelShort()
	require.Error(t, err)
	assert.Equal(t, codes.Unavailable, status.Code(err))

	// The call in flight finishes normally.
	require.NoError(t, stream.Send(&mtlsv1.EchoStreamRequest{Message: "two"}))
	reply, err := stream.Recv()
	require.NoError(t, err)
	assert.Equal(t, "two", reply.GetMessage())
	require.NoError(t, stream.CloseSend())
	_, err = stream.Recv()
	require.ErrorIs(t, err, io.EOF)

	require.NoError(t, <-shutdown)
	require.NoError(t, <-ts.done, "Serve must return nil after a graceful stop")
}

// waitListenerClosed waits until connections to addr are refused.
func waitListenerClosed(t *testing.T, addr string) {
	t.Helper()
	for i := 0; ; i++ {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		conn.Close()
		require.Less(t, i, 300, "listener still accepting after shutdown")
		time.Sleep(100 * time.Millisecond)
	}
}

func TestShutdownDeadlineClosesCalls(t *testing.T) {
	ts := startTestServer(t, server.Options{})
	c := ts.dial(t, "alice")
	stream, err := mtlsv1.NewDemoServiceClient(c.Conn()).EchoStream(context.Background())
	require.NoError(t, err)
	require.NoError(t, stream.Send(&mtlsv1.EchoStreamRequest{Message: "one"}))
	_, err = stream.Recv()
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = server.Shutdown(ctx, ts.srv)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "closed the calls still running")

	_, err = stream.Recv()
	require.Error(t, err, "the stream must be closed by the forced stop")
	assert.Equal(t, codes.Unavailable, status.Code(err))
}

// waitNotReady waits until the client has noticed the server's GOAWAY and
// left the READY state.
func waitNotReady(t *testing.T, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for state := c.Conn().GetState(); state == connectivity.Ready; state = c.Conn().GetState() {
		require.True(t, c.Conn().WaitForStateChange(ctx, state), "client stayed READY after shutdown")
	}
}
