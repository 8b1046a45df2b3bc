package main

import (
	"io"
	"sync"
	"time"
)

// Limits of a lineBatcher: a line waits at most logFlushDelay before it is
// written, and a batch is written at once when it reaches logBatchSize.
const (
	logFlushDelay = 50 * time.Millisecond
	logBatchSize  = 64 << 10
)

// lineBatcher collects the log lines of a busy server and writes them to
// out together. mtls serve logs every call, and a write system call per
// line costs about as much as formatting the line, so batching takes that
// cost off the request path. Every line still reaches out within
// logFlushDelay, and Flush writes the rest before the process exits.
type lineBatcher struct {
	out     io.Writer
	mu      sync.Mutex
	buf     []byte
	pending bool // a timer will flush buf
	timer   *time.Timer
}

func newLineBatcher(out io.Writer) *lineBatcher {
	b := &lineBatcher{out: out}
	b.timer = time.AfterFunc(time.Hour, func() { _ = b.Flush() })
	b.timer.Stop()
	return b
}

// Write appends p, which slog handlers pass as whole lines, to the batch.
func (b *lineBatcher) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) >= logBatchSize {
		return len(p), b.flushLocked()
	}
	if !b.pending {
		b.pending = true
		b.timer.Reset(logFlushDelay)
	}
	return len(p), nil
}

// Flush writes the lines collected so far.
func (b *lineBatcher) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *lineBatcher) flushLocked() error {
	b.pending = false
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.out.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}
