package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lockedBuffer is a bytes.Buffer safe for the batcher's timer goroutine
// and the test to use at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestLineBatcherFlushWritesEveryLine(t *testing.T) {
	out := &lockedBuffer{}
	b := newLineBatcher(out)

	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				_, _ = b.Write([]byte("line\n"))
			}
		}()
	}
	wg.Wait()
	require.NoError(t, b.Flush())

	assert.Equal(t, strings.Repeat("line\n", 400), out.String())
}

func TestLineBatcherWritesFullBatchAtOnce(t *testing.T) {
	out := &lockedBuffer{}
	b := newLineBatcher(out)
	line := []byte(strings.Repeat("x", 1023) + "\n")

	for range logBatchSize / len(line) {
		n, err := b.Write(line)
		require.NoError(t, err)
		require.Equal(t, len(line), n)
	}

	assert.Len(t, out.String(), logBatchSize, "a full batch is written without waiting for the timer")
}

func TestLineBatcherWritesLoneLineLater(t *testing.T) {
	out := &lockedBuffer{}
	b := newLineBatcher(out)

	_, err := b.Write([]byte("server listening\n"))
	require.NoError(t, err)

	// The timer writes the line on its own; the wait is bounded, not timed.
	assert.Eventually(t, func() bool { return out.String() == "server listening\n" }, 10*time.Second, 5*time.Millisecond)
}
