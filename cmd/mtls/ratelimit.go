package main

import (
	"net"
	"sync"
	"time"
)

// maxLimitedKeys bounds the memory of a logLimiter. Past it, keys whose
// interval has passed are dropped. While every tracked key is still within
// its interval, new keys are let through untracked.
const maxLimitedKeys = 4096

// logLimiter lets one log line per key through each interval and counts
// the lines it holds back, so that a noisy peer cannot flood the log.
type logLimiter struct {
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	keys map[string]*limitedKey
}

type limitedKey struct {
	last       time.Time
	suppressed int
}

func newLogLimiter(interval time.Duration) *logLimiter {
	return &logLimiter{interval: interval, now: time.Now, keys: map[string]*limitedKey{}}
}

// allow reports whether a line for key may be logged now and, if so, how
// many lines for key were held back since the last one.
func (l *logLimiter) allow(key string) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	k, ok := l.keys[key]
	if ok && now.Sub(k.last) < l.interval {
		k.suppressed++
		return false, 0
	}
	if !ok {
		if !l.prune(now) {
			return true, 0
		}
		k = &limitedKey{}
		l.keys[key] = k
	}
	suppressed := k.suppressed
	k.last, k.suppressed = now, 0
	return true, suppressed
}

// prune drops expired keys when the map is full, and reports whether
// there is room for another key.
func (l *logLimiter) prune(now time.Time) bool {
	if len(l.keys) < maxLimitedKeys {
		return true
	}
	for key, k := range l.keys {
		if now.Sub(k.last) >= l.interval {
			delete(l.keys, key)
		}
	}
	return len(l.keys) < maxLimitedKeys
}

// peerHost returns the host of addr, so that the connections of one
// client, each from a new port, share a key.
func peerHost(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}
