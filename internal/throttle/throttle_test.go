package throttle_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/internal/throttle"
)

type suppressedLog struct {
	mu     sync.Mutex
	counts map[string]int
	calls  int
	done   chan struct{}
}

func newSuppressedLog() *suppressedLog {
	return &suppressedLog{counts: map[string]int{}, done: make(chan struct{}, 16)}
}

func (l *suppressedLog) record(key string, n int) {
	l.mu.Lock()
	l.counts[key] += n
	l.calls++
	l.mu.Unlock()
	l.done <- struct{}{}
}

func TestThrottleAllowsBurstPerKey(t *testing.T) {
	log := newSuppressedLog()
	th := throttle.New(time.Hour, 3, log.record)

	allowed := map[string]int{}
	for i := 0; i < 10; i++ {
		for _, key := range []string{"unknown_authority", "not_tls"} {
			if th.Allow(key) {
				allowed[key]++
			}
		}
	}
	assert.Equal(t, map[string]int{"unknown_authority": 3, "not_tls": 3}, allowed)

	th.Flush()
	assert.Equal(t, map[string]int{"unknown_authority": 7, "not_tls": 7}, log.counts)
	assert.Equal(t, 2, log.calls)
}

func TestThrottleReportsAtIntervalEnd(t *testing.T) {
	log := newSuppressedLog()
	th := throttle.New(50*time.Millisecond, 1, log.record)

	require.True(t, th.Allow("no_client_certificate"))
	for i := 0; i < 4; i++ {
		require.False(t, th.Allow("no_client_certificate"))
	}
	select {
	case <-log.done:
	case <-time.After(30 * time.Second):
		t.Fatal("suppressed count never reported")
	}
	log.mu.Lock()
	assert.Equal(t, map[string]int{"no_client_certificate": 4}, log.counts)
	log.mu.Unlock()

	// A new interval starts with a new burst.
	assert.True(t, th.Allow("no_client_certificate"))
	th.Flush()
	assert.Equal(t, 1, log.calls, "an interval without suppressed events reports nothing")
}

func TestThrottleConcurrentUse(t *testing.T) {
	log := newSuppressedLog()
	th := throttle.New(time.Hour, 5, log.record)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				if th.Allow("k") {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	th.Flush()
	assert.Equal(t, 5, allowed)
	assert.Equal(t, map[string]int{"k": 795}, log.counts)
}
