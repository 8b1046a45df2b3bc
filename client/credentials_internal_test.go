package client

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProbedConnectionReplaysThenReadsDirectly(t *testing.T) {
	clientSide, serverSide := net.Pipe()
	defer clientSide.Close()
	go func() {
		_, _ = serverSide.Write([]byte("settings"))
		_, _ = serverSide.Write([]byte("-then-data"))
		serverSide.Close()
	}()

	conn, err := probeRejection(context.Background(), clientSide)
	require.NoError(t, err)
	buffered, ok := conn.(*bufferedConn)
	require.True(t, ok, "the probe returns a connection that replays what it read")

	first := make([]byte, 3)
	_, err = io.ReadFull(conn, first)
	require.NoError(t, err)
	assert.NotNil(t, buffered.r, "the reader stays while it holds probed bytes")

	rest, err := io.ReadAll(conn)
	require.NoError(t, err)
	assert.Equal(t, "settings-then-data", string(first)+string(rest))
	assert.Nil(t, buffered.r, "the reader is dropped once its bytes are read")
}
